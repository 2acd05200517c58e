"""交易信号：策略在某根 K 线收盘时给出的意图，之后经过仓位计算、风控，变成订单。"""

from __future__ import annotations

from dataclasses import dataclass

from tradeterm.models.enums import OrderType, Side, SignalIntent


@dataclass(frozen=True, slots=True)
class TradeSignal:
    """策略产生的一个交易信号。价格为计价货币，时间为 UTC 毫秒。"""

    symbol: str                        # 交易对，ccxt 形式，如 BTC/USDT
    side: Side                         # 下单方向：buy 或 sell
    intent: SignalIntent               # 意图：开多/平多/开空/平空/目标仓位
    ts: int = 0                        # 产生信号的 K 线开盘时间，UTC 毫秒；该 K 线收盘后才可用
    order_type: OrderType = OrderType.MARKET  # 订单类型，默认市价（下一根 K 线开盘成交）
    limit_price: float | None = None   # 限价，计价货币；仅限价单使用
    stop_loss: float | None = None     # 止损价，计价货币；None 表示不设
    take_profit: float | None = None   # 止盈价，计价货币；None 表示不设
    size_hint: float | None = None     # 仓位提示：占权益比例（0..1，TARGET 时带符号）；None 交给仓位计算器
    reason: str = ""                   # 原因标签，如 "ma_cross_up"，写入日志便于复盘

    def __post_init__(self) -> None:
        """校验价格与比例的取值范围；违反说明调用方（策略代码）有缺陷。"""
        for name in ("limit_price", "stop_loss", "take_profit"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"TradeSignal.{name} must be a positive price, got {value!r}")
        if self.order_type is OrderType.LIMIT and self.limit_price is None:
            raise ValueError("TradeSignal with order_type=limit needs limit_price")
