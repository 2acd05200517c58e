"""组合时间轴的模糊测试（hypothesis）：任意几个实例（周期、起点、根数、盈亏随机）上，组合时间轴的行数受数据量约束，
包含每个实例的每根 K 线，组合权益与逐行按定义算出的参照值逐位相同；超过上限的计划得到 TimelineTooLarge。"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, strategies as st

from tradeterm.backtest import timeline
from tradeterm.backtest.results import InstanceResult
from tradeterm.backtest.timeline import GRID_PADDING, TimelineTooLarge, portfolio_curve
from tradeterm.config.markets import timeframe_ms

# 整个模块都是模糊测试
pytestmark = pytest.mark.fuzz

# 2023-01-01 00:00 UTC，毫秒
T0 = 1_672_531_200_000
# 参与的周期
TIMEFRAMES = ["1m", "5m", "1h", "1d", "1M"]


@st.composite
def instance(draw, index: int) -> InstanceResult:
    """一个随机实例：周期、起点（该周期的整数倍偏移）、根数 0..60、每根的盈亏（整数 USDT，便于逐位比较）。"""
    frame = draw(st.sampled_from(TIMEFRAMES))
    step = timeframe_ms(frame)
    start = T0 + draw(st.integers(0, 200)) * step
    bars = draw(st.integers(0, 60))
    pnl = np.array(draw(st.lists(st.integers(-500, 500), min_size=bars, max_size=bars)), dtype=float)
    stamps = start + step * np.arange(bars, dtype=np.int64)
    return InstanceResult(name=f"i{index}", strategy="x", symbol="BTC/USDT", timeframe=frame, budget=1000.0,
                          timestamps=stamps, close=np.ones(bars), equity=1000.0 + pnl, trades=[])


@st.composite
def portfolios(draw) -> list[InstanceResult]:
    """2..4 个随机实例。"""
    count = draw(st.integers(2, 4))
    return [draw(instance(k)) for k in range(count)]


def expected_equity(instances: list[InstanceResult], stamps: np.ndarray, cash: float) -> np.ndarray:
    """参照：时间轴每一行（收盘于 开盘 + 最短周期）上，各实例收盘时间不晚于它的最后一根的盈亏之和，加初始资金。"""
    step = min(timeframe_ms(r.timeframe) for r in instances)
    out = []
    for ts in stamps.tolist():
        total = cash
        for r in instances:
            closes = (r.timestamps + timeframe_ms(r.timeframe)).tolist()
            done = [k for k, c in enumerate(closes) if c <= ts + step]
            if done:
                total += float(r.equity[done[-1]] - r.budget)
        out.append(total)
    return np.array(out)


@given(instances=portfolios())
def test_timeline_is_sized_by_the_data_and_the_equity_is_exact(instances):
    """行数 <= max(GRID_PADDING * 总根数, 0) + 总根数；严格递增；包含每根 K 线；权益与参照逐位相同。"""
    bars = sum(len(r.timestamps) for r in instances)
    stamps, equity = portfolio_curve(instances, 1000.0)
    assert len(stamps) <= GRID_PADDING * bars + bars
    assert np.all(np.diff(stamps) > 0)
    for r in instances:
        assert np.isin(r.timestamps, stamps).all()
    np.testing.assert_array_equal(equity, expected_equity(instances, stamps, 1000.0))


@given(instances=portfolios(), limit=st.integers(1, 80))
def test_a_plan_above_the_limit_is_refused_with_the_numbers(instances, limit):
    """上限调到 limit 行：时间轴放得下就照常给出（行数 <= 上限；起点都在最短周期的网格上，所以网格外没有额外的行），
    放不下（开盘时间的并集超过上限）就抛 TimelineTooLarge，消息写明行数与上限。"""
    original = timeline.MAX_TIMELINE_ROWS
    timeline.MAX_TIMELINE_ROWS = limit
    try:
        stamps, _ = portfolio_curve(instances, 1000.0)
    except TimelineTooLarge as exc:
        union = len(np.unique(np.concatenate([r.timestamps for r in instances])))
        assert union > limit
        assert f"needs {union:,} rows" in str(exc) and f"limit of {limit:,} rows" in str(exc)
    else:
        assert len(stamps) <= limit
    finally:
        timeline.MAX_TIMELINE_ROWS = original
