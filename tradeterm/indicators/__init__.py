"""向量化、因果的技术指标：第 t 个值只用到第 t 个及之前的数据。

输入为 pandas Series 或 numpy 数组；单列指标返回同类型，多列指标返回 DataFrame。
递推类指标（EMA、RSI、ATR）用 numba 编译的内核，与 TA-Lib 的种子约定一致。
内置策略与阈值比较之前先用 `settle` / `relative_gap` 落定（平局规则见 ties 模块）。
实盘的逐根形式（每根 O(1)、与向量化结果逐位相同）：`SMAStream`、`EMAStream`、`MACDStream` 等，见 streaming 模块
（也可写 `ta.streaming.SMAStream`）；单个值的落定用 `settle_value` / `relative_gap_value`。
"""

from tradeterm.indicators.channels import donchian
from tradeterm.indicators.moving import ema, sma
from tradeterm.indicators.oscillators import macd, roc, rsi
from tradeterm.indicators.ties import TIE_DECIMALS, relative_gap, settle
from tradeterm.indicators.volatility import atr, bollinger, rolling_moments, true_range, zscore
from tradeterm.indicators import streaming
from tradeterm.indicators.streaming import (ATRStream, BollingerStream, DonchianStream, EMAStream, MACDStream,
                                            RollingMomentsStream, ROCStream, RSIStream, SMAStream, TrueRangeStream,
                                            relative_gap_value, settle_value)

__all__ = ["sma", "ema", "macd", "rsi", "roc", "bollinger", "atr", "true_range", "zscore", "rolling_moments",
           "donchian", "settle", "relative_gap", "TIE_DECIMALS",
           "streaming", "SMAStream", "EMAStream", "MACDStream", "RSIStream", "ROCStream", "RollingMomentsStream",
           "BollingerStream", "TrueRangeStream", "ATRStream", "DonchianStream", "settle_value", "relative_gap_value"]
