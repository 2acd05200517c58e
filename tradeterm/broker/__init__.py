"""经纪商层：把订单送到交易所（经 ccxt，真实交易所或本地沙盒；或在本地模拟成交的模拟盘），并把订单回报与成交带回来。"""

from tradeterm.broker.ccxt_broker import CcxtBroker, OrderRejected, TradeReport
from tradeterm.broker.paper import PaperBroker

__all__ = ["CcxtBroker", "PaperBroker", "OrderRejected", "TradeReport"]
