"""领域模型：K 线、交易信号、订单、成交、持仓与枚举。纯数据，不做 I/O。"""

from tradeterm.models.bar import OHLCV_COLUMNS, Bar
from tradeterm.models.enums import MarketType, Mode, OrderStatus, OrderType, Side, SignalIntent
from tradeterm.models.fill import Fill
from tradeterm.models.order import Order, new_client_order_id
from tradeterm.models.position import Position
from tradeterm.models.signal import TradeSignal

__all__ = [
    "OHLCV_COLUMNS", "Bar", "MarketType", "Mode", "OrderStatus", "OrderType", "Side", "SignalIntent",
    "Fill", "Order", "new_client_order_id", "Position", "TradeSignal",
]
