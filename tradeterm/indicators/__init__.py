"""向量化、因果的技术指标：第 t 个值只用到第 t 个及之前的数据。

输入为 pandas Series 或 numpy 数组；单列指标返回同类型，多列指标返回 DataFrame。
递推类指标（EMA、RSI、ATR）用 numba 编译的内核，与 TA-Lib 的种子约定一致。
"""

from tradeterm.indicators.channels import donchian
from tradeterm.indicators.moving import ema, sma
from tradeterm.indicators.oscillators import macd, roc, rsi
from tradeterm.indicators.volatility import atr, bollinger, true_range, zscore

__all__ = ["sma", "ema", "macd", "rsi", "roc", "bollinger", "atr", "true_range", "zscore", "donchian"]
