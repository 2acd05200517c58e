"""引擎的下单：下单意图 -> 数量（仓位计算）-> 交易所规则 -> 风控 -> OrderManager.submit（先写日志库再下单）；
拒绝记事件；手动订单与平仓单（flatten、一键停止）；订单推送与 REST 轮询两条回报路径。
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

import ccxt

from tradeterm.engine.bot import Bot, Intent
from tradeterm.engine.events import EventKind
from tradeterm.engine.order_rules import EXCHANGE_RULES, exchange_rule_problems
from tradeterm.errors import UserError
from tradeterm.execution.fills import REJECT_REASONS, affordable_amount, order_reject_reason, round_amount
from tradeterm.models import MarketType, Order, OrderStatus, OrderType, Side
from tradeterm.risk.manager import AccountSnapshot, RiskDecision
from tradeterm.risk.manager import OrderRequest as RiskRequest

if TYPE_CHECKING:  # 只为类型标注
    from tradeterm.engine.trader import TraderEngine

log = logging.getLogger(__name__)

# 挂单的 REST 轮询间隔，秒（推送丢失时的兜底）
POLL_INTERVAL_S = 5.0


def wall_ms() -> int:
    """当前墙上时间，UTC 毫秒。"""
    return int(time.time() * 1000)


class Executor:
    """把意图变成订单并发出；记下每张开仓单附带的止损止盈与正在发出的订单数。"""

    def __init__(self, engine: "TraderEngine"):
        """engine 为所属引擎（读它的配置、规则、仓位函数、风控、订单管理与日志库）。"""
        # 所属引擎
        self.engine = engine
        # 开仓订单的客户端订单号 -> (止损价, 止盈价)，成交时挂到持仓上
        self.exits: dict[str, tuple[float | None, float | None]] = {}
        # 正在发出的订单（已备好、还没有交易所回音）的客户端订单号：一键停止等它们落地后再撤单、平仓
        self.in_flight: set[str] = set()
        # in_flight 为空时置位的事件
        self.idle = asyncio.Event()
        self.idle.set()

    # ---- 机器人的订单 --------------------------------------------------------------------------------

    async def execute_all(self, bot: Bot, intents: list[Intent], received: float) -> None:
        """按顺序执行一个实例的意图（先平后开）。"""
        for intent in intents:
            await self.execute(bot, intent, received)

    async def execute(self, bot: Bot, intent: Intent, received: float | None) -> Order | None:
        """意图 -> 订单（prepare）-> 下单；被规则或风控拒绝时记一条拒绝事件并返回 None。"""
        prepared = self.prepare(bot, intent, received)
        if isinstance(prepared, tuple):
            await self.reject(bot.name, *prepared)
            return None
        return await self.submit(bot, prepared)

    def prepare(self, bot: Bot, intent: Intent, received: float | None,
                account: AccountSnapshot | None = None) -> Order | tuple[str, str]:
        """同步地把意图变成订单：数量（仓位计算）-> 交易所规则 -> 风控。返回订单，或 (规则, 原因) 表示拒绝。

        这一步不让出事件循环，所以“收盘 -> 订单就绪”的延迟只含本交易对上各实例的计算，不含其他交易对的。
        account 为调用方在同一段同步代码里已经算好的账户状态（一根 K 线收盘时同一交易对的各实例共用一份）。"""
        engine = self.engine
        rules, price = engine.rules[bot.symbol], bot.mark
        fee = engine.config.fees.taker
        sizer = engine.sizers[bot.name]
        # 账户状态只算一次（权益、现金、持仓各要遍历全部实例）：这一步是同步的，中途不会变
        account = account or engine.account_snapshot()
        if intent.opening:
            amount = sizer(account.equity, price, fee)
            if engine.market_type is MarketType.SPOT and intent.side is Side.BUY:
                amount = min(amount, affordable_amount(account.cash, price, fee, rules.amount_step))
        else:
            amount = abs(bot.position.amount)
        amount = round_amount(amount, rules.amount_step)
        if intent.opening and amount == 0 and sizer.zero_reason():
            return "sizing", sizer.zero_reason()  # 例如 ATR 还没有算出来、凯利没有优势
        code = order_reject_reason(amount, price, rules.min_amount, rules.min_notional)
        if code:
            return "exchange_rules", f"{REJECT_REASONS[code]}: amount={amount} price={price}"
        decision = engine.risk.check(RiskRequest(bot.symbol, intent.side, amount, price, wall_ms(),
                                                 reduces=not intent.opening, fee_rate=fee, instance=bot.name),
                                     account)
        if not decision.allowed:
            return decision.rule, decision.reason
        order = Order(bot.symbol, intent.side, OrderType.MARKET, amount, instance=bot.name,
                      reduce_only=not intent.opening and engine.market_type is MarketType.FUTURES,
                      reason=intent.reason, created_ts=wall_ms(), bar_ts=self.last_bar_ts(bot.name))
        if intent.opening:
            self.exits[order.client_order_id] = (intent.stop_loss, intent.take_profit)
        # 备好即算“在途”：备好与真正发出之间若插进一键停止，它也会等这张单落地
        self._start_flight(order)
        if received is not None:
            engine.latencies_ms.append((time.perf_counter() - received) * 1000)
        return order

    async def submit(self, bot: Bot | None, order: Order) -> Order:
        """下单（先写日志库）；交易所拒绝时记拒绝事件。重试用尽仍不知道结果时订单保持 new，交给轮询去查清。"""
        instance = bot.name if bot is not None else (order.instance or "")
        self._start_flight(order)
        # 下单的往返放在自己的任务里并用 shield 等它：调用方（行情任务）被取消时——引擎正在停止——这张单照样
        # 走完“发出 -> 回音 -> 记账”，不会发出去了却没有记下成交；那时它落地（任务结束）才移出在途集合（stop 等的
        # 就是这个）。没被取消时在这里记完结果之后才移出：轮询不会在“结果不明”的事件记下之前就接手这张单
        sending = asyncio.ensure_future(self.engine.orders.submit(order))
        cancelled = False
        try:
            await asyncio.shield(sending)
        except asyncio.CancelledError:
            cancelled = True
            sending.add_done_callback(lambda task, cid=order.client_order_id: self._land(cid, task))
            raise
        except ccxt.NetworkError as exc:
            await self.engine.record(EventKind.ERROR, instance=instance,
                                     error=f"order {order.client_order_id} outcome unknown after retries "
                                           f"({type(exc).__name__}); the poller will look it up")
            return order
        finally:
            if not cancelled:
                self._land(order.client_order_id)
        if order.status is OrderStatus.REJECTED:
            await self.reject(instance, "exchange", order.reason)
        return order

    def _start_flight(self, order: Order) -> None:
        """记下一张在途订单（重复调用无害）。"""
        self.in_flight.add(order.client_order_id)
        self.idle.clear()

    def _land(self, client_order_id: str, task: "asyncio.Future[Order] | None" = None) -> None:
        """一张在途订单有了结果（成交、被拒、网络错误都算）：移出在途集合，集合空了就置位 idle。

        task 是调用方已被取消、没有人再等的下单任务：在这里取走它的异常（网络错误留给轮询去查清），免得 asyncio 报
        “exception was never retrieved”。"""
        self.in_flight.discard(client_order_id)
        if not self.in_flight:
            self.idle.set()
        if task is not None and not task.cancelled() and task.exception() is not None:
            log.warning("order %s send ended with %r after the engine stopped waiting; the next start reconciles it",
                        client_order_id, task.exception())

    async def reject(self, instance: str, rule: str, reason: str) -> None:
        """记一条拒绝：事件总线 + 日志库。bar_ts 是该实例此刻最后一根已收盘 K 线（交易所时间），
        replay-check 用它把拒绝放到 K 线上（事件的 ts 是墙上时间，沙盒快速回放时与交易所时间相差很大）。"""
        await self.engine.record(EventKind.REJECTION, instance=instance, rule=rule, reason=reason,
                                 bar_ts=self.last_bar_ts(instance))

    def last_bar_ts(self, instance: str) -> int | None:
        """实例窗口里最后一根已收盘 K 线的开盘时间，UTC 毫秒（交易所时间）；没有该实例或还没有 K 线时为 None。"""
        bot = self.engine.bots.get(instance)
        return int(bot.bars[-1, 0]) if bot is not None and len(bot.bars) else None

    # ---- 平仓（flatten、一键停止） ---------------------------------------------------------------------

    async def close_position(self, symbol: str, amount: float, instance: str | None, reason: str) -> Order | None:
        """市价平掉 amount（带符号：多仓为正）：只减仓（合约上 reduce_only），风控按减仓单检查（一键停止后也放行）。
        数量按步长取整后为 0 时返回 None。"""
        engine = self.engine
        rules = engine.rules.get(symbol) or engine.broker.rules(symbol)
        side = Side.SELL if amount > 0 else Side.BUY
        size = round_amount(abs(amount), rules.amount_step)
        if size <= 0:
            return None
        price = engine.mark_price(symbol)
        decision = engine.risk.check(RiskRequest(symbol, side, size, price, wall_ms(), reduces=True,
                                                 fee_rate=engine.config.fees.taker, instance=instance),
                                     engine.account_snapshot())
        if not decision.allowed:
            await self.reject(instance or "", decision.rule, decision.reason)
            return None
        order = Order(symbol, side, OrderType.MARKET, size, instance=instance, reason=reason,
                      reduce_only=engine.market_type is MarketType.FUTURES, created_ts=wall_ms(),
                      bar_ts=self.last_bar_ts(instance or ""))
        return await self.submit(engine.bots.get(instance or ""), order)

    # ---- 手动订单 ------------------------------------------------------------------------------------

    async def submit_manual(self, symbol: str, side: Side, amount: float, order_type: OrderType = OrderType.MARKET,
                            price: float | None = None, instance: str | None = None) -> Order:
        """手动下单（界面的下单框、ctl order）：经过同样的规则与风控。"""
        request, decision = self.check_manual(symbol, side, amount, order_type, price, instance, record=True)
        if not decision.allowed:
            await self.reject(instance or "", decision.rule, decision.reason)
            rule = "exchange rules" if decision.rule == EXCHANGE_RULES else f"risk rule {decision.rule}"
            raise UserError(f"order refused by {rule}: {decision.reason}")
        order = Order(symbol, side, order_type, request.amount, price=price, instance=instance, reason="manual",
                      created_ts=wall_ms())
        return await self.submit(None, order)

    def check_manual(self, symbol: str, side: Side, amount: float, order_type: OrderType = OrderType.MARKET,
                     price: float | None = None, instance: str | None = None, *,
                     record: bool = False) -> tuple[RiskRequest, RiskDecision]:
        """手动订单的检查：(按步长取整后的请求, 结论)。先查交易所规则（价格档位、数量步长与最小数量、最小名义金额，
        不合格时规则为 exchange_rules），再查风控；record=False 时只预览，不计入下单频率。

        预览（dry run）与 submit_manual 走的都是这里，所以两者的结论总是一致。"""
        engine = self.engine
        rules = engine.rules.get(symbol) or engine.broker.rules(symbol)
        amount = round_amount(amount, rules.amount_step)
        mark = engine.mark_price(symbol) or price or 0.0
        request = RiskRequest(symbol, side, amount, price or mark, wall_ms(), order_type, price,
                              fee_rate=engine.config.fees.taker, instance=instance)
        problems = exchange_rule_problems(symbol, rules, amount, price, price or mark)
        if problems:
            return request, RiskDecision(False, EXCHANGE_RULES, "; ".join(problems))
        return request, engine.risk.check(request, engine.account_snapshot(), record=record)

    # ---- 回报 ----------------------------------------------------------------------------------------

    async def order_stream(self) -> None:
        """用户数据流的订单更新 -> OrderManager；断线重连后对账（补上断线期间的成交）。"""
        from tradeterm.engine.recovery import reconcile

        engine = self.engine

        async def on_reconnect() -> None:
            """推送断线重连后：对账。"""
            engine.problems += await reconcile(engine)

        async for raw in engine.broker.order_updates(on_reconnect):
            await engine.orders.on_stream_order(raw)

    async def poll_orders(self) -> None:
        """REST 兜底：定期查询每张未结束的订单（推送丢失时订单也能结束、成交也能记上）。"""
        engine = self.engine
        while True:
            await asyncio.sleep(POLL_INTERVAL_S)
            for order in engine.orders.open_orders():
                if order.client_order_id in self.in_flight:
                    continue  # 下单还在进行（含按客户端订单号查询、重发）：由它给出结果，轮询不抢着下结论
                found = await self.look_up(order)
                if found is False:
                    continue  # 网络错误：下一轮再查
                if found is None and order.status is OrderStatus.NEW and \
                        wall_ms() - order.created_ts > (engine.broker.recv_window_s() + POLL_INTERVAL_S) * 1000:
                    # 发出的请求早已过了 recvWindow 而交易所仍不知道这张单：它不会再被执行了
                    order.status = OrderStatus.REJECTED
                    order.reason = f"{order.reason}; never reached the exchange"
                    await engine.journal.record_order(order)
                    engine.on_order(order)
                    await self.reject(order.instance or "", "exchange",
                                      f"order {order.client_order_id} never reached the exchange")

    async def look_up(self, order: Order) -> Any:
        """用 REST 查一张订单并应用结果（状态与成交）。返回交易所的回答（找不到订单时为 None），网络错误时为 False。"""
        try:
            found = await self.engine.broker.find_order(order)
        except ccxt.NetworkError:
            return False
        if found is not None:
            await self.engine.orders.apply(order, *found)
        return found

    async def settle_open_orders(self) -> int:
        """引擎停止前的最后一次核对：逐张查询未结束的订单，把推送还没送到的成交记进日志库（例如合约市价单的
        下单响应是 NEW，成交只在推送里）。返回仍未结束的订单数（挂着的限价单照常留在交易所上）。"""
        for order in self.engine.orders.open_orders():
            await self.look_up(order)
        return len(self.engine.orders.open_orders())


def order_dict(order: Order) -> dict[str, Any]:
    """订单 -> 可 JSON 序列化的字典（事件与快照用）。"""
    return {"client_order_id": order.client_order_id, "instance": order.instance or "", "symbol": order.symbol,
            "side": order.side.value, "type": order.type.value, "amount": order.amount, "price": order.price,
            "status": order.status.value, "filled": order.filled, "average_price": order.average_price,
            "reason": order.reason}
