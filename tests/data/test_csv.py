"""K 线 CSV：真实文件读取、ISO 8601 时间、各种坏文件的报错（issue 19 的复现：inf/nan、荒唐的价格、
小数/负数/越界的时间戳、大小写重名的列、二进制与非 UTF-8 文件……每条都写明行号、列名与原文）。"""

from __future__ import annotations

import pandas as pd
import pytest

from tests.conftest import BTC_USDT_1M
from tradeterm.data import load_ohlcv_csv, save_ohlcv_csv
from tradeterm.data.checks import validate_ohlcv
from tradeterm.errors import DataError

# 合法 CSV 的表头
HEADER = "timestamp,open,high,low,close,volume\n"
# 一行合法数据（2023-03-01 00:00 UTC），文件里的第 2 行
ROW_1 = "1677628800000,1,2,0.5,1.5,10\n"
# 一行合法数据（2023-03-01 00:01 UTC）
ROW_2 = "1677628860000,1,2,0.5,1.5,10\n"
# 价格规则的说明（错误消息的结尾）
PRICE_RULE = "every price must be a finite number above 1e-12 and below 1e+12 (quote currency)"
# 成交量规则的说明
VOLUME_RULE = "volume must be a finite number from 0 to 1e+18 (base currency)"
# 时间范围规则的说明
TIME_RULE = ("is outside 2009-01-01 .. 2100-01-01 UTC; open times are ms since epoch (UTC) from 1230768000000 "
             "to 4102444800000")


def load_text(tmp_path, body: str | bytes) -> pd.DataFrame:
    """把 body 写成 tmp_path/in.csv 再读入。"""
    path = tmp_path / "in.csv"
    if isinstance(body, bytes):
        path.write_bytes(body)
    else:
        path.write_text(body, encoding="utf-8")
    return load_ohlcv_csv(path)


def error_of(tmp_path, body: str | bytes) -> str:
    """读入 body 必须抛 DataError；返回去掉文件名前缀的消息。"""
    with pytest.raises(DataError) as caught:
        load_text(tmp_path, body)
    message = str(caught.value)
    prefix = f"{tmp_path / 'in.csv'}: "
    assert message.startswith(prefix) and "\n" not in message
    return message[len(prefix):]


def test_real_file_loads_with_ms_timestamps():
    """真实文件 30,240 根，时间为 int64 毫秒，首根 2023-03-01 00:00 UTC。"""
    bars = load_ohlcv_csv(BTC_USDT_1M)
    assert len(bars) == 30_240 and bars["timestamp"].dtype == "int64"
    assert bars["timestamp"].iloc[0] == 1_677_628_800_000
    assert list(bars.dtypes.astype(str)) == ["int64"] + ["float64"] * 5


def test_iso_timestamps_are_parsed_as_utc(tmp_path):
    """ISO 8601 文本：无时区视为 UTC，带时区按其换算，毫秒精度保留。"""
    body = HEADER + ("2023-03-01T00:00:00Z,1,2,0.5,1.5,10\n2023-03-01 01:01:00+01:00,1,2,0.5,1.5,10\n"
                     "2023-03-01T00:02:00.250,1,2,0.5,1.5,10\n")
    assert load_text(tmp_path, body)["timestamp"].tolist() == [1_677_628_800_000, 1_677_628_860_000,
                                                               1_677_628_920_250]


def test_round_trip(tmp_path):
    """写出再读入，数值不变。"""
    bars = load_ohlcv_csv(BTC_USDT_1M).iloc[:50]
    save_ohlcv_csv(bars, tmp_path / "out.csv")
    assert load_ohlcv_csv(tmp_path / "out.csv").equals(bars.reset_index(drop=True))


@pytest.mark.parametrize("body", [
    HEADER + ROW_1 + ROW_2,
    (HEADER + ROW_1 + ROW_2).replace("\n", "\r\n"),                                   # Windows 换行
    "\ufeff" + HEADER + ROW_1 + ROW_2,                                               # UTF-8 BOM
    "Timestamp, Open ,HIGH,low,close,volume,note\n" + ROW_1.replace("\n", ",a\n") + ROW_2.replace("\n", ",b\n"),
    HEADER + '"1677628800000","1","2","0.5","1.5","10"\n' + ROW_2,                   # 每格加引号
    HEADER + " 1677628800000 , 1 , 2 , 0.5 , 1.5 , 10 \n" + ROW_2,                   # 格内空白
    HEADER + "1677628800000.0,1,2,0.5,1.5,10\n1677628860000.000,1,2,0.5,1.5,10\n",   # .0 结尾的整数
    "\n" + HEADER + "\n" + ROW_1 + "   \n" + ROW_2 + "\n\n",                        # 空行
    # 非 ASCII 的文件（表头与多余的列里有中文、重音）：走解码检查的那条路，读到的一样
    "timestamp,open,high,low,close,volume,备注\n" + ROW_1.replace("\n", ",café\n") + ROW_2.replace("\n", ",\u3000\n"),
])
def test_harmless_variations_load_the_same_candles(tmp_path, body):
    """换行、BOM、列名大小写与空白、多余的列、引号、空白、`.0` 结尾、空行都不改变读到的 K 线。"""
    frame = load_text(tmp_path, body)
    assert frame.to_dict("list") == {"timestamp": [1_677_628_800_000, 1_677_628_860_000], "open": [1.0, 1.0],
                                     "high": [2.0, 2.0], "low": [0.5, 0.5], "close": [1.5, 1.5],
                                     "volume": [10.0, 10.0]}


