"""K 线缓存（tradeterm/data/cache.py）：合并去重、区间、缺口、读写与 CSV 导入导出，用 tmp_path 里的真实文件。"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradeterm.data import CandleCache, load_ohlcv_csv
from tradeterm.data.cache import Candles, Gap, find_gaps, merge_candles, merge_ranges, missing_ranges
from tradeterm.errors import DataError
from tests.conftest import BTC_USDT_1M

# 1 分钟，毫秒
MINUTE = 60_000


def _ohlcv(values: list[float]) -> np.ndarray:
    """每根 K 线五列都取同一个值的 (n, 5) 数组（便于看出哪根来自哪次写入）。"""
    return np.repeat(np.asarray(values, np.float64)[:, None], 5, axis=1)


def test_merge_deduplicates_by_timestamp_and_new_values_win():
    """同一开盘时间出现两次时保留新值；结果按时间排序；取过的区间合并。"""
    old = merge_candles(Candles.empty(), np.array([0, MINUTE, 2 * MINUTE]), _ohlcv([1, 2, 3]), (0, 3 * MINUTE))
    new = merge_candles(old, np.array([3 * MINUTE, MINUTE]), _ohlcv([40, 20]), (MINUTE, 4 * MINUTE))
    assert new.ts.tolist() == [0, MINUTE, 2 * MINUTE, 3 * MINUTE]
    assert new.ohlcv[:, 0].tolist() == [1, 20, 3, 40]
    assert new.ranges.tolist() == [[0, 4 * MINUTE]]


def test_missing_ranges_returns_only_uncovered_parts():
    """已取过 [10,20) 与 [30,40)：请求 [0,50) 时缺 [0,10)、[20,30)、[40,50)；请求 [12,18) 时不缺。"""
    ranges = merge_ranges(np.array([[30, 40], [10, 20]]))
    assert missing_ranges(ranges, 0, 50) == [(0, 10), (20, 30), (40, 50)]
    assert missing_ranges(ranges, 12, 18) == []
    assert missing_ranges(np.empty((0, 2), np.int64), 5, 9) == [(5, 9)]


def test_find_gaps_counts_missing_bars():
    """开盘时间 0,1,2,5,6（分钟）：缺 3、4 两根，缺口从第 3 分钟到第 5 分钟。"""
    ts = np.array([0, 1, 2, 5, 6]) * MINUTE
    assert find_gaps(ts, MINUTE) == [Gap(3 * MINUTE, 5 * MINUTE, 2)]
    assert find_gaps(ts[:3], MINUTE) == []


def test_save_and_load_round_trip_without_leaving_temp_files(tmp_path):
    """写入再读出逐位相同；目录里只有最终文件（临时文件已改名）。"""
    cache = CandleCache(tmp_path)
    candles = merge_candles(Candles.empty(), np.arange(5) * MINUTE, _ohlcv([1, 2, 3, 4, 5]), (0, 5 * MINUTE))
    path = cache.save("binance", "BTC/USDT", "1m", candles)
    loaded = cache.load("binance", "BTC/USDT", "1m")
    assert np.array_equal(loaded.ts, candles.ts) and np.array_equal(loaded.ohlcv, candles.ohlcv)
    assert np.array_equal(loaded.ranges, candles.ranges)
    assert sorted(p.name for p in path.parent.iterdir()) == ["1m.npz"]
    assert path == tmp_path / "binance" / "BTC-USDT" / "1m.npz"


def test_corrupt_cache_file_raises_data_error_naming_the_file(tmp_path):
    """缓存文件损坏：DataError 写明路径并建议删除重取。"""
    cache = CandleCache(tmp_path)
    path = cache.path("binance", "BTC/USDT", "1m")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a zip file")
    with pytest.raises(DataError, match="delete the file"):
        cache.load("binance", "BTC/USDT", "1m")


def test_csv_import_then_export_round_trips_the_real_file(tmp_path):
    """导入真实的 BTC/USDT 1m CSV（30,240 根）后导出，内容与原文件一致；整个文件覆盖的区间记为已取过。"""
    cache = CandleCache(tmp_path / "cache")
    candles = cache.import_csv(BTC_USDT_1M, "binance", "BTC/USDT", "1m")
    assert len(candles) == 30_240
    assert candles.ranges.tolist() == [[int(candles.ts[0]), int(candles.ts[-1]) + MINUTE]]
    out = tmp_path / "out.csv"
    assert cache.export_csv("binance", "BTC/USDT", "1m", out) == 30_240
    pd.testing.assert_frame_equal(load_ohlcv_csv(out), load_ohlcv_csv(BTC_USDT_1M))


def test_entries_list_each_series_with_gaps(tmp_path):
    """entries 列出每个缓存文件：交易对、周期、首末根、根数与缺口。"""
    cache = CandleCache(tmp_path)
    frame = load_ohlcv_csv(BTC_USDT_1M).iloc[:100]
    frame = frame.drop(index=[10, 11, 12])
    csv = tmp_path / "holes.csv"
    frame.to_csv(csv, index=False)
    cache.import_csv(csv, "binance", "BTC/USDT", "1m")
    [entry] = cache.entries()
    assert (entry.exchange, entry.symbol, entry.timeframe, entry.bars) == ("binance", "BTC/USDT", "1m", 97)
    assert entry.first == 1_677_628_800_000 and entry.last == 1_677_628_800_000 + 99 * MINUTE
    assert entry.gaps == [Gap(1_677_628_800_000 + 10 * MINUTE, 1_677_628_800_000 + 13 * MINUTE, 3)]


# 预热 1e15 根 1 分钟 K 线（slow: 1e15 时引擎的预热窗口为 2 x slow）要回溯的毫秒数
HUGE_WARMUP_MS = 2 * 10**15 * MINUTE
# 时间超出 int64 时错误消息的后半句
BEYOND_INT64 = ("ms is beyond what a 64-bit millisecond time can hold; such a time comes from a history or strategy "
                "warm-up that is far too long (e.g. a window parameter like slow: 1e15): lower the strategy's window "
                "parameters")


def test_times_beyond_int64_are_a_data_error_not_an_overflow_error():
    """issue 19：slow: 1e15 让 data/cache.py 抛 OverflowError。合并、取区间、算缺的区间遇到超出 int64 的时间
    （或 nan/inf）都抛 DataError，写明是哪一端、值多少、多半是预热窗口太长。"""
    candles = merge_candles(Candles.empty(), np.arange(3) * MINUTE, _ohlcv([1, 2, 3]), (0, 3 * MINUTE))
    start = 1_700_000_000_000 - HUGE_WARMUP_MS
    calls = [lambda: merge_candles(candles, np.empty(0, np.int64), np.empty((0, 5)), (start, MINUTE)),
             lambda: candles.to_frame(start, MINUTE), lambda: missing_ranges(candles.ranges, start, MINUTE)]
    for call in calls:
        with pytest.raises(DataError) as caught:
            call()
        assert str(caught.value) == f"candle range start {start} {BEYOND_INT64}"
    with pytest.raises(DataError) as caught:
        missing_ranges(candles.ranges, 0, float("inf"))
    assert str(caught.value) == f"candle range end inf {BEYOND_INT64}"
    # int64 之内的时间照常工作（早于 1970 的区间只是没有数据）
    assert missing_ranges(candles.ranges, -10 * MINUTE, 4 * MINUTE) == [(-10 * MINUTE, 0), (3 * MINUTE, 4 * MINUTE)]
    assert len(candles.to_frame(-(2**63), 2**63 - 1)) == 3


async def test_huge_warm_up_history_is_refused_before_any_kline_request(tmp_path):
    """对着进程内沙盒：像引擎预热那样取“现在 - 2e15 根 1m”起的历史，得到 DataError，且一个 klines 请求也没发。"""
    from tradeterm.data import MarketData
    from tradeterm.sandbox import SandboxExchange

    async with SandboxExchange(port=0, speed=60, tick_s=0.05, history_bars=300) as sandbox:
        client = sandbox.client(timeout_ms=2_000)
        try:
            market = MarketData(client, CandleCache(tmp_path), exchange_id="sandbox")
            now = await market.exchange_now()
            with pytest.raises(DataError) as caught:
                await market.get_ohlcv("BTC/USDT", "1m", since=now - HUGE_WARMUP_MS)
            assert str(caught.value).startswith("candle range start -") and "slow: 1e15" in str(caught.value)
            assert sandbox.requests_to("/api/v3/klines") == []
        finally:
            await client.close()


def test_csv_import_names_the_first_unaligned_timestamp(tmp_path):
    """导入 1m 的文件却声明 5m：指出第一根不在 5 分钟边界上的开盘时间（毫秒与 UTC 时间）。"""
    cache = CandleCache(tmp_path / "cache")
    with pytest.raises(DataError) as caught:
        cache.import_csv(BTC_USDT_1M, "binance", "BTC/USDT", "5m")
    assert str(caught.value) == (f"{BTC_USDT_1M}: timestamp 1677628860000 (2023-03-01 00:01:00 UTC) is not the start "
                                 f"of a 5m bar; check the TIMEFRAME argument")
