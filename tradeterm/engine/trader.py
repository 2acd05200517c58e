"""TraderEngine：异步交易引擎。同时运行 config.yml 里的全部策略实例（交易对 x 策略 x 周期），经 ccxt 下单。

数据流（一根 K 线收盘时）：行情（MarketData.subscribe）-> Bot.signals（策略）-> Bot.intents（仓位规则）->
仓位计算（sizing）-> 风控（RiskManager）-> OrderManager.submit（先写日志库再下单）-> 成交回报 -> 持仓与记账。
每个实例相互隔离：策略抛异常时该实例进入 error（不再下新单），其他实例照常交易。
止损止盈由引擎在实时行情上检查（对任何交易所都有效）。
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections import deque
from typing import Any

import ccxt

from tradeterm.execution.fills import MarketRules, affordable_amount, order_reject_reason, round_amount
from tradeterm.execution.fills import REJECT_REASONS
from tradeterm.sizing.sizers import sizer_from_config
from tradeterm.broker.ccxt_broker import CcxtBroker
from tradeterm.config.schema import AppConfig
from tradeterm.data.market_data import CandleUpdate, MarketData
from tradeterm.engine.bot import Bot, Intent
from tradeterm.engine.bus import EventBus
from tradeterm.engine.events import Event, EventKind
from tradeterm.engine.instance import InstanceState, InstanceStatus
from tradeterm.errors import UserError
from tradeterm.journal.store import TradeJournal
from tradeterm.notify.dispatcher import LogNotifier, NotificationDispatcher
from tradeterm.models import Fill, MarketType, Order, OrderStatus, OrderType, Position, Side
from tradeterm.orders.manager import OrderManager
from tradeterm.risk.manager import AccountSnapshot, RiskManager
from tradeterm.risk.manager import OrderRequest as RiskRequest
from tradeterm.strategy.loader import build_strategy, load_strategy_class

log = logging.getLogger(__name__)

# 挂单的 REST 轮询间隔，秒（推送丢失时的兜底）
POLL_INTERVAL_S = 5.0
# 保留的“收盘 -> 下单”延迟样本数
LATENCY_SAMPLES = 10_000
# 后台任务异常退出后重启前的等待，秒
TASK_RESTART_DELAY_S = 1.0


def wall_ms() -> int:
    """当前墙上时间，UTC 毫秒。"""
    return int(time.time() * 1000)


class TraderEngine:
    """模拟盘 / 实盘引擎：一个账户、许多机器人、一个日志库。"""

    def __init__(self, config: AppConfig, broker: CcxtBroker, market: MarketData, journal: TradeJournal, *,
                 mode: str = "paper", exchange_label: str = "sandbox"):
        """config 为已校验的配置；broker/market 共用一个 ccxt.pro 客户端；mode 为 paper 或 live。"""
        # 配置
        self.config = config
        # 经纪商（ccxt）
        self.broker = broker
        # 行情（历史 + 实时订阅）
        self.market = market
        # 日志库
        self.journal = journal
        # 运行模式：paper 或 live
        self.mode = mode
        # 界面显示的交易所说明，如 "sandbox (in-process)" 或 "binance"
        self.exchange_label = exchange_label
        # 事件总线（界面、通知、控制套接字订阅它）
        self.bus = EventBus()
        # 市场类型：现货只做多
        self.market_type = config.exchange.market_type
        # 风控（限制、熔断、一键停止）
        self.risk = RiskManager(config.risk, self.market_type)
        # 订单管理
        self.orders = OrderManager(broker, journal, self._on_fill, self._on_order)
        # 实例名 -> 机器人（按配置顺序）
        self.bots: dict[str, Bot] = {}
        # 手动订单（不属于任何实例）的持仓：交易对 -> 持仓
        self.manual_positions: dict[str, Position] = {}
        # 交易对 -> 下单规则（步长、最小名义金额）
        self.rules: dict[str, MarketRules] = {}
        # 实例名 -> 仓位函数（(权益, 价格, 费率) -> 数量）
        self._sizers: dict[str, Any] = {}
        # 开仓订单的客户端订单号 -> (止损价, 止盈价)，成交时挂到持仓上
        self._exits: dict[str, tuple[float | None, float | None]] = {}
        # 交易对 -> 最近一次行情更新的墙上时间，UTC 毫秒（陈旧行情检查）
        self.last_update_ms: dict[str, int] = {}
        # “K 线收盘到订单发出”的延迟样本，毫秒
        self.latencies_ms: deque[float] = deque(maxlen=LATENCY_SAMPLES)
        # 已发布的事件数
        self.events_published = 0
        # 对账发现的无法解释的问题（英文说明）
        self.problems: list[str] = []
        # 后台任务（行情、订单推送、轮询）
        self._tasks: list[asyncio.Task] = []
        # 尚未完成的一次性任务（出错记账），保留引用以免被垃圾回收
        self._pending: set[asyncio.Task] = set()
        # 最近一次记录账户权益的 K 线时间，UTC 毫秒（同一时刻只记一次）
        self._last_equity_ts = 0
        # 停止信号（shutdown 命令或 stop()）
        self.stopped = asyncio.Event()
        # 通知的挂钩点：成交、拒绝、熔断、错误交给已注册的通知器（notifier.add(...) 接入新的通知渠道）
        self.notifier = NotificationDispatcher([LogNotifier()])

    # ---- 生命周期 ----------------------------------------------------------------------------------

    async def start(self) -> None:
        """加载市场、开始一次运行、恢复状态、对账、预热，然后启动行情与回报任务。"""
        from tradeterm.engine.recovery import reconcile

        await self.broker.load_markets()
        self._build_bots()
        await self.journal.start_run(self.mode, self.config.account.starting_cash, self.run_settings())
        await self.orders.load()
        for fill in await self.journal.fills():  # 重启后凯利仓位仍记得实例过去的交易
            if fill.instance in self._sizers:
                self._sizers[fill.instance].on_fill(fill)
        self.broker.restore(list(self.orders.orders.values()), await self.journal.fills(),
                            self.config.account.starting_cash)
        await self._restore()
        self.problems = await reconcile(self)
        await self._warm_up()
        feeds: dict[tuple[str, str], list[Bot]] = {}
        for bot in self.bots.values():
            feeds.setdefault((bot.symbol, bot.strategy.timeframe), []).append(bot)
        for (symbol, timeframe), bots in feeds.items():
            self._spawn(f"feed {symbol} {timeframe}", lambda s=symbol, t=timeframe, b=bots: self._feed(s, t, b))
        self._spawn("order stream", self._order_stream)
        self._spawn("order poller", self._poll_orders)
        self._spawn("notifications", self._notify)
        # 启动时建立的大量长寿对象（ccxt 市场表、pandas、策略）移出垃圾回收的扫描范围：之后的完整回收
        # 不再反复扫描它们，K 线收盘时偶发的几十毫秒停顿随之消失（延迟敏感的 Python 服务的常规做法）
        gc.freeze()
        self.publish(EventKind.LOG, message=f"engine started mode={self.mode} exchange={self.exchange_label} "
                                            f"instances={len(self.bots)}")

    async def stop(self) -> None:
        """停止后台任务并记下本次运行的结束（持仓与挂单保持不动）。"""
        self.stopped.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.journal.finish_run(self.equity())

    def _spawn(self, what: str, factory) -> None:
        """启动一个后台任务；它异常退出时记录错误并在稍后重启（一个任务的故障不会停掉整个引擎）。"""
        async def supervised() -> None:
            """运行任务，异常后重启。"""
            while not self.stopped.is_set():
                try:
                    await factory()
                    return
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # 任务故障：报告后重启
                    log.exception("task failed task=%s", what)
                    self.publish(EventKind.ERROR, instance="", error=f"{what}: {type(exc).__name__}: {exc}")
                    await asyncio.sleep(TASK_RESTART_DELAY_S)
        self._tasks.append(asyncio.create_task(supervised(), name=what))

    def _build_bots(self) -> None:
        """按配置创建每个启用的实例，并取每个交易对的下单规则。"""
        for spec in self.config.strategies:
            if not spec.enabled:
                continue
            cls = load_strategy_class(spec.class_name, self.config.plugin_dirs())
            strategy = build_strategy(cls, spec.params, name=spec.name, symbol=self.market_symbol(spec.symbol),
                                      timeframe=spec.interval, market_type=self.market_type)
            self.bots[spec.name] = Bot(strategy, InstanceState(spec.name), self.market_type)
            self.rules.setdefault(strategy.symbol, self.broker.rules(strategy.symbol))
        for spec in self.config.strategies:
            if spec.name in self.bots:
                self._sizers[spec.name] = sizer_from_config(spec.sizing or self.config.sizing, len(self.bots))

    def run_settings(self) -> dict[str, Any]:
        """写进 runs.settings 的设置：交易所、费率、仓位、风控与每个实例的策略与参数（replay-check 据此重放）。"""
        return {"exchange": self.exchange_label, "market_type": self.market_type.value,
                "fees": self.config.fees.model_dump(), "sizing": self.config.sizing.model_dump(),
                "risk": self.config.risk.model_dump(),
                "instances": [{"name": b.name, "symbol": b.symbol, "interval": b.strategy.timeframe,
                               "class": type(b.strategy).__name__, "params": dict(b.strategy.params),
                               "sizing": (spec.sizing.model_dump() if spec.sizing else None)}
                              for b, spec in ((self.bots[s.name], s) for s in self.config.strategies
                                              if s.name in self.bots)]}

    def market_symbol(self, symbol: str) -> str:
        """配置里的交易对 -> 交易所的交易对（合约为 BTC/USDT:USDT）。"""
        if self.market_type is MarketType.FUTURES and ":" not in symbol:
            return f"{symbol}:{symbol.split('/')[1]}"
        return symbol

    async def _restore(self) -> None:
        """从日志库恢复持仓（含止损止盈）与实例状态、参数。"""
        for (instance, symbol), (position, stop, target) in (await self.journal.positions()).items():
            bot = self.bots.get(instance)
            if bot is not None and bot.symbol == symbol:
                bot.position, bot.stop_loss, bot.take_profit = position, stop, target
                bot.strategy.position = position.amount
            elif not instance:
                self.manual_positions[symbol] = position
        for name, (status, params, error) in (await self.journal.instances()).items():
            bot = self.bots.get(name)
            if bot is None:
                continue
            if params.get("config") == dict(self.config_params(name)) and params.get("current"):
                self._replace_strategy(bot, params["current"])
            bot.state.status, bot.state.error = InstanceStatus(status), error
        for bot in self.bots.values():
            await self._save_instance(bot)

    def config_params(self, name: str) -> dict[str, Any]:
        """实例在 config.yml 里写的参数。"""
        return next(s.params for s in self.config.strategies if s.name == name)

    async def _warm_up(self) -> None:
        """为每个实例取足够的历史 K 线填满窗口。"""
        from tradeterm.config.markets import timeframe_ms

        for bot in self.bots.values():
            step = timeframe_ms(bot.strategy.timeframe)
            now = await self.market._exchange_now()
            history = await self.market.get_ohlcv(bot.symbol, bot.strategy.timeframe, since=now - bot.window * step)
            bot.load_history(history)
            self._feed_sizer(bot, bot.bars.tolist())
            await self.journal.record_bars(bot.symbol, bot.strategy.timeframe, bot.bars.tolist())
            self.last_update_ms[bot.symbol] = wall_ms()

    # ---- 行情 -------------------------------------------------------------------------------------

    async def _feed(self, symbol: str, timeframe: str, bots: list[Bot]) -> None:
        """一个 (交易对, 周期) 的实时 K 线：更新标记价、检查止损止盈；收盘时交给各实例。"""
        # 本订阅是否已收到过一根收盘的 K 线（第一根要在日志库里记下：replay-check 从它开始比较这个交易对）
        live = False
        async for update in self.market.subscribe(symbol, timeframe):
            received = time.perf_counter()
            self.last_update_ms[symbol] = wall_ms()
            self.broker.observe(symbol, update.close)
            for bot in bots:
                bot.mark = update.close
                await self._check_exits(bot)
            if update.closed:
                await self._fill_gap(symbol, timeframe, bots, update.ts)
                row = [update.ts, update.open, update.high, update.low, update.close, update.volume]
                # 熔断先按这根收盘的权益更新，再决定下单（与回测相同：触发那根之后不再开新仓）
                tripped = self.risk.update_equity(update.ts, self.equity())
                # 每个实例算完信号就同步备好订单（只有一个意图时，最常见），各实例的下单往返再并发进行：
                # 一个实例的计算与网络往返都不拖慢下一个实例；有多个意图（合约反手：先平后开）的实例按顺序执行
                sends = []
                for bot in bots:
                    intents = self._decide(bot, update)
                    if len(intents) == 1:
                        order = self._prepare(bot, intents[0], received)
                        sends.append(self._reject(bot.name, *order) if isinstance(order, tuple)
                                     else self._submit(bot, order))
                    elif intents:
                        sends.append(self._execute_all(bot, intents, received))
                try:
                    await asyncio.gather(*sends)
                finally:
                    # 下单之后再记 K 线，不占“收盘 -> 下单”的延迟；下单出了意外（任务会被重启）这根 K 线也照样记下
                    await self.journal.record_bars(symbol, timeframe, [row], live=True)
                if not live:
                    live = True
                    await self._log_feed(f"feed {symbol} {timeframe} live", symbol=symbol, timeframe=timeframe,
                                         first_live_bar_ts=update.ts)
                self.publish(EventKind.BAR, symbol=symbol, timeframe=timeframe, ts=update.ts, open=update.open,
                             high=update.high, low=update.low, close=update.close, volume=update.volume)
                await self._sample_equity(update.ts, tripped=tripped)
            else:
                self.publish(EventKind.QUOTE, symbol=symbol, last=update.close, ts_bar=update.ts)

    def _feed_sizer(self, bot: Bot, rows: list[list[float]]) -> None:
        """把已收盘的 K 线交给需要行情的仓位函数（波动率目标的 ATR），与回测逐根喂给它的方式相同。"""
        sizer = self._sizers[bot.name]
        if sizer.needs_bars:
            for row in rows:
                sizer.on_bar(row[2], row[3], row[4])

    async def _fill_gap(self, symbol: str, timeframe: str, bots: list[Bot], ts: int) -> None:
        """窗口的最后一根与这根收盘的 K 线之间缺了 K 线（预热之后、订阅之前收盘的）：用 REST 补进窗口（不据此交易）。"""
        from tradeterm.config.markets import timeframe_ms

        step = timeframe_ms(timeframe)
        last = min((int(b.bars[-1, 0]) for b in bots if len(b.bars)), default=None)
        if last is None or ts <= last + step:
            return
        # 会收 K 线却漏了 K 线的实例（停止的实例本来就不收 K 线，它们落下的不算缺口）
        behind = [b.name for b in bots if b.state.receives_bars and len(b.bars) and b.bars[-1, 0] < ts - step]
        missing = await self.market.get_ohlcv(symbol, timeframe, since=last + step, until=ts)
        rows = missing[["timestamp", "open", "high", "low", "close", "volume"]].to_numpy(dtype=float).tolist()
        for row in rows:
            for bot in bots:
                if bot.add_bar(row):
                    self._feed_sizer(bot, [row])
        await self.journal.record_bars(symbol, timeframe, rows)
        gap = [int(r[0]) for r in rows if int(r[0]) < ts]
        if behind and gap:
            # 记下没有据以交易的 K 线：replay-check 据此解释回测在这些 K 线上的信号为什么实盘没有
            await self._log_feed(f"feed {symbol} {timeframe} gap: {len(gap)} bar(s) filled from REST, not traded",
                                 symbol=symbol, timeframe=timeframe, gap_first_ts=gap[0], gap_last_ts=gap[-1],
                                 instances=behind)

    async def _log_feed(self, message: str, **data: Any) -> None:
        """行情订阅的一条日志事件（开始实时、缺口），同时写进日志库。"""
        event = self.publish(EventKind.LOG, message=message, **data)
        await self.journal.record_event(event.ts, event.kind.value, event.data)

    def _decide(self, bot: Bot, update: CandleUpdate) -> list[Intent]:
        """一根 K 线收盘：追加到窗口，问策略要信号，返回要执行的下单意图（暂停、出错、停止的实例返回空）。"""
        row = [update.ts, update.open, update.high, update.low, update.close, update.volume]
        if not bot.state.receives_bars or not bot.add_bar(row):
            return []
        self._feed_sizer(bot, [row])
        try:
            signals = bot.signals()
        except Exception as exc:  # 策略代码的异常只影响这个实例
            self._fail_soon(bot, exc)
            return []
        if signals:
            bot.last_signal = ", ".join(s.intent.value for s in signals)
        intents = bot.intents(signals, bool(self.orders.open_orders(bot.name)))
        # 向量化策略的进出标志常常连续多根为真：只有会变成订单的信号才发事件，日志里才看得清
        for intent in intents:
            self.publish(EventKind.SIGNAL, instance=bot.name, side=intent.side.value, opening=intent.opening,
                         reason=intent.reason, acted=bot.state.trading)
        return intents if bot.state.trading else []

    def _fail_soon(self, bot: Bot, exc: Exception) -> None:
        """在同步代码里让实例出错：状态立即改变，记账与事件交给一个任务。"""
        bot.state.fail(f"{type(exc).__name__}: {exc}")
        task = asyncio.create_task(self._fail(bot, exc))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _check_exits(self, bot: Bot) -> None:
        """最新价触发止损/止盈时市价平仓（每个持仓只触发一次）。"""
        hit = bot.exit_hit(bot.mark)
        if hit is None or bot.state.status is InstanceStatus.STOPPED:
            return
        bot.stop_loss = bot.take_profit = None
        await self.journal.save_position(bot.name, bot.position, None, None)
        side = Side.SELL if bot.position.amount > 0 else Side.BUY
        await self._execute(bot, Intent(side, False, hit), None)

    # ---- 下单 -------------------------------------------------------------------------------------

    async def _execute_all(self, bot: Bot, intents: list[Intent], received: float) -> None:
        """按顺序执行一个实例的意图（先平后开）。"""
        for intent in intents:
            await self._execute(bot, intent, received)

    async def _execute(self, bot: Bot, intent: Intent, received: float | None) -> Order | None:
        """意图 -> 订单（_prepare）-> 下单；被规则或风控拒绝时记一条拒绝事件并返回 None。"""
        prepared = self._prepare(bot, intent, received)
        if isinstance(prepared, tuple):
            await self._reject(bot.name, *prepared)
            return None
        return await self._submit(bot, prepared)

    def _prepare(self, bot: Bot, intent: Intent, received: float | None) -> Order | tuple[str, str]:
        """同步地把意图变成订单：数量（仓位计算）-> 交易所规则 -> 风控。返回订单，或 (规则, 原因) 表示拒绝。

        这一步不让出事件循环，所以“收盘 -> 订单就绪”的延迟只含本交易对上各实例的计算，不含其他交易对的。"""
        rules, price = self.rules[bot.symbol], bot.mark
        fee = self.config.fees.taker
        if intent.opening:
            amount = self._sizers[bot.name](self.equity(), price, fee)
            if self.market_type is MarketType.SPOT and intent.side is Side.BUY:
                amount = min(amount, affordable_amount(self.cash(), price, fee, rules.amount_step))
        else:
            amount = abs(bot.position.amount)
        amount = round_amount(amount, rules.amount_step)
        if intent.opening and amount == 0 and self._sizers[bot.name].zero_reason():
            return "sizing", self._sizers[bot.name].zero_reason()  # 例如 ATR 还没有算出来、凯利没有优势
        code = order_reject_reason(amount, price, rules.min_amount, rules.min_notional)
        if code:
            return "exchange_rules", f"{REJECT_REASONS[code]}: amount={amount} price={price}"
        decision = self.risk.check(RiskRequest(bot.symbol, intent.side, amount, price, wall_ms(),
                                               reduces=not intent.opening, fee_rate=fee, instance=bot.name),
                                   self.account_snapshot())
        if not decision.allowed:
            return decision.rule, decision.reason
        order = Order(bot.symbol, intent.side, OrderType.MARKET, amount, instance=bot.name,
                      reduce_only=not intent.opening and self.market_type is MarketType.FUTURES, reason=intent.reason,
                      created_ts=wall_ms(), bar_ts=self._last_bar_ts(bot.name))
        if intent.opening:
            self._exits[order.client_order_id] = (intent.stop_loss, intent.take_profit)
        if received is not None:
            self.latencies_ms.append((time.perf_counter() - received) * 1000)
        return order

    async def _submit(self, bot: Bot, order: Order) -> Order:
        """下单（先写日志库）；交易所拒绝时记拒绝事件。重试用尽仍不知道结果时订单保持 new，交给轮询去查清。"""
        try:
            await self.orders.submit(order)
        except ccxt.NetworkError as exc:
            event = self.publish(EventKind.ERROR, instance=bot.name,
                                 error=f"order {order.client_order_id} outcome unknown after retries "
                                       f"({type(exc).__name__}); the poller will look it up")
            await self.journal.record_event(event.ts, event.kind.value, event.data)
            return order
        if order.status is OrderStatus.REJECTED:
            await self._reject(bot.name, "exchange", order.reason)
        return order

    async def _reject(self, instance: str, rule: str, reason: str) -> None:
        """记一条拒绝：事件总线 + 日志库。bar_ts 是该实例此刻最后一根已收盘 K 线（交易所时间），
        replay-check 用它把拒绝放到 K 线上（事件的 ts 是墙上时间，沙盒快速回放时与交易所时间相差很大）。"""
        event = self.publish(EventKind.REJECTION, instance=instance, rule=rule, reason=reason,
                             bar_ts=self._last_bar_ts(instance))
        await self.journal.record_event(event.ts, event.kind.value, event.data)

    def _last_bar_ts(self, instance: str) -> int | None:
        """实例窗口里最后一根已收盘 K 线的开盘时间，UTC 毫秒（交易所时间）；没有该实例或还没有 K 线时为 None。"""
        bot = self.bots.get(instance)
        return int(bot.bars[-1, 0]) if bot is not None and len(bot.bars) else None

    async def submit_manual(self, symbol: str, side: Side, amount: float, order_type: OrderType = OrderType.MARKET,
                            price: float | None = None, instance: str | None = None) -> Order:
        """手动下单（界面的下单框）：经过同样的规则与风控。"""
        request, decision = self.check_manual(symbol, side, amount, order_type, price, instance, record=True)
        if not decision.allowed:
            await self._reject(instance or "", decision.rule, decision.reason)
            raise UserError(f"order refused by risk rule {decision.rule}: {decision.reason}")
        order = Order(symbol, side, order_type, request.amount, price=price, instance=instance, reason="manual",
                      created_ts=wall_ms())
        return await self.orders.submit(order)

    def check_manual(self, symbol: str, side: Side, amount: float, order_type: OrderType = OrderType.MARKET,
                     price: float | None = None, instance: str | None = None, *,
                     record: bool = False) -> tuple[RiskRequest, RiskDecision]:
        """手动订单的风控检查：(按步长取整后的请求, 结论)；record=False 时只预览，不计入下单频率。"""
        rules = self.rules.get(symbol) or self.broker.rules(symbol)
        amount = round_amount(amount, rules.amount_step)
        mark = self.mark_price(symbol) or price or 0.0
        request = RiskRequest(symbol, side, amount, price or mark, wall_ms(), order_type, price,
                              fee_rate=self.config.fees.taker, instance=instance)
        return request, self.risk.check(request, self.account_snapshot(), record=record)

    def mark_price(self, symbol: str) -> float:
        """交易对的最新价（任一交易它的实例的标记价），计价货币；没有实例交易它时为 0。"""
        return next((b.mark for b in self.bots.values() if b.symbol == symbol and b.mark), 0.0)

    # ---- 回报 -------------------------------------------------------------------------------------

    def _position_of(self, order: Order) -> tuple[str, Position, Bot | None]:
        """订单所属的 (记账键, 持仓, 机器人)；手动订单记在空串下。"""
        bot = self.bots.get(order.instance or "")
        if bot is not None and bot.symbol == order.symbol:
            return bot.name, bot.position, bot
        position = self.manual_positions.setdefault(order.symbol, Position(order.symbol))
        return "", position, None

    async def _on_fill(self, order: Order, fill: Fill) -> None:
        """一笔新成交：更新持仓（与成交、订单同一事务记账），挂上止损止盈，通知策略，记权益。"""
        key, position, bot = self._position_of(order)
        position.apply(fill)
        step = self.rules.get(order.symbol, MarketRules()).amount_step
        if abs(position.amount) < max(step, 1e-12) / 2:
            position.amount, position.entry_price = 0.0, 0.0  # 浮点残差归零
        await self.journal.record_fill(fill, order, position, key)
        if bot is not None:
            await self._after_bot_fill(bot, order, fill)
        self.publish(EventKind.FILL, instance=order.instance or "", symbol=fill.symbol, side=fill.side.value,
                     price=fill.price, amount=fill.amount, fee=fill.fee, client_order_id=fill.client_order_id,
                     trade_id=fill.trade_id)
        await self._sample_equity(fill.ts, force=True)

    async def _after_bot_fill(self, bot: Bot, order: Order, fill: Fill) -> None:
        """机器人的成交：开仓成交挂上止损止盈，平仓后清掉；通知策略的 on_order_fill。"""
        exits = self._exits.get(order.client_order_id)
        if bot.position.amount == 0:
            bot.stop_loss = bot.take_profit = None
        elif exits is not None:
            bot.stop_loss, bot.take_profit = exits
        await self.journal.save_position(bot.name, bot.position, bot.stop_loss, bot.take_profit)
        self._sizers[bot.name].on_fill(fill)  # 凯利从实例自己的已平仓交易学习
        try:
            bot.strategy.on_order_fill(fill)
        except Exception as exc:  # 策略代码的异常只影响这个实例
            await self._fail(bot, exc)

    def _on_order(self, order: Order) -> None:
        """订单状态变化：发事件。"""
        self.publish(EventKind.ORDER, **order_dict(order))

    async def _order_stream(self) -> None:
        """用户数据流的订单更新 -> OrderManager；断线重连后对账（补上断线期间的成交）。"""
        from tradeterm.engine.recovery import reconcile

        async def on_reconnect() -> None:
            """推送断线重连后：对账。"""
            self.problems += await reconcile(self)

        async for raw in self.broker.order_updates(on_reconnect):
            await self.orders.on_stream_order(raw)

    async def _notify(self) -> None:
        """把总线上的事件交给通知挂钩（它只挑成交、拒绝、熔断、错误；通知器出错不影响交易）。"""
        subscription = self.bus.subscribe()
        try:
            while True:
                self.notifier.dispatch(await subscription.get())
        finally:
            subscription.close()

    async def _poll_orders(self) -> None:
        """REST 兜底：定期查询每张未结束的订单（推送丢失时订单也能结束、成交也能记上）。"""
        while True:
            await asyncio.sleep(POLL_INTERVAL_S)
            for order in self.orders.open_orders():
                try:
                    found = await self.broker.find_order(order)
                except ccxt.NetworkError:
                    continue  # 下一轮再查
                if found is not None:
                    await self.orders.apply(order, *found)
                elif order.status is OrderStatus.NEW and \
                        wall_ms() - order.created_ts > (self.broker.recv_window_s() + POLL_INTERVAL_S) * 1000:
                    # 发出的请求早已过了 recvWindow 而交易所仍不知道这张单：它不会再被执行了
                    order.status = OrderStatus.REJECTED
                    order.reason = f"{order.reason}; never reached the exchange"
                    await self.journal.record_order(order)
                    self._on_order(order)
                    await self._reject(order.instance or "", "exchange",
                                       f"order {order.client_order_id} never reached the exchange")

    # ---- 账户 -------------------------------------------------------------------------------------

    def all_positions(self) -> list[tuple[str, Position, float]]:
        """全部非零持仓：(实例名或空串, 持仓, 标记价)。"""
        marks = {b.symbol: b.mark for b in self.bots.values()}
        rows = [(b.name, b.position, b.mark) for b in self.bots.values() if b.position.amount]
        rows += [("", p, marks.get(s, p.entry_price)) for s, p in self.manual_positions.items() if p.amount]
        return rows

    def equity(self) -> float:
        """账户权益，计价货币：初始资金 + 全部持仓的（已实现 - 手续费 + 浮动）盈亏。"""
        positions = [b.position for b in self.bots.values()] + list(self.manual_positions.values())
        marks = {b.symbol: b.mark for b in self.bots.values()}
        pnl = sum(p.realized_pnl - p.fees + (p.unrealized_pnl(marks.get(p.symbol, p.entry_price)) if p.amount else 0.0)
                  for p in positions)
        return self.config.account.starting_cash + pnl

    def cash(self) -> float:
        """可用现金，计价货币：现货为权益减去多仓市值；合约为权益（不计保证金占用）。"""
        if self.market_type is MarketType.FUTURES:
            return self.equity()
        return self.equity() - sum(p.amount * mark for _, p, mark in self.all_positions() if p.amount > 0)

    def account_snapshot(self) -> AccountSnapshot:
        """风控用的账户状态。"""
        positions: dict[str, float] = {}
        for _, position, mark in self.all_positions():
            positions[position.symbol] = positions.get(position.symbol, 0.0) + position.amount * mark
        return AccountSnapshot(self.equity(), self.cash(), positions, dict(self.last_update_ms))

    async def _sample_equity(self, ts: int, force: bool = False, tripped: list[str] | None = None) -> None:
        """记一个账户权益采样（每根 K 线收盘一次、每笔成交一次），并更新熔断。

        tripped 给出时熔断已在下单之前同步更新过（K 线收盘时：先更新熔断、再决定下单，与回测相同），这里只记账与发事件。"""
        if not force and ts <= self._last_equity_ts:
            return
        self._last_equity_ts = max(self._last_equity_ts, ts)
        equity = self.equity()
        await self.journal.record_equity("", ts, equity)
        for message in (self.risk.update_equity(ts, equity) if tripped is None else tripped):
            # 熔断说明以规则名开头（max_drawdown / daily_loss），与回测日志库里的 rule 一致
            event = self.publish(EventKind.BREAKER, rule=message.split()[0], message=message)
            await self.journal.record_event(event.ts, event.kind.value, event.data)
        self.publish(EventKind.EQUITY, equity=equity, cash=self.cash(),
                     drawdown=self.risk.breakers.drawdown(equity))

    # ---- 事件 -------------------------------------------------------------------------------------

    def publish(self, kind: EventKind, **data: Any) -> Event:
        """发布一个事件（不阻塞）。"""
        event = Event(kind, wall_ms(), data)
        self.events_published += 1
        self.bus.publish(event)
        return event

    async def _fail(self, bot: Bot, exc: Exception) -> None:
        """实例出错：进入 error、记日志库、发事件；其他实例不受影响。"""
        log.error("instance failed instance=%s error=%s: %s", bot.name, type(exc).__name__, exc, exc_info=exc)
        bot.state.fail(f"{type(exc).__name__}: {exc}")
        event = self.publish(EventKind.ERROR, instance=bot.name, error=bot.state.error)
        await self.journal.record_event(event.ts, event.kind.value, event.data)
        await self._save_instance(bot)

    async def _save_instance(self, bot: Bot) -> None:
        """把实例状态与参数写进日志库、记一条状态事件并发事件。

        状态事件带 bar_ts（此刻最后一根已收盘 K 线，交易所时间）：replay-check 据此知道从哪根 K 线起实例暂停、停止或出错。"""
        await self.journal.save_instance(bot.name, bot.state.status.value,
                                         {"config": dict(self.config_params(bot.name)),
                                          "current": dict(bot.strategy.params)}, bot.state.error)
        event = self.publish(EventKind.INSTANCE, instance=bot.name, status=bot.state.status.value,
                             error=bot.state.error, bar_ts=self._last_bar_ts(bot.name))
        await self.journal.record_event(event.ts, event.kind.value, event.data)

    # ---- 命令（EngineClient 调用） ----------------------------------------------------------------

    def bot(self, name: str) -> Bot:
        """按名字取实例；不存在时抛 UserError 并列出已有实例。"""
        if name not in self.bots:
            raise UserError(f"unknown instance '{name}'; running instances: {', '.join(self.bots) or 'none'}")
        return self.bots[name]

    async def command(self, name: str, **args: Any) -> Any:
        """执行一个命令（见 tradeterm/engine/client.py 的说明）。"""
        from tradeterm.engine.commands import run_command

        return await run_command(self, name, args)

    def _replace_strategy(self, bot: Bot, params: dict[str, Any]) -> None:
        """用新参数重建实例的策略对象（参数按类校验，非法时抛 StrategyError，旧策略不变）。"""
        old = bot.strategy
        strategy = build_strategy(type(old), params, name=old.name, symbol=old.symbol, timeframe=old.timeframe,
                                  market_type=self.market_type)
        strategy.position = bot.position.amount
        bot.strategy = strategy

    def snapshot(self) -> dict[str, Any]:
        """引擎状态快照（可 JSON 序列化）。"""
        equity = self.equity()
        latencies = sorted(self.latencies_ms)
        return {
            "mode": self.mode, "exchange": self.exchange_label, "run_id": self.journal.run_id,
            "instances": [b.summary() for b in self.bots.values()],
            "positions": [{"instance": name, "symbol": p.symbol, "amount": p.amount, "entry_price": p.entry_price,
                           "mark": mark, "unrealized_pnl": p.unrealized_pnl(mark)} for name, p, mark in
                          self.all_positions()],
            "orders": [order_dict(o) for o in self.orders.open_orders()],
            "account": {"equity": equity, "cash": self.cash(), "drawdown": self.risk.breakers.drawdown(equity),
                        "breaker": self.risk.breakers.blocking or "", "killed": self.risk.killed,
                        "quote": self.config.account.quote_currency},
            "problems": list(self.problems),
            "latency_ms": {"count": len(latencies),
                           "p50": latencies[len(latencies) // 2] if latencies else None,
                           "p99": latencies[int(len(latencies) * 0.99)] if latencies else None},
        }


def order_dict(order: Order) -> dict[str, Any]:
    """订单 -> 可 JSON 序列化的字典（事件与快照用）。"""
    return {"client_order_id": order.client_order_id, "instance": order.instance or "", "symbol": order.symbol,
            "side": order.side.value, "type": order.type.value, "amount": order.amount, "price": order.price,
            "status": order.status.value, "filled": order.filled, "average_price": order.average_price,
            "reason": order.reason}
