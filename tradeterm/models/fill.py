"""成交：订单在某个价格成交的一部分或全部。

一笔交易所成交的身份是 (交易所账户, 交易所订单号, 成交编号)：成交编号只在一个账户、一张订单里才有意义
（交易所账户换成新的之后编号会从 1 重新开始）。"""

from __future__ import annotations

from dataclasses import dataclass

from tradeterm.models.enums import Side

# 不知道账户的成交（日志库第 5 版之前记的）的账户标识：去重时与任何账户匹配
LEGACY_ACCOUNT = ""


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
    exchange_order_id: str = ""  # 所属订单的交易所订单号；回测与模拟撮合里的成交为空串
    account: str = ""      # 交易所账户标识（经纪商的 account_id，不含密钥）；空串为不知道账户的（旧日志库、回测）

    @property
    def notional(self) -> float:
        """成交额，计价货币：price * amount。"""
        return self.price * self.amount