def test_header_only_gives_an_empty_table(tmp_path):
    """只有表头：0 行，列与类型照旧（由调用方决定够不够）。"""
    frame = load_text(tmp_path, HEADER)
    assert frame.empty and list(frame.columns) == list(HEADER.strip().split(","))
    assert frame["timestamp"].dtype == "int64"


@pytest.mark.parametrize("body, message", [
    # 非有限数：任何价格列或成交量列
    (HEADER + ROW_1 + "1677628860000,1,inf,0.5,1.5,10\n", f"line 3, column 'high': 'inf' is not a finite number; "
                                                          f"{PRICE_RULE}"),
    (HEADER + ROW_1 + "1677628860000,1,2,-inf,1.5,10\n", f"line 3, column 'low': '-inf' is not a finite number; "
                                                         f"{PRICE_RULE}"),
    (HEADER + ROW_1 + "1677628860000,1,2,0.5,nan,10\n", f"line 3, column 'close': 'nan' is not a finite number; "
                                                        f"{PRICE_RULE}"),
    (HEADER + "1677628800000,NaN,2,0.5,1.5,10\n", f"line 2, column 'open': 'NaN' is not a finite number; {PRICE_RULE}"),
    (HEADER + "1677628800000,1,2,0.5,1.5,Infinity\n", f"line 2, column 'volume': 'Infinity' is not a finite number; "
                                                      f"{VOLUME_RULE}"),
    (HEADER + "1677628800000,1,2,0.5,1.5,1e400\n", f"line 2, column 'volume': '1e400' is not a finite number; "
                                                   f"{VOLUME_RULE}"),
    # 荒唐的价格与成交量
    (HEADER + "1677628800000,1,1e300,0.5,1.5,10\n", f"line 2, column 'high': '1e300' is out of range; {PRICE_RULE}"),
    (HEADER + "1677628800000,1e-300,2,1e-300,1.5,10\n", f"line 2, column 'open': '1e-300' is out of range; "
                                                        f"{PRICE_RULE}"),
    (HEADER + "1677628800000,1,1,0,1,1\n", f"line 2, column 'low': '0' is not positive; {PRICE_RULE}"),
    (HEADER + "1677628800000,1,2,0.5,1.5,-3\n", f"line 2, column 'volume': '-3' is negative; {VOLUME_RULE}"),
    (HEADER + "1677628800000,1,2,0.5,1.5,1e19\n", f"line 2, column 'volume': '1e19' is out of range; {VOLUME_RULE}"),
    # 时间戳：小数不截断、负数、越界、超出 int64、像秒或微秒
    (HEADER + ROW_1 + "1678000000123.5,1,2,0.5,1.5,10\n",
     "line 3, column 'timestamp': '1678000000123.5' is not a whole number of milliseconds; write the open time as "
     "integer ms since epoch (UTC), e.g. 1677628800000; fractions are not rounded"),
    (HEADER + "1.6776288e12,1,2,0.5,1.5,10\n", "line 2, column 'timestamp': '1.6776288e12' is not a whole number of "
                                               "milliseconds; write the open time as integer ms since epoch (UTC), "
                                               "e.g. 1677628800000; fractions are not rounded"),
    (HEADER + "-1677628800000,1,2,0.5,1.5,10\n", f"line 2, column 'timestamp': '-1677628800000' {TIME_RULE}; "
                                                 f"it is negative"),
    (HEADER + "9223372036854775807,1,2,0.5,1.5,10\n", f"line 2, column 'timestamp': '9223372036854775807' "
                                                      f"{TIME_RULE}"),
    (HEADER + "99999999999999999999999,1,2,0.5,1.5,10\n", f"line 2, column 'timestamp': '99999999999999999999999' "
                                                          f"{TIME_RULE}"),
    (HEADER + "1230767999999,1,2,0.5,1.5,10\n", f"line 2, column 'timestamp': '1230767999999' {TIME_RULE}"),
    (HEADER + "4102444800000,1,2,0.5,1.5,10\n", f"line 2, column 'timestamp': '4102444800000' {TIME_RULE}"),
    (HEADER + "1677628800,1,2,0.5,1.5,10\n", f"line 2, column 'timestamp': '1677628800' {TIME_RULE}; this looks "
                                             f"like seconds: multiply by 1000"),
    (HEADER + "1677628800000000,1,2,0.5,1.5,10\n", f"line 2, column 'timestamp': '1677628800000000' {TIME_RULE}; "
                                                   f"this looks like microseconds: divide by 1000"),
    (HEADER + "1600-01-01,1,2,0.5,1.5,10\n", f"line 2, column 'timestamp': '1600-01-01' {TIME_RULE}"),
    (HEADER + "2023-03-01T00:00:00.0005Z,1,2,0.5,1.5,10\n",
     "line 2, column 'timestamp': '2023-03-01T00:00:00.0005Z' is more precise than a millisecond; round open times "
     "to whole milliseconds"),
    (HEADER + "2023-03-01,1,2,0.5,1.5,10\nyesterday,1,2,0.5,1.5,10\n",
     "line 3, column 'timestamp': 'yesterday' is not a time; write ms since epoch (UTC) or ISO 8601 text like "
     "2023-03-01T00:00:00Z"),
    (HEADER + "2023-03-01,1,2,0.5,1.5,10\n1677628860000,1,2,0.5,1.5,10\n",
     "line 3, column 'timestamp': '1677628860000' is a number; line 2 holds ISO 8601 text, so every row must "
     "(one format per file)"),
    (HEADER + ROW_1 + "2023-03-01T00:01Z,1,2,0.5,1.5,10\n",
     "line 3, column 'timestamp': '2023-03-01T00:01Z' is not a number; line 2 holds ms since epoch, so every row "
     "must (one format per file)"),
    (HEADER + ",1,2,0.5,1.5,10\n", "line 2, column 'timestamp': '' is empty; every row needs its candle's open time"),
    # 顺序
    (HEADER + ROW_2 + ROW_1, "line 3, column 'timestamp': '1677628800000' is before the open time on line 2 "
                             "(1677628860000); timestamps must increase strictly: sort the file and drop duplicate "
                             "candles"),
    (HEADER + ROW_1 + ROW_1, "line 3, column 'timestamp': '1677628800000' repeats the open time on line 2 "
                             "(1677628800000); timestamps must increase strictly: sort the file and drop duplicate "
                             "candles"),
    # 单元格与行的结构
    (HEADER + ROW_1 + "1677628860000,1,2,0.5,abc,10\n", f"line 3, column 'close': 'abc' is not a number; "
                                                        f"{PRICE_RULE}"),
    (HEADER + ROW_1 + "1677628860000,1,2,,1.5,10\n", f"line 3, column 'low': '' is empty; {PRICE_RULE}"),
    (HEADER + ROW_1 + "1677628860000,1,2\n", f"line 3, column 'low': '' is empty; {PRICE_RULE}"),
    (HEADER + ROW_1 + "1677628860000,1,2,0.5,1.5,10,7\n", "line 3 has 7 fields but the header (line 1) has 6; "
                                                          "every row needs one value per header column"),
    (HEADER + "1677628800000,1,2,0.5,1.5,10,7\n" + ROW_2, "line 2 has 7 fields but the header (line 1) has 6; "
                                                          "every row needs one value per header column"),
    (HEADER + "\n" + ROW_1 + '1677628860000,1,2,0.5,1.5,"10\n\n',
     'line 4 opens a quote (") that is not closed on that line; close it or remove it'),
    ('"timestamp","open","high","low","close","volume"\n"',
     'line 2 opens a quote (") that is not closed on that line; close it or remove it'),
    (HEADER + "1677628800000,1,2,0.5,3,1\n", "line 2 breaks low <= open, close <= high (open=1.0, high=2.0, "
                                             "low=0.5, close=3.0); fix or drop that candle"),
    # 行号是文件里的行号：空行也计数
    ("\n" + HEADER + "\n" + ROW_1 + "\n\n" + "1677628860000,1,2,0.5,1.5,-1\n",
     f"line 7, column 'volume': '-1' is negative; {VOLUME_RULE}"),
    # 表头
    ("timestamp,open,high,low,Close,close,volume\n" + ROW_1,
     "line 1: columns 'Close' and 'close' both name 'close' (column names are case-insensitive); keep only one of "
     "them"),
    ("timestamp,open,high,low,close\n1677628800000,1,2,0.5,1.5\n",
     "missing column(s) volume; expected header timestamp,open,high,low,close,volume on the first line "
     "(found timestamp,open,high,low,close)"),
    # 整个文件
    ("", "file is empty; expected a header line timestamp,open,high,low,close,volume and one row per candle"),
    ("\n \n\t\n", "file is empty; expected a header line timestamp,open,high,low,close,volume and one row per candle"),
    # 纯 ASCII 的文件不解码：str.isspace 认作空白的控制字符（\x0b \x0c \x1c-\x1f）照样算空文件
    ("\x0b\x0c\x1c\x1d\x1e\x1f \r\n", "file is empty; expected a header line timestamp,open,high,low,close,volume and one "
                                     "row per candle"),
    # 非 ASCII 的空白（全角空格、不换行空格）也是
    ("\u3000\n\u00a0\n", "file is empty; expected a header line timestamp,open,high,low,close,volume and one row per "
                       "candle"),
    # 非 ASCII 文件里的错：行号与原文照旧（带引号时逐条扫描解码后的全文）
    ('timestamp,open,high,low,close,volume,备注\n' + ROW_1.replace("\n", ',"café, 早"\n')
     + '1677628860000,1,2,x,1.5,10,"é"\n', f"line 3, column 'low': 'x' is not a number; {PRICE_RULE}"),
])
def test_bad_files_name_line_column_and_value(tmp_path, body, message):
    """坏文件：一行 DataError，写明文件里的行号、列名、那一格的原文与修正方法。"""
    assert error_of(tmp_path, body) == message


