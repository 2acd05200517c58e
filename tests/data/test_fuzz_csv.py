"""K 线 CSV 的模糊测试（hypothesis）：生成合法的 K 线文件，再施加无害的写法变化与有害的变异
（inf/nan、极大极小的数、负数/小数/越界的时间戳、文本、空格子、大小写重名的列、打乱与重复的行、
多或少的字段、二进制字节、截断），用项目的读取函数读入。

性质：每个输入要么抛 DataError（一行消息，以文件名开头，写明行号或列名），要么返回满足不变量的表
（列与类型、有限数、价格与成交量范围、low <= open/close <= high、时间在范围内且严格递增、行号从 0 起）。
此外：只有无害变化时必须读成功且与生成的 K 线逐位相同；只有一格被改时，报错必须指向那一行，读成功时那一格的值
必须就是写进去的数。第二个测试把同样的文件交给 `tradeterm backtest`（进程内 main）：退出码只能是 0 或 2，
没有 traceback。
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, strategies as st

from tradeterm.cli.main import main
from tradeterm.data import load_ohlcv_csv
from tradeterm.data.checks import MAX_PRICE, MAX_TIMESTAMP_MS, MAX_VOLUME, MIN_PRICE, MIN_TIMESTAMP_MS
from tradeterm.errors import DataError
from tradeterm.models.bar import OHLCV_COLUMNS

# 1 分钟，毫秒
MINUTE = 60_000
# 1 天，毫秒
DAY = 86_400_000
# 价格列、成交量列的有害取值（也有几个其实合法的：成交量 0、1e-300 只是很小）
NUMBER_MUTANTS = ["inf", "-inf", "nan", "NaN", "Infinity", "1e300", "1e-300", "1e400", "-1", "0", "", "abc", "0x10",
                  "True", "1_000", "1e", "--1", "١", " ", '"', "1,5"]
# 时间戳列的有害取值
TIMESTAMP_MUTANTS = ["1678000000123.5", "-1677628800000", "1677628800", "1677628800000000", "9223372036854775807",
                     "9223372036854775808", "99999999999999999999999", "", "abc", "2023-13-01", "1.6776288e12",
                     "nan", "inf", "2023-03-01T00:00:00.0005Z", "1600-01-01", "2200-01-01T00:00:00Z", "0"]
# 插进文件里的坏字节
BAD_BYTES = [b"\x00", b"\xff", b"\xc3", b"\xe9t\xe9", b"\x89PNG\r\n\x1a\n", b"\x00\x01\x02\x03"]


@dataclass
class CsvCase:
    """一个生成的 CSV 文件：内容、它本该表示的 K 线，以及做过的有害变异。"""

    data: bytes                                 # 文件内容
    rows: list[tuple]                           # 生成的 K 线：(毫秒, 开, 高, 低, 收, 量)
    harmful: list[str] = field(default_factory=list)  # 做过的有害变异（空表示只有无害的写法变化）
    cell: tuple[int, int, int, str] | None = None  # 唯一被改的一格：（文件行号, 数据行号 0 起, 列号, 原文）


@st.composite
def candle_rows(draw, min_rows: int = 1, max_rows: int = 8, step: int = MINUTE, walk: bool = False) -> list[tuple]:
    """合法的 K 线：相隔 step 毫秒，low <= open/close <= high，成交量在 [0, 1e12] 内。

    walk 为 False 时每根的开收盘在 (1e-9, 1e9) 内任取（考验读取的边界）；为 True 时是日线那样的随机游走
    （起价 1..1e5，每根涨跌不超过 5%，影线不超过 2%），给回测用。
    """
    count = draw(st.integers(min_rows, max_rows))
    first = draw(st.integers(MIN_TIMESTAMP_MS // step, MAX_TIMESTAMP_MS // step - max_rows - 1)) * step
    price = st.floats(1e-9, 1e9, allow_nan=False, allow_infinity=False)
    close = draw(st.floats(1, 1e5))
    rows = []
    for i in range(count):
        if walk:
            o, close = close, close * float(np.exp(draw(st.floats(-0.05, 0.05))))
            c, wick = close, st.floats(0, 0.02)
        else:
            o, c, wick = draw(price), draw(price), st.floats(0, 0.5)
        h = max(o, c) * (1 + draw(wick))
        low = min(o, c) * (1 - draw(wick if walk else st.floats(0, 0.9)))
        rows.append((first + i * step, o, h, low, c, draw(st.floats(0, 1e12))))
    return rows


def iso(ms: int) -> str:
    """毫秒 -> ISO 8601 文本（带毫秒与 Z）。"""
    return pd.Timestamp(ms, unit="ms", tz="UTC").strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@st.composite
def csv_cases(draw, min_rows: int = 1, max_rows: int = 8, step: int = MINUTE, walk: bool = False) -> CsvCase:
    """生成一个 CSV：先按随机的无害写法写出合法 K 线（参数同 candle_rows），再随机施加 0 到 2 个有害变异。"""
    rows = draw(candle_rows(min_rows, max_rows, step, walk))
    header = list(OHLCV_COLUMNS)
    if draw(st.booleans()):
        header = [draw(st.sampled_from([name, name.upper(), name.title(), f" {name} "])) for name in header]
    cells = [[str(r[0]), *(repr(float(v)) for v in r[1:])] for r in rows]
    if draw(st.booleans()):
        for line in cells:
            line[0] = iso(int(line[0]))
    extra = draw(st.booleans())
    table = [header + (["note"] if extra else [])] + [c + (["x"] if extra else []) for c in cells]
    harmful: list[str] = []
    edits: list[tuple[int, int, str]] = []
    for _ in range(draw(st.integers(0, 2))):
        kind = draw(st.sampled_from(["cell", "cell", "cell", "dup_column", "shuffle", "dup_row", "extra_field",
                                     "drop_field", "drop_header"]))
        data_rows = len(table) - 1
        if kind == "cell" and data_rows:
            row = draw(st.integers(1, data_rows))
            col = draw(st.integers(0, min(5, len(table[row]) - 1)))
            value = draw(st.sampled_from(TIMESTAMP_MUTANTS if col == 0 else NUMBER_MUTANTS))
            table[row][col] = value
            edits.append((row, col, value))
        elif kind == "dup_column":
            col = draw(st.integers(0, min(5, len(table[0]) - 1)))
            table[0].append(table[0][col].strip().swapcase() or "X")
            for line in table[1:]:
                line.append(line[col] if col < len(line) else "")
        elif kind == "shuffle" and data_rows > 1:
            table[1:] = draw(st.permutations(table[1:]))
        elif kind == "dup_row" and data_rows:
            row = draw(st.integers(1, data_rows))
            table.insert(row, list(table[row]))
        elif kind in ("extra_field", "drop_field") and data_rows:
            row = draw(st.integers(1, data_rows))
            table[row] = table[row] + ["7"] if kind == "extra_field" else table[row][:-1]
        elif kind == "drop_header":
            table = table[1:]
        else:
            continue
        harmful.append(kind)
    quote = draw(st.booleans())
    pad = draw(st.booleans())
    lines, line_of = [], {}
    if draw(st.booleans()):
        lines.append("")
    for index, line in enumerate(table):
        if index and draw(st.integers(0, 5)) == 0:
            lines.append("")
        line_of[index] = len(lines) + 1
        if quote and all('"' not in c for c in line):
            line = [f'"{c}"' for c in line]
        elif pad:
            line = [f" {c} " for c in line]
        lines.append(",".join(line))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    data = (newline.join(lines) + newline).encode("utf-8")
    if draw(st.booleans()):
        data = "\ufeff".encode("utf-8") + data
    for _ in range(draw(st.integers(0, 1))):
        kind = draw(st.sampled_from(["bytes", "truncate"]))
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from(BAD_BYTES)) + data[at:] if kind == "bytes" else data[:at]
        harmful.append(kind)
    cell = None
    if harmful == ["cell"]:
        row, col, value = edits[0]
        cell = (line_of[row], row - 1, col, value)
    return CsvCase(data, rows, harmful, cell)


def check_invariants(frame: pd.DataFrame) -> None:
    """读成功的表必须满足的不变量。"""
    assert list(frame.columns) == list(OHLCV_COLUMNS)
    assert isinstance(frame.index, pd.RangeIndex) and frame.index.start == 0
    assert frame["timestamp"].dtype == np.int64
    assert all(frame[c].dtype == np.float64 for c in OHLCV_COLUMNS[1:])
    ts = frame["timestamp"].to_numpy()
    assert ((ts >= MIN_TIMESTAMP_MS) & (ts < MAX_TIMESTAMP_MS)).all() and (np.diff(ts) > 0).all()
    prices = frame[["open", "high", "low", "close"]].to_numpy()
    assert np.isfinite(prices).all() and (prices > MIN_PRICE).all() and (prices < MAX_PRICE).all()
    volume = frame["volume"].to_numpy()
    assert np.isfinite(volume).all() and (volume >= 0).all() and (volume <= MAX_VOLUME).all()
    o, h, low, c = prices.T
    assert (low <= np.minimum(o, c)).all() and (h >= np.maximum(o, c)).all()


def check_error(message: str, path: Path, case: CsvCase) -> None:
    """DataError 的消息：一行、以文件名开头、写明行号或列名；只有一格被改时指向那一行。"""
    assert case.harmful, f"harmless file refused: {message}"
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert "line " in message or "column" in message or "file is empty" in message, message
    if case.cell is not None:
        assert f"line {case.cell[0]}" in message, message


@pytest.mark.fuzz
@given(case=csv_cases())
def test_fuzzed_csv_loads_cleanly_or_fails_cleanly(case):
    """性质：DataError（写明位置）或满足不变量的表；只有无害变化时与生成的 K 线逐位相同。"""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "candles.csv"
        path.write_bytes(case.data)
        try:
            frame = load_ohlcv_csv(path)
        except DataError as exc:
            check_error(str(exc), path, case)
            return
    check_invariants(frame)
    if not case.harmful:
        assert [tuple(r) for r in frame.itertuples(index=False)] == case.rows
    if case.cell is not None and case.cell[2] > 0:
        # 只改了一个价格或成交量格子却读成功了：读到的必须正是写进去的数，其余各格不变
        _, row, col, value = case.cell
        expected = [list(r) for r in case.rows]
        expected[row][col] = float(value)
        assert [list(r) for r in frame.itertuples(index=False)] == expected


@pytest.mark.fuzz
@given(case=csv_cases(min_rows=2, max_rows=40, step=DAY, walk=True))
def test_fuzzed_csv_through_the_backtest_cli_exits_0_or_2(case, capsys):
    """`tradeterm backtest --data 生成的日线文件`：退出码 0（并记进日志库）或 2（最后一行是 error: ...），不出 traceback。"""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "candles.csv"
        path.write_bytes(case.data)
        code = main(["backtest", "--strategy", "MACross", "--data", str(path), "--timeframe", "1d",
                     "--param", "fast=2", "--param", "slow=3", "--no-plot", "--journal", str(Path(folder) / "j.db")])
        out, err = capsys.readouterr()
    assert code in (0, 2)
    assert "Traceback" not in out + err
    if code == 0:
        assert "recorded as run 1" in out
    else:
        assert err.splitlines()[-1].startswith("error: ")
