"""K 线 CSV：真实文件读取、ISO 8601 时间、各种坏文件的报错。"""

from __future__ import annotations

import pytest

from tests.conftest import BTC_USDT_1M
from tradeterm.data import load_ohlcv_csv, save_ohlcv_csv
from tradeterm.errors import DataError

# 合法 CSV 的表头
HEADER = "timestamp,open,high,low,close,volume\n"


def test_real_file_loads_with_ms_timestamps():
    """真实文件 30,240 根，时间为 int64 毫秒，首根 2023-03-01 00:00 UTC。"""
    bars = load_ohlcv_csv(BTC_USDT_1M)
    assert len(bars) == 30_240 and bars["timestamp"].dtype == "int64"
    assert bars["timestamp"].iloc[0] == 1_677_628_800_000


def test_iso_timestamps_are_parsed_as_utc(tmp_path):
    """ISO 8601 文本：无时区视为 UTC，带时区按其换算。"""
    path = tmp_path / "iso.csv"
    path.write_text(HEADER + "2023-03-01T00:00:00Z,1,2,0.5,1.5,10\n2023-03-01 01:01:00+01:00,1,2,0.5,1.5,10\n")
    assert load_ohlcv_csv(path)["timestamp"].tolist() == [1_677_628_800_000, 1_677_628_860_000]


def test_round_trip(tmp_path):
    """写出再读入，数值不变。"""
    bars = load_ohlcv_csv(BTC_USDT_1M).iloc[:50]
    save_ohlcv_csv(bars, tmp_path / "out.csv")
    assert load_ohlcv_csv(tmp_path / "out.csv").equals(bars.reset_index(drop=True))


@pytest.mark.parametrize("body, fragment", [
    ("timestamp,open,high,low,close\n1,1,1,1,1\n", "missing column(s) volume"),
    (HEADER + "2,1,1,1,1,1\n1,1,1,1,1,1\n", "timestamps must increase strictly; row 2"),
    (HEADER + "1,1,2,0.5,3,1\n", "breaks low <= open, close <= high"),
    (HEADER + "1,1,1,1,abc,1\n", "column 'close' row 1 is not a number"),
    (HEADER + "1,0,1,0,1,1\n", "non-positive price"),
    (HEADER + "yesterday,1,1,1,1,1\n", "ms since epoch (UTC) or ISO 8601"),
])
def test_bad_files_name_the_problem(tmp_path, body, fragment):
    """坏文件的错误消息指出哪一列、哪一行、期望什么。"""
    path = tmp_path / "bad.csv"
    path.write_text(body)
    with pytest.raises(DataError) as caught:
        load_ohlcv_csv(path)
    assert fragment in str(caught.value)


def test_missing_file(tmp_path):
    """文件不存在时说明期望的表头。"""
    with pytest.raises(DataError, match="file not found; pass a CSV with columns timestamp,open"):
        load_ohlcv_csv(tmp_path / "none.csv")