@pytest.mark.parametrize("body, message", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "line 3 holds a NUL byte, so this is a binary file, not a CSV; pass a "
                                            "text CSV with header timestamp,open,high,low,close,volume"),
    (HEADER.encode() + b"1677628800000,1,2,0.5,1.5,10 \xe9t\xe9\n",
     "line 2 is not UTF-8 text (byte 0xe9); save the file as UTF-8 CSV"),
])
def test_binary_and_non_utf8_files_are_refused(tmp_path, body, message):
    """二进制文件与非 UTF-8 文本：指出所在行，不交给解析器去猜。"""
    assert error_of(tmp_path, body) == message


def test_overlong_cells_are_shortened_in_the_message(tmp_path):
    """400 位的时间戳：消息里只显示前 57 个字符加省略号，仍在一行里。"""
    message = error_of(tmp_path, HEADER + "1" * 400 + ",1,2,0.5,1.5,10\n")
    assert message == f"line 2, column 'timestamp': '{'1' * 57}...' {TIME_RULE}"


def test_missing_file_and_directory(tmp_path):
    """文件不存在时说明期望的表头；目录与过长的文件名也是一行 DataError。"""
    with pytest.raises(DataError, match="file not found; pass a CSV with columns timestamp,open"):
        load_ohlcv_csv(tmp_path / "none.csv")
    with pytest.raises(DataError, match="is a directory; pass a CSV file"):
        load_ohlcv_csv(tmp_path)
    with pytest.raises(DataError, match=r"cannot open \(File name too long\)"):
        load_ohlcv_csv(tmp_path / ("x" * 5000))


