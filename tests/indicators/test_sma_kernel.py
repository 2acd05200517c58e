"""SMA 的 numba 内核：与 pandas rolling mean 的缺失值/预热语义一致，长序列上精度不随长度退化。"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from tradeterm import indicators as ta

# 长序列的根数：真实收盘价平铺到百万根量级，检验滑动和的累积误差
LONG_BARS = 1_000_000


def pandas_sma(values: np.ndarray, period: int) -> np.ndarray:
    """原先的实现（pandas rolling mean，min_periods=period），作为语义基准。"""
    return pd.Series(values).rolling(period, min_periods=period).mean().to_numpy()


def direct_sma(values: np.ndarray, period: int) -> np.ndarray:
    """逐窗直接求和（long double 累加）再除以 period，作为精度基准；前 period-1 个为 NaN。"""
    out = np.full(values.shape[0], np.nan)
    windows = sliding_window_view(values.astype(np.longdouble), period)
    out[period - 1:] = (windows.sum(axis=1) / period).astype(np.float64)
    return out


@pytest.mark.parametrize("period", [1, 10, 30])
def test_sma_long_series_stays_exact(btc_bars, period):
    """百万根、价位 2 万多的收盘价上，与逐窗直接平均的最大相对误差在 1e-14 以内（远小于 1e-9 的要求）。"""
    close = btc_bars["close"].to_numpy()
    values = np.tile(close, -(-LONG_BARS // close.shape[0]))[:LONG_BARS]
    ours, reference = ta.sma(values, period), direct_sma(values, period)
    assert np.array_equal(np.isnan(ours), np.isnan(reference))
    mask = ~np.isnan(reference)
    assert np.max(np.abs(ours[mask] - reference[mask]) / np.abs(reference[mask])) < 1e-14


def test_sma_missing_values_like_pandas():
    """窗口内有 NaN 或 ±inf 即为 NaN，移出后恢复；预热期为前 period-1 个；周期长于数据时全为 NaN。"""
    rng = np.random.default_rng(7)
    values = 20_000 + np.cumsum(rng.normal(0, 5, 2_000))
    values[[3, 500, 501, 900]] = np.nan
    values[[1200, 1500]] = [np.inf, -np.inf]
    for period in (1, 2, 5, 20, 64):
        ours, reference = ta.sma(values, period), pandas_sma(values, period)
        assert np.array_equal(np.isnan(ours), np.isnan(reference)), period
        mask = ~np.isnan(reference)
        np.testing.assert_allclose(ours[mask], reference[mask], rtol=1e-13)
    assert np.isnan(ta.sma(values[:5], 10)).all()
    assert ta.sma(np.array([], dtype=float), 3).shape == (0,)


def test_sma_flat_window_is_exact():
    """窗口内的值全部相同时结果严格等于该值（平坦行情里快慢线相等，不产生假交叉），与 pandas 相同。"""
    values = np.array([0.1, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.3] * 50)
    values[200:260] = 20_123.37
    for period in (3, 5, 8):
        ours, reference = ta.sma(values, period), pandas_sma(values, period)
        flat = np.array([i >= period - 1 and np.all(values[i - period + 1:i + 1] == values[i])
                         for i in range(values.shape[0])])
        assert flat.any()
        assert np.array_equal(ours[flat], values[flat])
        assert np.array_equal(ours[flat], reference[flat])


def test_sma_return_types(btc_bars):
    """Series 输入返回同索引、名为 sma_n 的 Series；数组输入返回 float64 数组。"""
    close = btc_bars["close"].iloc[50:300]
    series = ta.sma(close, 7)
    assert isinstance(series, pd.Series) and series.index.equals(close.index) and series.name == "sma_7"
    array = ta.sma(close.to_numpy(), 7)
    assert isinstance(array, np.ndarray) and array.dtype == np.float64
    np.testing.assert_array_equal(series.to_numpy(), array)
