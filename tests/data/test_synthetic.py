"""合成行情：同种子可复现、K 线自洽、有波动聚集与不同的趋势状态。"""

from __future__ import annotations

import numpy as np

from tradeterm.data import synthetic_ohlcv
from tradeterm.data.checks import validate_ohlcv


def test_same_seed_same_market_and_bars_are_consistent():
    """同一种子两次生成完全相同；不同种子不同；每根 K 线 low <= open/close <= high，时间等距。"""
    a, b = synthetic_ohlcv(3000, seed=3), synthetic_ohlcv(3000, seed=3)
    assert a.equals(b) and not a.equals(synthetic_ohlcv(3000, seed=4))
    validate_ohlcv(a, "synthetic")
    assert set(np.diff(a["timestamp"])) == {60_000}
    assert (a["open"].iloc[1:].to_numpy() == a["close"].iloc[:-1].to_numpy()).all()


def test_volatility_clusters():
    """波动聚集：收益绝对值的一阶自相关显著为正（独立同分布时约为 0）。"""
    returns = np.diff(np.log(synthetic_ohlcv(20_000, seed=1)["close"].to_numpy()))
    magnitude = np.abs(returns) - np.abs(returns).mean()
    autocorrelation = (magnitude[1:] * magnitude[:-1]).mean() / magnitude.var()
    assert autocorrelation > 0.05
