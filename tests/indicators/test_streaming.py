"""流式指标（tradeterm/indicators/streaming*.py）与向量化指标逐位相同：真实行情与随机序列上，从同一根起算，
每个值（含 NaN 的位置）都一样——用 assert_array_equal，不是容差比较。

随机序列覆盖内核的各个分支：随机游走、整段平台（常数窗口、same_run）、NaN 缺口（开头的与中间的）、±inf、0（除以 0）、
负值（符号保护），以及超过 1024 根的序列（滚动均值的重新求和位置）。
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeterm import indicators as ta

# 真实行情上检查的周期
PERIODS = (1, 2, 14, 30)
# 属性测试的样例数（每个测试；保持整个文件几秒内跑完）
EXAMPLES = 25


def run(stream, *columns: np.ndarray) -> np.ndarray:
    """逐根 update，收集每根的返回值（多列指标得二维数组）。"""
    return np.array([stream.update(*values) for values in zip(*(c.tolist() for c in columns))], dtype=float)


def assert_same(streamed: np.ndarray, vectorized) -> None:
    """逐位相同（NaN 的位置也相同）。"""
    np.testing.assert_array_equal(streamed, np.asarray(vectorized, dtype=float))


def check_all(close: np.ndarray, high: np.ndarray, low: np.ndarray, period: int) -> None:
    """在一组序列上比对全部流式指标与向量化指标（同一个周期）。"""
    assert_same(run(ta.SMAStream(period), close), ta.sma(close, period))
    assert_same(run(ta.EMAStream(period), close), ta.ema(close, period))
    assert_same(run(ta.RSIStream(period), close), ta.rsi(close, period))
    assert_same(run(ta.ROCStream(period), close), ta.roc(close, period))
    assert_same(run(ta.TrueRangeStream(), high, low, close), ta.true_range(high, low, close))
    assert_same(run(ta.ATRStream(period), high, low, close), ta.atr(high, low, close, period))
    assert_same(run(ta.DonchianStream(period), high, low),
                ta.donchian(high, low, period)[["upper", "lower", "middle"]].to_numpy())
    assert_same(run(ta.RollingMomentsStream(period), close),
                ta.rolling_moments(close, period)[["mean", "std", "deviation", "zscore"]].to_numpy())
    assert_same(run(ta.BollingerStream(period, 1.5), close),
                ta.bollinger(close, period, 1.5)[["middle", "upper", "lower"]].to_numpy())
    slow = period + 3
    assert_same(run(ta.MACDStream(period, slow, 4), close),
                ta.macd(close, period, slow, 4)[["macd", "signal", "histogram"]].to_numpy())


@pytest.mark.parametrize("period", PERIODS)
def test_every_streaming_indicator_equals_the_vectorized_one_on_btc_usdt(btc_bars, period):
    """30,240 根真实 BTC/USDT 1 分钟 K 线（跨过 29 次滚动均值的重新求和）：全部指标逐位相同。"""
    check_all(btc_bars["close"].to_numpy(), btc_bars["high"].to_numpy(), btc_bars["low"].to_numpy(), period)


@pytest.mark.parametrize("period", PERIODS)
def test_every_streaming_indicator_equals_the_vectorized_one_on_eth_btc(eth_btc_bars, period):
    """5,760 根真实 ETH/BTC 5 分钟 K 线（价位 0.1 左右，小数位多）：全部指标逐位相同。"""
    check_all(eth_btc_bars["close"].to_numpy(), eth_btc_bars["high"].to_numpy(), eth_btc_bars["low"].to_numpy(),
              period)


def test_default_parameters_match_on_real_candles(btc_bars):
    """缺省参数（MACD 12/26/9、RSI 14、布林带 20/2、ATR 14、唐奇安 20、ROC 10）也逐位相同。"""
    close, high, low = (btc_bars[c].to_numpy() for c in ("close", "high", "low"))
    assert_same(run(ta.MACDStream(), close), ta.macd(close)[["macd", "signal", "histogram"]].to_numpy())
    assert_same(run(ta.RSIStream(), close), ta.rsi(close))
    assert_same(run(ta.BollingerStream(), close), ta.bollinger(close)[["middle", "upper", "lower"]].to_numpy())
    assert_same(run(ta.ATRStream(), high, low, close), ta.atr(high, low, close))
    assert_same(run(ta.DonchianStream(), high, low), ta.donchian(high, low)[["upper", "lower", "middle"]].to_numpy())
    assert_same(run(ta.ROCStream(), close), ta.roc(close))


def test_extend_seeds_the_same_state_as_updating_bar_by_bar(btc_bars):
    """extend(历史) 之后继续 update，与从头逐根 update 得到同样的值（历史用 numpy 数组、之后用 Python 数）。"""
    close = btc_bars["close"].to_numpy()[:3000]
    high, low = btc_bars["high"].to_numpy()[:3000], btc_bars["low"].to_numpy()[:3000]
    seeded, stepped = ta.SMAStream(20), ta.SMAStream(20)
    last = seeded.extend(close[:2000])
    assert last == run(stepped, close[:2000])[-1] == seeded.value
    assert_same(run(seeded, close[2000:]), run(stepped, close[2000:]))
    atr = ta.ATRStream(14)
    atr.extend(high[:2000], low[:2000], close[:2000])
    assert_same(run(atr, high[2000:], low[2000:], close[2000:]), ta.atr(high, low, close, 14)[2000:])
    assert math.isnan(ta.EMAStream(5).extend([]))


@pytest.mark.parametrize("period", [2, 13, 40])
def test_sma_re_sums_at_the_same_positions_as_the_kernel(period):
    """数量级悬殊的序列（1e15 与 1e-3 混在一起，正负相间，6,000 根）：补偿和的残余误差在这里足以改变末位，
    所以重新求和的位置（从第一根起每 1024 个位置）错一个，结果就不再逐位相同（不重新求和的版本在第 1,060 根就不同）。"""
    rng = np.random.default_rng(7)
    values = rng.choice([1e15, 1.0, 0.1, 1e-3, 3.3e7], 6000) * rng.choice([1.0, -1.0], 6000) * rng.random(6000)
    assert_same(run(ta.SMAStream(period), values), ta.sma(values, period))


def test_streams_warm_up_with_nan_like_the_vectorized_form():
    """手算：SMA(3) 在 [1, 2, 3, 4] 上为 [NaN, NaN, 2, 3]；EMA(3) 种子 2（前三个的均值），之后 2 + 0.5 * (4 - 2) = 3；
    ROC(2) 在 [1, 2, 4] 上第 2 根为 4/1 - 1 = 3；RSI(2) 在 [1, 2, 1] 上涨 1 跌 1，种子 50。"""
    assert run(ta.SMAStream(3), np.array([1.0, 2, 3, 4])).tolist()[2:] == [2.0, 3.0]
    assert run(ta.EMAStream(3), np.array([1.0, 2, 3, 4])).tolist()[2:] == [2.0, 3.0]
    assert run(ta.ROCStream(2), np.array([1.0, 2, 4])).tolist()[2] == 3.0
    assert run(ta.RSIStream(2), np.array([1.0, 2, 1])).tolist()[2] == 50.0


def test_roc_divides_by_zero_like_numpy():
    """前值为 0：正数 / 0 = inf，0 / 0 = NaN，负数 / -0.0 = inf（IEEE，与 numpy 相同，不抛 ZeroDivisionError）。"""
    values = np.array([0.0, 0.0, -0.0, 3.0, 0.0, -2.0])
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = ta.roc(values, 1)
    assert_same(run(ta.ROCStream(1), values), expected)


def test_bad_periods_are_refused_like_the_vectorized_functions():
    """周期不是正整数、MACD 的 fast >= slow、布林带的带宽不为正：ValueError，与向量化函数的检查相同。"""
    for make in (lambda: ta.SMAStream(0), lambda: ta.EMAStream(2.5), lambda: ta.RSIStream(True),
                 lambda: ta.MACDStream(26, 12, 9), lambda: ta.BollingerStream(20, 0.0)):
        with pytest.raises(ValueError):
            make()


def test_scalar_settle_equals_the_array_settle_on_every_kind_of_value():
    """settle_value 与 ta.settle 逐位相同：五成双的平局（2.5e-11、3.5e-11）、-0.0、NaN、±inf、乘 1e11 溢出的大数。"""
    values = np.array([2.5e-11, 3.5e-11, -2.5e-11, 1.234567890125e-3, -0.0, -3e-12, 0.0, math.nan, math.inf,
                       -math.inf, 1e300, -1e300, 5e-12, 123456.789012345678])
    with np.errstate(over="ignore"):
        expected = ta.settle(values)
    assert_same(np.array([ta.settle_value(v) for v in values.tolist()]), expected)
    assert [math.copysign(1.0, ta.settle_value(v)) for v in (-0.0, -3e-12)] == [-1.0, -1.0]


@settings(max_examples=EXAMPLES)
@given(st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=60),
       st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=60), st.lists(st.floats(1e-3, 1e6), min_size=1, max_size=60))
def test_scalar_relative_gap_equals_the_array_relative_gap(lines, others, scales):
    """relative_gap_value 与 ta.relative_gap 逐位相同（含 NaN、inf 与 0 作尺度）。"""
    n = min(len(lines), len(others), len(scales))
    line, other, scale = (np.array(v[:n]) for v in (lines, others, scales))
    scale[::3] = 0.0
    with np.errstate(over="ignore"):
        expected = ta.relative_gap(line, other, scale)
    pairs = zip(line.tolist(), other.tolist(), scale.tolist())
    assert_same(np.array([ta.relative_gap_value(a, b, c) for a, b, c in pairs]), expected)


@st.composite
def series(draw) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """随机的 (close, high, low)：随机游走的片段、平台、NaN 缺口、偶尔的 ±inf 与 0，长度 1..1,500。"""
    length = draw(st.integers(1, 1500))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    close = draw(st.sampled_from([100.0, 0.07, 25_000.0])) * np.exp(np.cumsum(rng.normal(0, 0.01, length)))
    close = np.round(close, draw(st.sampled_from([2, 5, 8])))
    for _ in range(draw(st.integers(0, 4))):  # 平台：一段收盘价相同
        start, span = int(rng.integers(0, length)), int(rng.integers(2, 60))
        close[start:start + span] = close[start]
    if draw(st.booleans()):  # 负值：符号保护的分支
        close = close - np.median(close)
    spread = np.abs(rng.normal(0, 0.005, length)) * np.abs(close)
    high, low = close + spread, close - spread
    for column in (close, high, low):
        if draw(st.booleans()):  # 开头的 NaN
            column[:int(rng.integers(1, 30))] = math.nan
        for _ in range(draw(st.integers(0, 3))):  # 中间的 NaN 缺口
            start = int(rng.integers(0, length))
            column[start:start + int(rng.integers(1, 10))] = math.nan
        if draw(st.integers(0, 9)) == 0:  # 偶尔的 ±inf 与 0
            column[int(rng.integers(0, length))] = draw(st.sampled_from([math.inf, -math.inf, 0.0]))
    return close, high, low


@settings(max_examples=EXAMPLES)
@given(series(), st.sampled_from([1, 2, 3, 7, 20]))
def test_streaming_equals_vectorized_on_random_series(data, period):
    """随机序列、几种周期：全部流式指标与向量化指标逐位相同。"""
    close, high, low = data
    with np.errstate(all="ignore"):
        check_all(close, high, low, period)
