"""回测逐根序列的编码（tradeterm/journal/series.py）：压缩块逐位读回，含 NaN、无穷、-0.0、不等距与空的序列；
坏块与不认识的编码报错。"""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from tradeterm.journal.schema import connect
from tradeterm.journal.series import CODEC, decode_series, encode_series, read_series, write_series


def same_bits(stored: np.ndarray, expected: np.ndarray) -> bool:
    """两个数组的类型、长度与每个元素的位模式都相同。"""
    return (stored.dtype == expected.dtype and stored.shape == expected.shape
            and stored.tobytes() == np.ascontiguousarray(expected).tobytes())


def test_awkward_values_and_irregular_times_round_trip_bit_for_bit():
    """NaN、±inf、-0.0、最小的次正规数与不等距（有缺口、跨度极大）的时间戳：解码后逐位相同，且是可写的新数组。"""
    stamps = np.array([0, 60_000, 120_000, 10**15, 10**15 + 1, 2**62], dtype=np.int64)
    values = np.array([np.nan, np.inf, -np.inf, -0.0, 5e-324, 1.7976931348623157e308])
    decoded_ts, decoded_values = decode_series(*encode_series(stamps, values), len(stamps))
    assert same_bits(decoded_ts, stamps) and same_bits(decoded_values, values)
    decoded_values[0] = 1.0  # 调用方（如界面的对比图）可以直接改
    assert decoded_ts.flags.writeable


def test_an_empty_series_round_trips():
    """零根 K 线的序列：编码、解码都得到空的 int64 / float64 数组。"""
    stamps, values = decode_series(*encode_series(np.zeros(0, dtype=np.int64), np.zeros(0)), 0)
    assert stamps.dtype == np.int64 and values.dtype == np.float64 and len(stamps) == len(values) == 0


def test_a_regular_million_point_axis_compresses_to_a_few_kilobytes():
    """等距的时间轴差分后几乎全是同一个数：一百万个 1 分钟时间戳的块只有几十 KB（原始 8 MB）。"""
    stamps = 1_677_628_800_000 + 60_000 * np.arange(1_000_000, dtype=np.int64)
    ts_blob, _ = encode_series(stamps, np.ones(len(stamps)))
    assert len(ts_blob) < 100_000


def test_mismatched_lengths_and_damaged_blobs_are_refused():
    """时间与数值长度不同时拒绝编码；块里的点数与 points 不符时拒绝解码（库被改坏了）。"""
    with pytest.raises(ValueError, match="same length"):
        encode_series(np.arange(3, dtype=np.int64), np.zeros(2))
    ts_blob, value_blob = encode_series(np.arange(3, dtype=np.int64), np.zeros(3))
    with pytest.raises(ValueError, match="expected 4"):
        decode_series(ts_blob, value_blob, 4)


def test_read_series_reads_the_row_written_in_the_same_journal(tmp_path):
    """write_series 写一行、read_series 读回；没有这条序列时得到两个空数组；不认识的编码名报错并提示升级。"""
    conn = connect(tmp_path / "j.db")
    try:
        conn.execute("INSERT INTO runs (kind, started_ts, starting_cash, settings) VALUES ('backtest', 1, 100, '{}')")
        stamps, values = np.array([5, 7, 20], dtype=np.int64), np.array([100.0, 99.5, np.nan])
        write_series(conn, 1, "bot", "equity", stamps, values)
        conn.commit()
        read_ts, read_values = read_series(conn, 1, "bot")
        assert same_bits(read_ts, stamps) and same_bits(read_values, values)
        missing_ts, missing_values = read_series(conn, 1, "other")
        assert len(missing_ts) == len(missing_values) == 0
        conn.execute("UPDATE run_series SET codec = 'zstd:future'")
        with pytest.raises(ValueError, match="upgrade tradeterm"):
            read_series(conn, 1, "bot")
    finally:
        conn.close()


def test_codec_name_is_stored_with_each_row(tmp_path):
    """每行记下自己的编码名（以后换编码时旧行照样能认出来）。"""
    conn = connect(tmp_path / "j.db")
    try:
        conn.execute("INSERT INTO runs (kind, started_ts, starting_cash, settings) VALUES ('backtest', 1, 100, '{}')")
        write_series(conn, 1, "", "equity", np.array([1], dtype=np.int64), np.array([1.0]))
        conn.commit()
    finally:
        conn.close()
    raw = sqlite3.connect(tmp_path / "j.db")
    try:
        assert raw.execute("SELECT codec, points FROM run_series").fetchall() == [(CODEC, 1)]
    finally:
        raw.close()