def test_in_memory_tables_follow_the_same_rules():
    """validate_ohlcv 检查内存里的表（位置写作 row N）：inf 的最高价被拒。"""
    frame = pd.DataFrame({"timestamp": [1_677_628_800_000], "open": [1.0], "high": [float("inf")], "low": [0.5],
                          "close": [1.5], "volume": [10.0]})
    with pytest.raises(DataError) as caught:
        validate_ohlcv(frame, "frame")
    assert str(caught.value) == f"frame: row 1, column 'high': 'inf' is not a finite number; {PRICE_RULE}"


@pytest.mark.parametrize("rows, message", [
    (["", ROW_1, "", "", "1677628860000,1,2,0.5,1.5,-1"], f"line 6, column 'volume': '-1' is negative; {VOLUME_RULE}"),
    ([ROW_1, "  ", "1677628860000,1,2,0.5,inf,10"], f"line 4, column 'close': 'inf' is not a finite number; "
                                                    f"{PRICE_RULE}"),
    ([ROW_1, "", "1677628860000,1,2,0.5,1.5"], f"line 4, column 'volume': '' is empty; {VOLUME_RULE}"),
    (["", "1677628860000,1,2,0.5,1.5", ROW_2], "line 3 has 5 fields but the header (line 1) has 6; every row needs "
                                               "one value per header column"),
])
def test_line_numbers_agree_for_plain_quoted_and_cr_files(tmp_path, rows, message):
    """出错时的定位有两种实现（无引号的文件用 numpy，有引号或单独 \\r 换行的逐条扫描）：同一个错误，
    不加引号、每格加引号、只用 \\r 换行，三种写法报出同样的行号与原文。"""
    lines = [HEADER.strip(), *(r.strip() for r in rows)]
    quoted = [",".join(f'"{c}"' for c in line.split(",")) if line.strip() else line for line in lines]
    for body in ("\n".join(lines) + "\n", "\n".join(quoted) + "\n", "\r".join(lines) + "\r"):
        assert error_of(tmp_path, body) == message
