"""领域模型中的枚举：买卖方向、订单类型与状态、信号意图、市场类型、运行模式。

取值与 ccxt 的词汇一致（side 为 buy/sell，type 为 market/limit），便于直接传给 ccxt。
"""

from __future__ import annotations

from enum import Enum


class Side(str, Enum):
    """订单或成交的买卖方向。"""

    # 买入：花计价货币换基础货币
    BUY = "buy"
    # 卖出：用基础货币换计价货币
    SELL = "sell"

    @property
    def sign(self) -> int:
        """买为 +1、卖为 -1，用于把数量变成带符号的仓位变化。"""
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> "Side":
        """相反方向（平仓时使用）。"""
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(str, Enum):
    """订单类型：市价、限价，以及由止损/止盈价触发的条件单。"""

    # 市价单：以下一个可成交价格成交
    MARKET = "market"
    # 限价单：只在限价或更优价格成交
    LIMIT = "limit"
    # 止损市价单：价格触及 stop_price 后按市价成交
    STOP_MARKET = "stop_market"
    # 止损限价单：价格触及 stop_price 后挂出限价单
    STOP_LIMIT = "stop_limit"
    # 止盈市价单：价格触及 stop_price（目标价）后按市价成交
    TAKE_PROFIT_MARKET = "take_profit_market"


class OrderStatus(str, Enum):
    """订单状态机的各个状态。"""

    # 已在本地创建并写入日志，尚未被交易所确认
    NEW = "new"
    # 交易所已接受，挂单中，尚无成交
    OPEN = "open"
    # 部分成交，剩余部分仍在挂单
    PARTIALLY_FILLED = "partially_filled"
    # 全部成交
    FILLED = "filled"
    # 已撤销（可能之前有部分成交）
    CANCELLED = "cancelled"
    # 被交易所或风控拒绝
    REJECTED = "rejected"
    # 过期（如 IOC/FOK 未成交部分）
    EXPIRED = "expired"

    @property
    def is_final(self) -> bool:
        """终态不会再变化：已成交、已撤销、已拒绝、已过期。"""
        return self in (OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED)


class SignalIntent(str, Enum):
    """交易信号的意图：开/平多、开/平空，或直接给出目标仓位。"""

    # 开多（现货即买入）
    OPEN_LONG = "open_long"
    # 平多（现货即卖出全部持仓）
    CLOSE_LONG = "close_long"
    # 开空（仅合约市场）
    OPEN_SHORT = "open_short"
    # 平空（仅合约市场）
    CLOSE_SHORT = "close_short"
    # 目标仓位：size_hint 给出目标仓位占权益的比例，带符号（-1..1）
    TARGET = "target"


class MarketType(str, Enum):
    """市场类型：现货只能做多，合约可多可空。"""

    # 现货
    SPOT = "spot"
    # 永续/交割合约（USD-M）
    FUTURES = "futures"


class Mode(str, Enum):
    """运行模式：三者共用一个引擎，只在时钟、行情源与经纪商上不同。"""

    # 回测：模拟时钟 + 历史行情 + 模拟撮合
    BACKTEST = "backtest"
    # 模拟盘：实时行情 + 模拟撮合
    PAPER = "paper"
    # 实盘：实时行情 + 通过 ccxt 真实下单
    LIVE = "live"
