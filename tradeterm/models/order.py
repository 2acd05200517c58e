"""订单：带客户端订单号的下单请求及其生命周期状态。"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from tradeterm.models.enums import OrderStatus, OrderType, Side


def new_client_order_id(prefix: str = "tt") -> str:
    """生成客户端订单号：前缀 + 22 位十六进制，满足 Binance 的 36 字符上限与字符集要求。"""
    return f"{prefix}{uuid.uuid4().hex[:22]}"


@dataclass(slots=True)
class Order:
    """一张订单。数量为基础货币，价格为计价货币，时间为 UTC 毫秒时间戳。"""

    symbol: str                          # 交易对，ccxt 形式，如 BTC/USDT
    side: Side                           # 买或卖
    type: OrderType                      # 订单类型：市价、限价、止损等
    amount: float                        # 下单数量，基础货币（如 BTC）
    price: float | None = None           # 限价，计价货币；市价单为 None
    stop_price: float | None = None      # 触发价，计价货币；仅条件单使用
    client_order_id: str = field(default_factory=new_client_order_id)  # 客户端订单号，下单前写入日志
    exchange_order_id: str | None = None  # 交易所订单号，交易所确认后才有
    status: OrderStatus = OrderStatus.NEW  # 当前状态
    filled: float = 0.0                  # 已成交数量，基础货币
    average_price: float | None = None   # 成交均价，计价货币；无成交时为 None
    fee: float = 0.0                     # 累计手续费，单位为 fee_currency
    fee_currency: str | None = None      # 手续费币种
    instance: str | None = None          # 发出此订单的策略实例名；手动订单为 None
    reduce_only: bool = False            # 只减仓（合约平仓单）
    created_ts: int = 0                  # 创建时间，UTC 毫秒
    updated_ts: int = 0                  # 最后一次状态变化时间，UTC 毫秒
    reason: str = ""                     # 原因标签（来自信号，或风控/止损等）
    # 决定下这张单时本实例最后一根已收盘 K 线的开盘时间，UTC 毫秒（交易所时间）：信号单为信号那根，
    # 止损止盈单为触发前最后收盘的那根；手动单为 None。replay-check 用它把订单与回测的信号逐根对上
    bar_ts: int | None = None

    @property
    def remaining(self) -> float:
        """未成交数量，基础货币。"""
        return max(self.amount - self.filled, 0.0)

    @property
    def is_open(self) -> bool:
        """订单是否仍可能成交（非终态）。"""
        return not self.status.is_final
