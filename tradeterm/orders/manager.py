"""订单管理：每张订单先写日志库再发出；回报（下单响应、推送、轮询、对账）按状态机前进，成交按身份去重。

一张订单的生命周期：
1. `submit`：以 new 状态写入日志库并提交 -> 经纪商下单（网络错误时先按客户端订单号查询，绝不盲目重发）；
   交易所拒绝 -> rejected（原因写进订单与事件）。
2. 回报：`apply` 把状态更新应用到订单（只前进不后退），新成交交给 `on_fill`（引擎更新持仓并在同一事务里记账）。
3. 订单报告的已成交数量多于已记账的成交时（推送里没有成交明细），用 REST 查成交补上（`catch_up_fills`）。
成交的身份是 (交易所账户, 交易所订单号, 成交编号)：账户取自经纪商的 `account_id`，成交编号相同而订单不同的是两笔成交；
交易所订单号不属于本引擎任何订单的成交不会被当作“已记过”吞掉，`adopt` 返回 False，由对账报告。
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from tradeterm.broker.ccxt_broker import CcxtBroker, OrderRejected, TradeReport
from tradeterm.journal.store import TradeJournal
from tradeterm.models import Fill, Order, OrderStatus
from tradeterm.orders.state_machine import FillLedger, OrderUpdate, apply_update

log = logging.getLogger(__name__)

# 成交回调：(订单, 新成交) -> 引擎更新持仓、记账、通知策略
FillHandler = Callable[[Order, Fill], Awaitable[None]]
# 订单变化回调：(订单) -> 引擎发事件
OrderHandler = Callable[[Order], None]
# 判断“已成交数量多于已记账成交”时的容差，基础货币（浮点误差）
FILLED_TOLERANCE = 1e-12


class OrderManager:
    """全部订单的内存索引 + 日志库 + 经纪商之间的协调者。"""

    def __init__(self, broker: CcxtBroker, journal: TradeJournal, on_fill: FillHandler, on_order: OrderHandler):
        """on_fill 在每笔新成交时调用（已去重）；on_order 在订单状态变化时调用。"""
        # 经纪商（ccxt）
        self.broker = broker
        # 日志库
        self.journal = journal
        # 新成交回调
        self.on_fill = on_fill
        # 订单变化回调
        self.on_order = on_order
        # 客户端订单号 -> 订单（全部已知订单；终态订单也留着，迟到的成交要能找到归属）
        self.orders: dict[str, Order] = {}
        # 可能还未结束的订单：客户端订单号 -> 订单（orders 的子集，按同样的先后排列）。open_orders 只扫描它们：
        # 终态不会再变化（见 OrderStatus.is_final 与状态机），扫描时遇到终态就移出，代价不随历史订单数增长
        self._unsettled: dict[str, Order] = {}
        # 交易所订单号 -> 客户端订单号
        self.by_exchange_id: dict[str, str] = {}
        # 本引擎交易的交易所账户的标识（不含密钥），成交身份的第一部分
        self.account: str = broker.account_id
        # 已记账成交的去重表
        self.ledger = FillLedger()
        # 客户端订单号 -> 已记账的成交数量合计，基础货币
        self.booked: dict[str, float] = {}

    async def load(self) -> None:
        """从日志库载入全部订单、已记账成交（重启恢复的第一步）。"""
        for order in await self.journal.orders():
            self._index(order)
        self.ledger = FillLedger(await self.journal.fill_keys())
        for fill in await self.journal.fills():
            self.booked[fill.client_order_id] = self.booked.get(fill.client_order_id, 0.0) + fill.amount

    def _index(self, order: Order) -> None:
        """把订单放进索引。"""
        self.orders[order.client_order_id] = order
        if order.is_open:
            self._unsettled[order.client_order_id] = order
        if order.exchange_order_id:
            self.by_exchange_id[order.exchange_order_id] = order.client_order_id

    def open_orders(self, instance: str | None = None) -> list[Order]:
        """未结束的订单（可按实例过滤），按下单先后。只看可能未结束的订单（_unsettled），已到终态的顺手移出。"""
        unsettled = self._unsettled
        for client_order_id in [c for c, o in unsettled.items() if not o.is_open]:
            del unsettled[client_order_id]
        return [o for o in unsettled.values() if instance is None or o.instance == instance]

    # ---- 下单与撤单 ------------------------------------------------------------------------------------

    async def submit(self, order: Order) -> Order:
        """写日志库 -> 下单 -> 应用响应。被交易所拒绝时订单为 rejected（不抛异常）。"""
        order.created_ts = order.created_ts or int(time.time() * 1000)
        order.updated_ts = order.created_ts
        self._index(order)
        await self.journal.record_order(order)
        try:
            update, trades = await self.broker.create_order(order)
        except OrderRejected as exc:
            order.status = OrderStatus.REJECTED
            order.reason = f"{order.reason}; rejected: {exc}" if order.reason else f"rejected: {exc}"
            await self.journal.record_order(order)
            self.on_order(order)
            return order
        await self.apply(order, update, trades)
        return order

    async def cancel(self, order: Order) -> None:
        """撤单；交易所说订单已不存在时按 REST 查询它的最终状态。"""
        update = await self.broker.cancel_order(order)
        if update is None:
            found = await self.broker.find_order(order)
            if found is not None:
                await self.apply(order, *found)
            return
        await self.apply(order, update, [])

    # ---- 回报 ------------------------------------------------------------------------------------------

    async def apply(self, order: Order, update: OrderUpdate, trades: list[TradeReport]) -> None:
        """应用一次状态更新与附带的成交；已成交数量多于已记账时用 REST 补成交。"""
        if update.exchange_order_id:
            self.by_exchange_id[update.exchange_order_id] = order.client_order_id
        if apply_update(order, update):
            await self.journal.record_order(order)
            self.on_order(order)
        for report in trades:
            await self.book(order, report)
        if order.filled > self.booked.get(order.client_order_id, 0.0) + FILLED_TOLERANCE:
            await self.catch_up_fills(order)

    async def on_stream_order(self, raw: dict) -> None:
        """用户数据流里的一条订单更新（ccxt 订单字典）；不是本引擎的订单就忽略。"""
        client_id = raw.get("clientOrderId")
        order = self.orders.get(client_id) if client_id else None
        if order is None and raw.get("id") is not None:
            order = self.orders.get(self.by_exchange_id.get(str(raw["id"]), ""))
        if order is None:
            return
        update = OrderUpdate.from_ccxt(raw)
        trades = [TradeReport.from_ccxt({**t, "symbol": order.symbol, "side": order.side.value}, update.exchange_order_id)
                  for t in raw.get("trades") or [] if t.get("id") is not None]
        await self.apply(order, update, trades)

    async def catch_up_fills(self, order: Order, since: int | None = None) -> None:
        """用 REST 取 order 所在交易对的成交，记下属于本引擎订单、尚未记账的那些。"""
        for report in await self.broker.my_trades(order.symbol, since):
            await self.adopt(report)

    async def adopt(self, report: TradeReport) -> bool:
        """把一笔交易所成交归到它的订单并记账；不属于任何已知订单返回 False。"""
        client_id = self.by_exchange_id.get(report.exchange_order_id)
        if client_id is None:
            return False
        await self.book(self.orders[client_id], report)
        return True

    def is_booked(self, report: TradeReport) -> bool:
        """这笔交易所成交是否已记账：按 (本账户, 交易所订单号, 成交编号) 识别，不只看成交编号。"""
        return self.ledger.knows(self.account, report.exchange_order_id, report.trade_id)

    async def book(self, order: Order, report: TradeReport) -> None:
        """一笔成交：去重后交给 on_fill（它负责持仓与记账），累计订单的手续费与已记账数量。"""
        # 成交回报没带交易所订单号时（个别推送）用订单自己的：同一笔成交从别的渠道到达时带的就是它
        exchange_order_id = report.exchange_order_id or order.exchange_order_id or ""
        fill = Fill(order.client_order_id, order.symbol, order.side, report.price, report.amount, report.fee,
                    report.fee_currency, report.ts, report.trade_id, report.is_maker, order.instance,
                    exchange_order_id=exchange_order_id, account=self.account)
        if not self.ledger.accept(fill):
            return
        order.fee += fill.fee
        order.fee_currency = fill.fee_currency
        self.booked[order.client_order_id] = self.booked.get(order.client_order_id, 0.0) + fill.amount
        await self.on_fill(order, fill)
