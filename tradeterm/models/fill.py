"""成交：订单在某个价格成交的一部分或全部。"""

from __future__ import annotations

from dataclasses import dataclass

from tradeterm.models.enums import Side


@dataclass(frozen=True, slots=True)
class Fill:
    """一笔成交。数量为基础货币，价格为计价货币，时间为 UTC 毫秒时间戳。"""

    client_order_id: str   # 客户端订单号（client order id），与交易所订单对应
    symbol: str            # 交易对，ccxt 形式，如 BTC/USDT
    side: Side             # 买或卖
    price: float           # 成交价格，计价货币（如 USDT）
    amount: float          # 成交数量，基础货币（如 BTC）
    fee: float             # 手续费金额，单位见 fee_currency
    fee_currency: str      # 手续费币种（如 USDT）
    ts: int                # 成交时间，UTC 毫秒时间戳
    trade_id: str = ""     # 交易所成交编号；模拟成交时由撮合器生成
    is_maker: bool = False  # 是否为挂单方（决定用 maker 还是 taker 费率）
    instance: str | None = None  # 所属策略实例名；手动订单为 None

    @property
    def notional(self) -> float:
        """成交额，计价货币：price * amount。"""
        return self.price * self.amount
