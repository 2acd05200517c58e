"""振荡/动量类指标：MACD、RSI、变动率（ROC）。"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tradeterm.indicators._kernels import ema_kernel, wilder_rsi_kernel
from tradeterm.indicators._series import ArrayLike, as_float_array, check_period, frame_like, like


def macd(values: ArrayLike, fast: int = 12, slow: int = 26, signal: int = 9) -> pd.DataFrame:
    """MACD：macd = EMA(fast) - EMA(slow)，signal = macd 的 EMA(signal)，histogram = macd - signal。

    返回列 macd、signal、histogram。macd 从下标 slow-1 起有值，signal 与 histogram 从 slow+signal-2 起有值。
    TA-Lib 把快线 EMA 的种子推迟到与慢线同时开始，因此最初若干根与这里的标准定义略有差异，
    差异按 (1-2/(fast+1))^n 指数衰减，数百根后两者在 1e-9 相对误差内一致。
    """
    fast, slow, signal = check_period(fast, "fast"), check_period(slow, "slow"), check_period(signal, "signal")
    if fast >= slow:
        raise ValueError(f"MACD fast period must be below slow period, got fast={fast} slow={slow}")
    data = as_float_array(values)
    fast_line = ema_kernel(data, fast, 2.0 / (fast + 1.0))
    slow_line = ema_kernel(data, slow, 2.0 / (slow + 1.0))
    macd_line = fast_line - slow_line
    signal_line = ema_kernel(macd_line, signal, 2.0 / (signal + 1.0))
    return frame_like(values, {"macd": macd_line, "signal": signal_line, "histogram": macd_line - signal_line})


def rsi(values: ArrayLike, period: int = 14) -> ArrayLike:
    """相对强弱指数（Wilder 平滑，0..100）；第一个值在下标 period。"""
    period = check_period(period)
    out = wilder_rsi_kernel(as_float_array(values), period)
    return like(values, out, f"rsi_{period}")


def roc(values: ArrayLike, period: int = 10) -> ArrayLike:
    """变动率（小数）：x[t] / x[t-period] - 1；前 period 个为 NaN。0.05 表示上涨 5%。"""
    period = check_period(period)
    data = as_float_array(values)
    out = np.full(data.shape[0], np.nan)
    out[period:] = data[period:] / data[:-period] - 1.0
    return like(values, out, f"roc_{period}")
