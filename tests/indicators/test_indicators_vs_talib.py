"""指标与 TA-Lib 的一致性：在真实 K 线上逐点比较，预热期之后相对误差不超过 1e-9。"""

from __future__ import annotations

import numpy as np
import pytest
import talib

from tradeterm import indicators as ta

# 相对容差（问题单要求）
RTOL = 1e-9


def assert_close(ours, reference, skip: int = 0, atol: float = 0.0) -> None:
    """从下标 skip 起逐点比较：NaN 的位置必须相同，数值在 RTOL（与可选 atol）内。"""
    ours, reference = np.asarray(ours, dtype=float)[skip:], np.asarray(reference, dtype=float)[skip:]
    assert ours.shape == reference.shape
    assert np.array_equal(np.isnan(ours), np.isnan(reference)), "NaN (warm-up) positions differ"
    mask = ~np.isnan(reference)
    assert mask.sum() > 1000, "too few comparable values"
    np.testing.assert_allclose(ours[mask], reference[mask], rtol=RTOL, atol=atol)


@pytest.fixture(scope="module", params=["btc", "ethbtc"])
def ohlc(request, btc_bars, eth_btc_bars):
    """两份真实数据（高价的 BTC/USDT 与低价的 ETH/BTC）各跑一遍。"""
    bars = btc_bars if request.param == "btc" else eth_btc_bars
    return {k: bars[k].to_numpy() for k in ("open", "high", "low", "close")}


@pytest.mark.parametrize("period", [5, 20, 50])
def test_sma_matches_talib(ohlc, period):
    """SMA 与 TA-Lib SMA 一致，NaN 个数同为 period-1。"""
    assert_close(ta.sma(ohlc["close"], period), talib.SMA(ohlc["close"], period))


@pytest.mark.parametrize("period", [5, 20, 50])
def test_ema_matches_talib_from_first_value(ohlc, period):
    """EMA 的种子同为前 period 个值的 SMA，所以从第一个值起就一致。"""
    assert_close(ta.ema(ohlc["close"], period), talib.EMA(ohlc["close"], period))


def test_macd_matches_talib_after_warmup(ohlc):
    """MACD：TA-Lib 推迟了快线 EMA 的种子，早期差异按 (11/13)^n 衰减；500 根之后三列都在 1e-9 内。

    macd 与 hist 在零附近时相对误差没有意义，所以给一个远小于价格最小变动的绝对容差。
    """
    ours = ta.macd(ohlc["close"], 12, 26, 9)
    macd, signal, hist = talib.MACD(ohlc["close"], 12, 26, 9)
    scale = np.nanmean(np.abs(ohlc["close"])) * 1e-12
    assert_close(ours["macd"], macd, skip=500, atol=scale)
    assert_close(ours["signal"], signal, skip=500, atol=scale)
    assert_close(ours["histogram"], hist, skip=500, atol=scale)


@pytest.mark.parametrize("period", [7, 14])
def test_rsi_matches_talib(ohlc, period):
    """Wilder RSI 与 TA-Lib 的种子约定相同，从第一个值起一致。"""
    assert_close(ta.rsi(ohlc["close"], period), talib.RSI(ohlc["close"], period))


def test_bollinger_matches_talib(ohlc):
    """布林带三条线与 TA-Lib BBANDS（总体标准差）一致。"""
    ours = ta.bollinger(ohlc["close"], 20, 2.0)
    upper, middle, lower = talib.BBANDS(ohlc["close"], 20, 2.0, 2.0)
    assert_close(ours["upper"], upper)
    assert_close(ours["middle"], middle)
    assert_close(ours["lower"], lower)


@pytest.mark.parametrize("period", [14, 30])
def test_atr_matches_talib(ohlc, period):
    """ATR（Wilder 平滑，第一根无前收）与 TA-Lib 一致。"""
    assert_close(ta.atr(ohlc["high"], ohlc["low"], ohlc["close"], period),
                 talib.ATR(ohlc["high"], ohlc["low"], ohlc["close"], period))


def test_zscore_matches_talib_formula(ohlc):
    """z 分数 = (close - SMA) / STDDEV（TA-Lib 的总体标准差）。

    z 在 0 附近时分子是两个大数之差，相对误差无意义；z 是无量纲的、量级为 1，所以加 1e-9 的绝对容差。
    """
    close = ohlc["close"]
    reference = (close - talib.SMA(close, 20)) / talib.STDDEV(close, 20, 1)
    assert_close(ta.zscore(close, 20), reference, atol=1e-9)


@pytest.mark.parametrize("period", [1, 10])
def test_roc_matches_talib_rocp(ohlc, period):
    """ROC（小数）与 TA-Lib ROCP 一致。"""
    assert_close(ta.roc(ohlc["close"], period), talib.ROCP(ohlc["close"], period), atol=1e-15)


def test_donchian_matches_talib_max_min(ohlc):
    """唐奇安通道上下轨与 TA-Lib MAX(high)/MIN(low) 一致。"""
    ours = ta.donchian(ohlc["high"], ohlc["low"], 20)
    assert_close(ours["upper"], talib.MAX(ohlc["high"], 20))
    assert_close(ours["lower"], talib.MIN(ohlc["low"], 20))


def test_indicators_keep_series_index(btc_bars):
    """输入 Series 时输出保持同一索引（策略把结果直接放进 DataFrame）。"""
    close = btc_bars["close"].iloc[100:400]
    assert ta.sma(close, 10).index.equals(close.index)
    assert ta.macd(close).index.equals(close.index)


def test_bad_period_is_rejected():
    """周期必须是正整数；0、负数、小数、布尔都报错。"""
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="positive integer"):
            ta.sma(np.arange(10.0), bad)
