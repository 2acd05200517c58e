"""数据层：K 线 CSV 读写、合成行情、本地 K 线缓存，以及经 ccxt 的历史与实时行情（MarketData）。

导出的名字按需导入（见 tradeterm/lazy.py）：`tradeterm.data.defaults` 这样的轻量子模块（命令行帮助要用的默认缓存目录）
不必先导入 pandas 与 numpy；MarketData 等依赖 ccxt 的名字（约 0.3 秒）也只在用到时才导入。
"""

from __future__ import annotations

from tradeterm.lazy import lazy_exports

# 导出的名字 -> (所在模块, 模块里的名字)
_EXPORTS: dict[str, tuple[str, str | None]] = {
    "load_ohlcv_csv": ("tradeterm.data.csv", "load_ohlcv_csv"),
    "save_ohlcv_csv": ("tradeterm.data.csv", "save_ohlcv_csv"),
    "synthetic_ohlcv": ("tradeterm.data.synthetic", "synthetic_ohlcv"),
    "Candles": ("tradeterm.data.cache", "Candles"),
    "CandleCache": ("tradeterm.data.cache", "CandleCache"),
    "CacheEntry": ("tradeterm.data.cache", "CacheEntry"),
    "Gap": ("tradeterm.data.cache", "Gap"),
    "find_gaps": ("tradeterm.data.cache", "find_gaps"),
    "MarketData": ("tradeterm.data.market_data", "MarketData"),
    "CandleUpdate": ("tradeterm.data.market_data", "CandleUpdate"),
    "Quote": ("tradeterm.data.market_data", "Quote"),
}

__all__ = list(_EXPORTS)

# 第一次用到导出的名字时才导入它所在的模块
__getattr__ = lazy_exports(__name__, _EXPORTS)
