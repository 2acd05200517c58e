"""TraderEngine：异步交易引擎。同时运行 config.yml 里的全部策略实例（交易对 x 策略 x 周期），经 ccxt 下单。

引擎按关注点分成几块（每块一个模块，彼此只调用公开的方法）：
- `feeds.py`（FeedRunner）：实时 K 线订阅、收盘时交给各实例、缺口补取、陈旧行情报警；
- `execution.py`（Executor）：意图 -> 数量 -> 交易所规则 -> 风控 -> 下单，手动订单与平仓单，订单推送与轮询；
- `account.py`（Bookkeeper）：持仓、权益、现金、成交记账与权益采样；
- `safety.py`：一键停止（及解除、重启后恢复）与 flatten；
- `commands.py`：界面与控制套接字的命令，只调用本类与上面几块的公开方法。
每个实例相互隔离：策略抛异常时该实例进入 error（不再问策略，止损止盈照常），其他实例照常交易。
止损止盈由引擎在实时行情上检查（对任何交易所都有效）。
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections import deque
from typing import Any

from tradeterm.broker.ccxt_broker import CcxtBroker
from tradeterm.config.schema import AppConfig
from tradeterm.data.market_data import MarketData
from tradeterm.engine.account import Bookkeeper
from tradeterm.engine.archive import EventArchive
from tradeterm.engine.bot import Bot
from tradeterm.engine.bus import EventBus
from tradeterm.engine.events import Event, EventKind
from tradeterm.engine.execution import Executor, order_dict
from tradeterm.engine.feeds import FeedRunner
from tradeterm.engine.instance import InstanceState, InstanceStatus
from tradeterm.engine.tickers import TickerWatcher
from tradeterm.errors import UserError
from tradeterm.journal.store import TradeJournal
from tradeterm.models import Fill, MarketType, Order, OrderType, Position, Side
from tradeterm.notify.dispatcher import LogNotifier, NotificationDispatcher
from tradeterm.orders.manager import OrderManager
from tradeterm.risk.manager import AccountSnapshot, RiskDecision, RiskManager
from tradeterm.risk.manager import OrderRequest as RiskRequest
from tradeterm.sizing.sizers import sizer_from_config
from tradeterm.strategy.loader import build_strategy, load_strategy_class

log = logging.getLogger(__name__)

# 保留的“收盘 -> 下单”延迟样本数
LATENCY_SAMPLES = 10_000
# 后台任务异常退出后重启前的等待，秒
TASK_RESTART_DELAY_S = 1.0

__all__ = ["TraderEngine", "order_dict", "wall_ms"]


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
        # 记账（持仓、权益、成交）
        self.bookkeeper = Bookkeeper(self)
        # 下单（意图 -> 订单 -> 交易所）
        self.execution = Executor(self)
        # 行情订阅与陈旧行情报警
        self.feeds = FeedRunner(self)
        # 报价订阅（买一/卖一与 24 小时统计，与 K 线订阅分开运行；见 tradeterm/engine/tickers.py）
        self.tickers = TickerWatcher(self)
        # 订单管理
        self.orders = OrderManager(broker, journal, self.on_fill, self.on_order)
        # 实例名 -> 机器人（按配置顺序）
        self.bots: dict[str, Bot] = {}
        # 交易对 -> 下单规则（步长、最小名义金额）
        self.rules: dict[str, Any] = {}
        # 实例名 -> 仓位函数（(权益, 价格, 费率) -> 数量）
        self.sizers: dict[str, Any] = {}
        # 交易对 -> 最近一次行情更新的墙上时间，UTC 毫秒（陈旧行情检查）
        self.last_update_ms: dict[str, int] = {}
        # “K 线收盘到订单发出”的延迟样本，毫秒
        self.latencies_ms: deque[float] = deque(maxlen=LATENCY_SAMPLES)
        # 已发布的事件数
        self.events_published = 0
        # 对账发现的无法解释的问题（英文说明）
        self.problems: list[str] = []
        # 后台任务（行情、订单推送、轮询、看门狗）
        self._tasks: list[asyncio.Task] = []
        # 尚未完成的一次性任务（出错记账），保留引用以免被垃圾回收
        self._pending: set[asyncio.Task] = set()
        # 停止信号（shutdown 命令或 stop()）
        self.stopped = asyncio.Event()
        # 通知的挂钩点：成交、拒绝、熔断、错误、陈旧行情、一键停止、对账问题交给已注册的通知器
        self.notifier = NotificationDispatcher([LogNotifier()])
        # 通知挂钩的事件订阅：构造时就订阅，启动过程中的事件（对账问题、重启后仍接合的一键停止）也会通知
        self.notify_subscription = self.bus.subscribe()
        # 通知渠道的统计（NotifyService.attach 换成渠道的 stats；没有渠道时为空列表）
        self.notify_stats = list
        # 成交、信号与订单结局的留档（控制台附着时从日志库读近期历史；见 tradeterm/engine/archive.py）
        self.archive = EventArchive(self)

    # ---- 生命周期 ----------------------------------------------------------------------------------

    async def start(self) -> None:
        """加载市场、开始一次运行、恢复状态（含一键停止）、对账、预热，然后启动行情与回报任务。"""
        from tradeterm.engine.recovery import reconcile
        from tradeterm.engine.safety import restore_kill_switch

        await self.broker.load_markets()
        self._build_bots()
        await self.journal.start_run(self.mode, self.config.account.starting_cash, self.run_settings())
        await self.orders.load()
        fills = await self.journal.fills()
        for fill in fills:  # 重启后凯利仓位仍记得实例过去的交易
            if fill.instance in self.sizers:
                self.sizers[fill.instance].on_fill(fill)
        self.broker.restore(list(self.orders.orders.values()), fills, self.config.account.starting_cash)
        await self._restore()
        await restore_kill_switch(self)
        self.problems = await reconcile(self)
        await self._warm_up()
        feeds: dict[tuple[str, str], list[Bot]] = {}
        for bot in self.bots.values():
            feeds.setdefault((bot.symbol, bot.strategy.timeframe), []).append(bot)
        for (symbol, timeframe), bots in feeds.items():
            self.feeds.register(symbol, timeframe, bots)
            self._spawn(f"feed {symbol} {timeframe}",
                        lambda s=symbol, t=timeframe, b=bots: self.feeds.run(s, t, b))
        self._spawn("stale-feed watchdog", self.feeds.watch)
        self._spawn("quotes", self.tickers.run)
        self._spawn("order stream", self.execution.order_stream)
        self._spawn("order poller", self.execution.poll_orders)
        self._spawn("notifications", self._notify)
        self._spawn("event archive", self.archive.run)
        # 启动时建立的大量长寿对象（ccxt 市场表、pandas、策略）移出垃圾回收的扫描范围：之后的完整回收
        # 不再反复扫描它们，K 线收盘时偶发的几十毫秒停顿随之消失（延迟敏感的 Python 服务的常规做法）
        gc.freeze()
        self.publish(EventKind.LOG, message=f"engine started mode={self.mode} exchange={self.exchange_label} "
                                            f"instances={len(self.bots)}")

    async def stop(self) -> None:
        """停止后台任务，等正在发出的订单落地、最后核对一次未结束的订单，再记下本次运行的结束（持仓与挂单保持不动）。

        顺序的原因：任务取消时可能正有一张市价单在路上（已发出、还没有回音）。下单本身不随任务取消（见
        Executor.submit 的 shield），这里等它落地并把成交记进日志库；推送还没送到的成交用 REST 补上。否则
        优雅退出后日志库会少一笔交易所上真实存在的成交，直到下次启动的对账才补回。交易所不回音时各等一个上限。"""
        from tradeterm.engine.safety import IN_FLIGHT_WAIT_S, wait_for_orders_in_flight

        self.stopped.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if not await wait_for_orders_in_flight(self):
            log.warning("engine stopping with %d order(s) still in flight after %.0f s; the next start reconciles "
                        "them with the exchange", len(self.execution.in_flight), IN_FLIGHT_WAIT_S)
        try:
            await asyncio.wait_for(self.execution.settle_open_orders(), IN_FLIGHT_WAIT_S)
        except asyncio.TimeoutError:
            log.warning("engine stopping before every open order was checked with the exchange; the next start "
                        "reconciles them")
        await self.archive.flush()
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
                self.sizers[spec.name] = sizer_from_config(spec.sizing or self.config.sizing, len(self.bots))

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
                self.bookkeeper.manual_positions[symbol] = position
        for name, (status, params, error) in (await self.journal.instances()).items():
            bot = self.bots.get(name)
            if bot is None:
                continue
            if params.get("config") == dict(self.config_params(name)) and params.get("current"):
                self.replace_strategy(bot, params["current"])
            bot.state.status, bot.state.error = InstanceStatus(status), error
        for bot in self.bots.values():
            await self.save_instance(bot)

    def config_params(self, name: str) -> dict[str, Any]:
        """实例在 config.yml 里写的参数。"""
        return next(s.params for s in self.config.strategies if s.name == name)

    async def _warm_up(self) -> None:
        """为每个实例取足够的历史 K 线填满窗口（并建立策略的逐根状态）。同一 (交易对, 周期) 的实例共用一次取数与
        一次记账（最长的窗口包含其余的）：实例多时受限流约束的启动快几倍。"""
        from tradeterm.config.markets import timeframe_ms

        groups: dict[tuple[str, str], list[Bot]] = {}
        for bot in self.bots.values():
            groups.setdefault((bot.symbol, bot.strategy.timeframe), []).append(bot)
        for (symbol, timeframe), bots in groups.items():
            step = timeframe_ms(timeframe)
            now = await self.market.exchange_now()
            widest = max(bots, key=lambda b: b.window)
            history = await self.market.get_ohlcv(symbol, timeframe, since=now - widest.window * step)
            for bot in bots:
                bot.load_history(history)
                self.feeds.feed_sizer(bot, bot.bars.tolist())
            await self.journal.record_bars(symbol, timeframe, widest.bars.tolist())
            self.last_update_ms[symbol] = wall_ms()

    # ---- 下单与记账（给命令与界面用的公开接口） ---------------------------------------------------------

    @property
    def manual_positions(self) -> dict[str, Position]:
        """手动订单的持仓：交易对 -> 持仓。"""
        return self.bookkeeper.manual_positions

    def all_positions(self) -> list[tuple[str, Position, float]]:
        """全部非零持仓：(实例名或空串, 持仓, 标记价)。"""
        return self.bookkeeper.all_positions()

    def equity(self) -> float:
        """账户权益，计价货币。"""
        return self.bookkeeper.equity()

    def cash(self) -> float:
        """可用现金，计价货币。"""
        return self.bookkeeper.cash()

    def account_snapshot(self) -> AccountSnapshot:
        """风控用的账户状态。"""
        return self.bookkeeper.snapshot()

    def mark_price(self, symbol: str) -> float:
        """交易对的最新价，计价货币；没有实例交易它时为 0。"""
        return self.bookkeeper.mark_price(symbol)

    async def submit_manual(self, symbol: str, side: Side, amount: float, order_type: OrderType = OrderType.MARKET,
                            price: float | None = None, instance: str | None = None) -> Order:
        """手动下单：经过与策略订单相同的规则与风控（见 Executor.submit_manual）。"""
        return await self.execution.submit_manual(symbol, side, amount, order_type, price, instance)

    def check_manual(self, symbol: str, side: Side, amount: float, order_type: OrderType = OrderType.MARKET,
                     price: float | None = None, instance: str | None = None, *,
                     record: bool = False) -> tuple[RiskRequest, RiskDecision]:
        """手动订单的风控预览（见 Executor.check_manual）。"""
        return self.execution.check_manual(symbol, side, amount, order_type, price, instance, record=record)

    def on_order(self, order: Order) -> None:
        """订单状态变化：发事件。"""
        self.publish(EventKind.ORDER, **order_dict(order))

    async def on_fill(self, order: Order, fill: Fill) -> None:
        """一笔新成交（OrderManager 去重之后）：交给记账。"""
        await self.bookkeeper.on_fill(order, fill)

    async def _notify(self) -> None:
        """把总线上的事件交给通知挂钩（它只挑要通知的种类；通知器出错不影响交易）。"""
        while True:
            self.notifier.dispatch(await self.notify_subscription.get())

    # ---- 事件 -------------------------------------------------------------------------------------

    def publish(self, kind: EventKind, **data: Any) -> Event:
        """发布一个事件（不阻塞）。"""
        event = Event(kind, wall_ms(), data)
        self.events_published += 1
        self.bus.publish(event)
        return event

    async def record(self, kind: EventKind, **data: Any) -> Event:
        """发布一个事件并写进日志库（拒绝、错误、熔断、陈旧行情、一键停止、对账问题等要留档的事件）。"""
        event = self.publish(kind, **data)
        await self.journal.record_event(event.ts, event.kind.value, event.data)
        return event

    async def fail(self, bot: Bot, exc: Exception) -> None:
        """实例出错：进入 error、记日志库、发事件；其他实例不受影响。"""
        log.error("instance failed instance=%s error=%s: %s", bot.name, type(exc).__name__, exc, exc_info=exc)
        bot.state.fail(f"{type(exc).__name__}: {exc}")
        await self.record(EventKind.ERROR, instance=bot.name, error=bot.state.error)
        await self.save_instance(bot)

    def fail_soon(self, bot: Bot, exc: Exception) -> None:
        """在同步代码里让实例出错：状态立即改变，记账与事件交给一个任务。"""
        bot.state.fail(f"{type(exc).__name__}: {exc}")
        task = asyncio.create_task(self.fail(bot, exc))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def save_instance(self, bot: Bot) -> None:
        """把实例状态与参数写进日志库、记一条状态事件并发事件。

        状态事件带 bar_ts（此刻最后一根已收盘 K 线，交易所时间）：replay-check 据此知道从哪根 K 线起实例暂停、停止或出错。
        bar_ts 在第一次 await 之前取：写日志库期间行情任务可能又收盘了一根（已按新状态处理），不能算在旧状态下。"""
        bar_ts = self.execution.last_bar_ts(bot.name)
        await self.journal.save_instance(bot.name, bot.state.status.value,
                                         {"config": dict(self.config_params(bot.name)),
                                          "current": dict(bot.strategy.params)}, bot.state.error)
        await self.record(EventKind.INSTANCE, instance=bot.name, status=bot.state.status.value,
                          error=bot.state.error, bar_ts=bar_ts)

    # ---- 命令（EngineClient 调用） ----------------------------------------------------------------

    def bot(self, name: str) -> Bot:
        """按名字取实例；不存在时抛 UserError 并列出已有实例。"""
        if name not in self.bots:
            raise UserError(f"unknown instance '{name}'; running instances: {', '.join(self.bots) or 'none'}")
        return self.bots[name]

    async def command(self, name: str, /, **args: Any) -> Any:
        """执行一个命令（见 tradeterm/engine/client.py 的说明）。"""
        from tradeterm.engine.commands import run_command

        return await run_command(self, name, args)

    def replace_strategy(self, bot: Bot, params: dict[str, Any]) -> None:
        """用新参数重建实例的策略对象（参数按类校验，非法时抛 StrategyError，旧策略不变）。"""
        old = bot.strategy
        strategy = build_strategy(type(old), params, name=old.name, symbol=old.symbol, timeframe=old.timeframe,
                                  market_type=self.market_type)
        strategy.position = bot.position.amount
        bot.strategy = strategy

    def snapshot(self) -> dict[str, Any]:
        """引擎状态快照（可 JSON 序列化；键见 tradeterm/engine/queries.py 的 snapshot_of）。"""
        from tradeterm.engine.queries import snapshot_of

        return snapshot_of(self)
