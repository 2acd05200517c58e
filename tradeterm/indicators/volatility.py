"""波动类指标：布林带、平均真实波幅（ATR）、滚动均值/标准差/偏离/z 分数。"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tradeterm.indicators._kernels import ema_kernel, rolling_moments_kernel, rolling_std_kernel
from tradeterm.indicators._series import ArrayLike, as_float_array, check_period, frame_like, like


def rolling_std(values: np.ndarray, period: int) -> np.ndarray:
    """总体标准差（ddof=0，同 TA-Lib 的 STDDEV 与布林带）的滚动值；前 period-1 个为 NaN。"""
    return rolling_std_kernel(values, period)


def bollinger(values: ArrayLike, period: int = 20, num_std: float = 2.0) -> pd.DataFrame:
    """布林带：middle = SMA(period)，upper/lower = middle ± num_std * 总体标准差。返回列 middle、upper、lower。

    均值与标准差取自同一个逐窗内核（rolling_moments_kernel）：常数窗口的三条线恰好重合。
    """
    period = check_period(period)
    if not num_std > 0:
        raise ValueError(f"num_std must be positive, got {num_std!r}")
    middle, std, _ = rolling_moments_kernel(as_float_array(values), period)
    width = num_std * std
    return frame_like(values, {"middle": middle, "upper": middle + width, "lower": middle - width})


def rolling_moments(values: ArrayLike, period: int = 20) -> pd.DataFrame:
    """滚动均值与总体标准差，以及当前值对均值的偏离和 z 分数。返回列 mean、std、deviation、zscore。

    deviation = x - mean（价格单位），zscore = deviation / std；std 为 0（常数窗口）时 zscore 为 NaN。
    全部由窗口内容精确地算（见 rolling_moments_kernel）：常数窗口的标准差恰好是 0，
    实盘的滑动窗口与回测的整段历史逐位相同。阈值比较宜在价格尺度上做（deviation 对 k * std，见 ta.relative_gap）。
    """
    period = check_period(period)
    mean, std, deviation = rolling_moments_kernel(as_float_array(values), period)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(std > 0, deviation / std, np.nan)
    return frame_like(values, {"mean": mean, "std": std, "deviation": deviation, "zscore": z})


def zscore(values: ArrayLike, period: int = 20) -> ArrayLike:
    """滚动 z 分数：(x - SMA(period)) / 总体标准差(period)；标准差为 0（常数窗口）时为 NaN。见 rolling_moments。"""
    out = rolling_moments(values, period)["zscore"].to_numpy()
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
