"""沙盒行情（market.py、sources.py）：K 线内的价格折线、无限延长、多文件对齐与交易对推断。"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tradeterm.sandbox.market import CandleSeries, SymbolMarket, default_spec
from tradeterm.sandbox.sources import load_replay_markets, load_synthetic_markets, symbol_from_filename
from tests.conftest import BTC_USDT_1M, ETH_BTC_5M

# 1 分钟，毫秒
MINUTE = 60_000


def _series(rows: list[tuple[float, float, float, float]]) -> CandleSeries:
    """由手写的 (开, 高, 低, 收) 生成 1 分钟 K 线序列（价格步长 0.01，量 1）。"""
    frame = pd.DataFrame(rows, columns=["open", "high", "low", "close"])
    frame.insert(0, "timestamp", [k * MINUTE for k in range(len(rows))])
    frame["volume"] = 1.0
    return CandleSeries(frame, MINUTE, 0.01)


def test_price_walks_open_low_high_close_in_a_rising_bar():
    """收涨的 K 线：0 -> 开 100，1/3 -> 低 99，2/3 -> 高 103，1 -> 收 102；中间线性插值。"""
    series = _series([(100, 103, 99, 102)])
    assert [series.price_at(0, f) for f in (0, 1 / 3, 2 / 3, 1)] == pytest.approx([100, 99, 103, 102])
    assert series.price_at(0, 1 / 6) == pytest.approx(99.5)
    # 走到一半：最高只到过 101（99 -> 103 的四分之一），最低 99
    assert series.extremes(0, 0.0, 0.5) == pytest.approx((101, 99))


def test_price_visits_the_high_first_in_a_falling_bar():
    """收跌的 K 线先探高再探低：1/3 处为高 105，2/3 处为低 97。"""
    series = _series([(100, 105, 97, 98)])
    assert series.price_at(0, 1 / 3) == pytest.approx(105)
    assert series.price_at(0, 2 / 3) == pytest.approx(97)


def test_segments_cover_every_bar_between_two_times():
    """跨三根 K 线的一段时间被切成三段，每段的高低点就是各根 K 线（或其一部分）的高低点。"""
    series = _series([(100, 103, 99, 102), (102, 104, 101, 101), (101, 102, 95, 96)])
    market = SymbolMarket(default_spec("BTC/USDT", 100), series)
    segments = list(market.segments(0, 2 * MINUTE + MINUTE // 2))
    assert [s[0] for s in segments] == [0, 1, 2]
    assert segments[1][2:4] == pytest.approx((104, 101))
    assert segments[0][1] == pytest.approx(100) and segments[2][4] == pytest.approx(market.price(2 * MINUTE
                                                                                                 + MINUTE // 2))


def test_series_repeats_scaled_so_the_replay_never_ends():
    """序列走完后接上一份按比例缩放的副本：第一根副本开在上一根的收盘价。"""
    series = _series([(100, 103, 99, 102), (102, 104, 101, 101)])
    series.ensure(5)
    assert len(series) >= 6
    assert series.open[2] == pytest.approx(101)
    assert series.close[3] == pytest.approx(101 * 101 / 100, abs=0.01)


def test_symbol_is_read_from_the_file_name():
    """从文件名推断交易对。"""
    assert symbol_from_filename(Path("binanceus_BTCUSDT_1m_2023-03.csv")) == "BTC/USDT"
    assert symbol_from_filename(Path("freqtrade_ETHBTC_5m.csv")) == "ETH/BTC"
    assert symbol_from_filename(Path("prices.csv")) is None


def test_replay_files_are_aligned_at_their_replay_start():
    """两个不同时期的文件：第二个整体平移，使两者的回放起点（第 history 根）对齐到第一个文件的时间。"""
    markets, start_ts = load_replay_markets([str(BTC_USDT_1M), str(ETH_BTC_5M)], history_bars=1_000)
    btc, eth = markets["BTCUSDT"], markets["ETHBTC"]
    assert start_ts == 1_677_628_800_000 + 1_000 * MINUTE
    assert eth.series.bar_ts(1_000) == start_ts
    assert btc.spec.price_tick == 0.01 and eth.spec.quote == "BTC" and eth.spec.min_notional == 0.0001


def test_synthetic_market_starts_at_the_current_minute_with_history_behind_it():
    """合成行情：第 history 根开在当前分钟；BTC 与 ETH 用不同种子、价格量级不同。"""
    markets, start_ts = load_synthetic_markets(("BTC/USDT", "ETH/USDT"), seed=7, history_bars=500,
                                               now_ms=1_700_000_030_000)
    assert start_ts == 1_700_000_000_000 - 1_700_000_000_000 % MINUTE
    btc, eth = markets["BTCUSDT"], markets["ETHUSDT"]
    assert btc.series.bar_ts(500) == start_ts
    assert btc.price(start_ts) > 10 * eth.price(start_ts)
    assert eth.spec.amount_step == 0.0001 and btc.spec.amount_step == 0.00001


def test_perpetual_symbols_share_the_spot_series():
    """交易对写成合约形式（BTC/USDT:USDT）时沙盒按现货 BTC/USDT 生成行情（永续合约共用它），重复的只生成一次。"""
    markets, _ = load_synthetic_markets(("BTC/USDT:USDT", "ETH/USDT", "BTC/USDT"), seed=7, history_bars=100,
                                        now_ms=1_700_000_030_000)
    assert sorted(markets) == ["BTCUSDT", "ETHUSDT"]
    assert markets["BTCUSDT"].spec.quote == "USDT"
