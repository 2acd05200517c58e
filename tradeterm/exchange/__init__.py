"""交易所接入层：创建指向真实交易所或本地沙盒的原版 ccxt 客户端。"""

from tradeterm.exchange.client import make_client, point_urls_at
from tradeterm.exchange.retry import RetryPolicy, call_with_retry

__all__ = ["make_client", "point_urls_at", "RetryPolicy", "call_with_retry"]
