"""数据层：K 线 CSV 读写、合成行情、本地 K 线缓存，以及经 ccxt 的历史与实时行情（MarketData）。

MarketData 等依赖 ccxt 的名字按需导入（约 0.3 秒），只读 CSV 的代码不为此付出导入时间。
"""

from tradeterm.data.cache import CacheEntry, Candles, CandleCache, Gap, find_gaps
from tradeterm.data.csv import load_ohlcv_csv, save_ohlcv_csv
from tradeterm.data.synthetic import synthetic_ohlcv

# 按需从 tradeterm.data.market_data 导入的名字
_LAZY = ("MarketData", "CandleUpdate", "Quote")

__all__ = ["load_ohlcv_csv", "save_ohlcv_csv", "synthetic_ohlcv", "Candles", "CandleCache", "CacheEntry", "Gap",
           "find_gaps", *_LAZY]


def __getattr__(name: str):
    """首次访问 MarketData/CandleUpdate/Quote 时才导入 market_data（它会导入 ccxt）。"""
    if name in _LAZY:
        from tradeterm.data import market_data

        return getattr(market_data, name)
    raise AttributeError(f"module 'tradeterm.data' has no attribute {name!r}")
