"""订单状态机：new -> open -> partially_filled -> filled，以及 cancelled / rejected / expired 三个终态。

交易所的订单更新可能重复、乱序（websocket 重连、REST 轮询与推送交叉到达），所以更新规则是“只前进不后退”：
- 已成交数量只增不减；更小的已成交数量视为过期消息，忽略。
- 终态不再改变（已成交的订单不会因为迟到的 open 消息回到挂单）。
- 状态按 TRANSITIONS 表前进；同一状态重复到达是幂等的。
成交明细（trade）按 (交易所账户, 交易所订单号, 成交编号) 去重（FillLedger），同一笔成交无论从推送、轮询还是对账
到达都只记一次；只凭成交编号去重是错的：换了新的交易所账户后编号从 1 重来，新成交会被当作旧成交丢掉。
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tradeterm.models import Fill, Order, OrderStatus
from tradeterm.models.fill import LEGACY_ACCOUNT

# 合法的状态转移：当前状态 -> 允许到达的状态（终态没有出边）
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.NEW: frozenset({OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED,
                                OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED}),
    OrderStatus.OPEN: frozenset({OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED, OrderStatus.CANCELLED,
                                 OrderStatus.EXPIRED}),
    OrderStatus.PARTIALLY_FILLED: frozenset({OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED,
                                             OrderStatus.CANCELLED, OrderStatus.EXPIRED}),
    OrderStatus.FILLED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
    OrderStatus.REJECTED: frozenset(),
    OrderStatus.EXPIRED: frozenset(),
}
# ccxt 统一订单状态 -> 本项目状态（ccxt 的 open 在有成交时细分为 partially_filled）
CCXT_STATUS = {"open": OrderStatus.OPEN, "closed": OrderStatus.FILLED, "canceled": OrderStatus.CANCELLED,
               "cancelled": OrderStatus.CANCELLED, "rejected": OrderStatus.REJECTED, "expired": OrderStatus.EXPIRED}


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """来自交易所（或模拟撮合）的一次订单状态快照。数量为基础货币，价格为计价货币，时间为 UTC 毫秒。"""

    status: OrderStatus                   # 交易所报告的状态
    filled: float                         # 累计已成交数量，基础货币
    average_price: float | None = None    # 成交均价，计价货币
    exchange_order_id: str | None = None  # 交易所订单号
    ts: int = 0                           # 更新时间，UTC 毫秒

    @classmethod
    def from_ccxt(cls, order: dict) -> "OrderUpdate":
        """由 ccxt 统一订单结构构造；open 且已有成交时记为 partially_filled。"""
        status = CCXT_STATUS.get(str(order.get("status")), OrderStatus.OPEN)
        filled = float(order.get("filled") or 0.0)
        if status is OrderStatus.OPEN and filled > 0:
            status = OrderStatus.PARTIALLY_FILLED
        average = order.get("average")
        return cls(status, filled, float(average) if average else None,
                   str(order["id"]) if order.get("id") is not None else None, int(order.get("timestamp") or 0))


def can_transition(current: OrderStatus, target: OrderStatus) -> bool:
    """current -> target 是否合法（同一状态视为合法的重复消息）。"""
    return target == current or target in TRANSITIONS[current]


def apply_update(order: Order, update: OrderUpdate) -> bool:
    """把一次更新应用到订单上；返回订单是否发生了变化。过期或乱序的消息被忽略（返回 False）。"""
    if update.filled + 1e-12 < order.filled:
        return False  # 已成交数量变小：旧消息
    if not can_transition(order.status, update.status):
        return False  # 终态之后的消息、或倒退的状态
    changed = (update.status is not order.status or update.filled != order.filled
               or (update.average_price is not None and update.average_price != order.average_price))
    order.status = update.status
    order.filled = update.filled
    if update.average_price is not None:
        order.average_price = update.average_price
    if update.exchange_order_id:
        order.exchange_order_id = update.exchange_order_id
    if changed and update.ts:
        order.updated_ts = max(order.updated_ts, update.ts)
    return changed


# 一笔成交的身份：(交易所账户, 交易所订单号, 成交编号)
FillKey = tuple[str, str, str]


class FillLedger:
    """已记账成交的去重表：按 (交易所账户, 交易所订单号, 成交编号) 识别同一笔成交。"""

    def __init__(self, seen: Iterable[FillKey] | None = None):
        """seen 为已记账成交的身份（重启时从日志库载入）；账户为空串的旧成交与任何账户匹配。"""
        # 已记账的成交：(交易所账户, 交易所订单号, 交易所成交编号)
        self.seen: set[FillKey] = set(seen or ())

    def knows(self, account: str, exchange_order_id: str, trade_id: str) -> bool:
        """这笔成交是否已记过：同一账户的同一订单、同一成交编号，或不知道账户的旧成交里有这张订单的这个编号。"""
        return ((account, exchange_order_id, trade_id) in self.seen
                or (LEGACY_ACCOUNT, exchange_order_id, trade_id) in self.seen)

    def accept(self, fill: Fill) -> bool:
        """第一次见到这笔成交返回 True 并记下；重复返回 False。没有成交编号的成交总是接受。"""
        if not fill.trade_id:
            return True
        if self.knows(fill.account, fill.exchange_order_id, fill.trade_id):
            return False
        self.seen.add((fill.account, fill.exchange_order_id, fill.trade_id))
        return True
