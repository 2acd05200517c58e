"""平局与常数窗口的模糊测试（hypothesis）：任意价位、任意窗口长度上，常数窗口恰好零方差，构造出的精确平局
落定后恰好等于阈值，指标只取决于窗口内容；MeanReversion 在恰为 -entry_z 的 z 上不开仓。"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, strategies as st

from tradeterm import indicators as ta
from tradeterm.indicators._kernels import rolling_moments_kernel
from tradeterm.models import MarketType
from tradeterm.strategy.loader import build_strategy, load_strategy_class

# 整个模块都是模糊测试
pytestmark = pytest.mark.fuzz

# 价格：最多 8 位小数的十进制数，1e-6 .. 1e7（覆盖山寨币到 BTC 的价位）
PRICES = st.builds(lambda units, places: units / 10 ** places, st.integers(1, 10 ** 9), st.integers(0, 8)).filter(
    lambda p: 1e-6 <= p <= 1e7)


def bars(closes) -> pd.DataFrame:
    """由收盘价造 1 分钟 K 线（开高低收相同）。"""
    closes = np.asarray(closes, dtype=float)
    return pd.DataFrame({"timestamp": np.arange(len(closes), dtype=np.int64) * 60_000, "open": closes,
                         "high": closes, "low": closes, "close": closes, "volume": 1.0})


@given(price=PRICES, period=st.integers(2, 60), extra=st.integers(0, 5))
def test_constant_windows_are_exactly_zero_variance(price, period, extra):
    """period + extra 根同价：每个完整窗口的均值恰为该价、标准差与偏离恰为 0、z 为 NaN；MeanReversion 没有任何信号。"""
    closes = np.full(period + extra, price)
    moments = ta.rolling_moments(closes, period).iloc[period - 1:]
    assert (moments["mean"] == price).all() and (moments["std"] == 0.0).all()
    assert (moments["deviation"] == 0.0).all() and moments["zscore"].isna().all()
    frame = build_strategy(load_strategy_class("MeanReversion"), {"window": period},
                           market_type=MarketType.FUTURES).compute(bars(closes))
    assert not frame[["enter_long", "exit_long", "enter_short", "exit_short"]].to_numpy().any()


@given(price=PRICES, step=st.integers(1, 10 ** 4), k=st.integers(1, 8), target=st.sampled_from([1, 2, 3]))
def test_constructed_z_ties_settle_exactly_on_the_threshold(price, step, k, target):
    """窗口 n = k * (1 + target^2) 根：前 n - k 根为 p，后 k 根为 p - d（d = step 个最小价位）。
    收盘 p - d 的 z = -sqrt((n - k) / k) = -target 恰好：价格尺度的比较（偏离对 -target * 标准差）落定后恰为 0。
    MeanReversion(window=n, entry_z=target) 在最后一根不开多（z < -target 不成立）；entry_z 比 target 小出
    规则的分辨率（0.001 或 10 个落定单位换算成的 z，取大者）时开多。"""
    places = max(0, -int(np.floor(np.log10(price)))) + 2
    tick = 10.0 ** -places
    low = round(price - step * tick, places)
    if not low > 0 or low == price:
        return
    n = k * (1 + target * target)
    closes = np.array([price] * (n - k) + [low] * k)
    moments = ta.rolling_moments(closes, n).iloc[-1]
    gap = ta.relative_gap(np.array([moments["deviation"]]), np.array([-target * moments["std"]]), closes[-1:])
    assert gap[0] == 0.0
    # 规则的分辨率：z 相差超过 10 个落定单位（10 * 1e-11 * 收盘价 / 标准差）才算不同
    margin = max(0.001, 10 * 10.0 ** -ta.TIE_DECIMALS * low / moments["std"])

    def entered(entry_z: float) -> bool:
        """entry_z 下最后一根是否开多。"""
        strategy = build_strategy(load_strategy_class("MeanReversion"), {"window": n, "entry_z": entry_z,
                                                                           "exit_z": -entry_z})
        return bool(strategy.compute(bars(closes))["enter_long"].iloc[-1])

    assert not entered(float(target))
    assert entered(target - margin)


@given(centre=st.integers(10 ** 4, 10 ** 8), deltas=st.lists(st.integers(1, 10 ** 4), min_size=1, max_size=20),
       places=st.integers(2, 4))
def test_symmetric_windows_have_exactly_zero_z(centre, deltas, places):
    """窗口 = 每个 delta 一对 c ± delta，再加一根 c（收盘）：十进制下窗口和恰为 n * c，z 恰为 0，偏离落定后恰为 0.0，
    MeanReversion（合约）在这一根同时给出 exit_long 与 exit_short。"""
    scale = 10 ** places
    c = centre / scale
    values = [v for d in deltas for v in ((centre + d) / scale, (centre - d) / scale)] + [c]
    n = len(values)
    deviation = ta.rolling_moments(np.array(values), n)["deviation"].to_numpy()
    assert ta.relative_gap(deviation[-1:], np.zeros(1), np.array([c]))[0] == 0.0
    frame = build_strategy(load_strategy_class("MeanReversion"), {"window": n},
                           market_type=MarketType.FUTURES).compute(bars(values))
    assert bool(frame["exit_long"].iloc[-1]) and bool(frame["exit_short"].iloc[-1])


@given(steps=st.lists(st.integers(-500, 500), min_size=30, max_size=120), start=st.integers(10 ** 5, 10 ** 7),
       period=st.integers(2, 25), cut=st.integers(0, 60))
def test_values_depend_only_on_the_window(steps, start, period, cut):
    """随机游走的价格（2 位小数）：在整段上算的最后一根均值、标准差、偏离，与去掉开头 cut 根（窗口仍完整）后算的逐位相同。"""
    closes = (start + np.cumsum(steps)) / 100.0
    if np.any(closes <= 0):
        return
    cut = min(cut, len(closes) - period)
    full = rolling_moments_kernel(closes, period)
    part = rolling_moments_kernel(closes[cut:], period)
    for a, b in zip(full, part):
        np.testing.assert_array_equal(a[-1:], b[-1:])
