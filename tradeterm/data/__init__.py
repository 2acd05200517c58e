"""数据层：K 线 CSV 读写、合成行情；（后续）ccxt 历史与实时行情、本地缓存。"""

from tradeterm.data.csv import load_ohlcv_csv, save_ohlcv_csv
from tradeterm.data.synthetic import synthetic_ohlcv

__all__ = ["load_ohlcv_csv", "save_ohlcv_csv", "synthetic_ohlcv"]
