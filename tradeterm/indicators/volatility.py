"""波动类指标：布林带、平均真实波幅（ATR）、滚动 z 分数。"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tradeterm.indicators._kernels import ema_kernel, rolling_std_kernel
from tradeterm.indicators._series import ArrayLike, as_float_array, check_period, frame_like, like


def rolling_std(values: np.ndarray, period: int) -> np.ndarray:
    """总体标准差（ddof=0，同 TA-Lib 的 STDDEV 与布林带）的滚动值；前 period-1 个为 NaN。"""
    return rolling_std_kernel(values, period)


def bollinger(values: ArrayLike, period: int = 20, num_std: float = 2.0) -> pd.DataFrame:
    """布林带：middle = SMA(period)，upper/lower = middle ± num_std * 总体标准差。返回列 middle、upper、lower。"""
    period = check_period(period)
    if not num_std > 0:
        raise ValueError(f"num_std must be positive, got {num_std!r}")
    data = as_float_array(values)
    middle = pd.Series(data).rolling(period, min_periods=period).mean().to_numpy()
    width = num_std * rolling_std(data, period)
    return frame_like(values, {"middle": middle, "upper": middle + width, "lower": middle - width})


def zscore(values: ArrayLike, period: int = 20) -> ArrayLike:
    """滚动 z 分数：(x - SMA(period)) / 总体标准差(period)；标准差为 0 时为 NaN。"""
    period = check_period(period)
    data = as_float_array(values)
    mean = pd.Series(data).rolling(period, min_periods=period).mean().to_numpy()
    std = rolling_std(data, period)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(std > 0, (data - mean) / std, np.nan)
    return like(values, out, f"zscore_{period}")


def true_range(high: ArrayLike, low: ArrayLike, close: ArrayLike) -> np.ndarray:
    """真实波幅：max(high-low, |high-前收|, |low-前收|)；第一根没有前收，为 NaN（同 TA-Lib）。"""
    h, l, c = as_float_array(high), as_float_array(low), as_float_array(close)
    out = np.full(h.shape[0], np.nan)
    prev_close = c[:-1]
    out[1:] = np.maximum(h[1:] - l[1:], np.maximum(np.abs(h[1:] - prev_close), np.abs(l[1:] - prev_close)))
    return out


def atr(high: ArrayLike, low: ArrayLike, close: ArrayLike, period: int = 14) -> ArrayLike:
    """平均真实波幅（Wilder 平滑，alpha = 1/period）：种子为第 1..period 根真实波幅的均值，第一个值在下标 period。

    第 0 根的真实波幅是 NaN（没有前收），平滑内核跳过开头的 NaN，所以种子正好从第 1 根开始（同 TA-Lib）。
    """
    period = check_period(period)
    out = ema_kernel(true_range(high, low, close), period, 1.0 / period)
    return like(close, out, f"atr_{period}")
