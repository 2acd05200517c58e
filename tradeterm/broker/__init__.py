"""经纪商层：把订单送到交易所（经 ccxt，真实交易所或本地沙盒），并把订单回报与成交带回来。"""

from tradeterm.broker.ccxt_broker import CcxtBroker, OrderRejected, TradeReport

__all__ = ["CcxtBroker", "OrderRejected", "TradeReport"]
