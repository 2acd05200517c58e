"""K 线 CSV 的读写与逐格校验：列为 timestamp,open,high,low,close,volume（列名不分大小写，可以有别的列）。

时间戳（timestamp 列）两种写法，整列按第一行的写法：
- 整数：UTC 毫秒，如 1677628800000（允许 `.0` 结尾；小数、指数写法报错，不截断）；
- ISO 8601 文本，如 2023-03-01T00:00:00Z（无时区视为 UTC），精度最多到毫秒。
秒、微秒、纳秒写的整数不会被猜测换算：它们落在合理时间范围之外，报错并提示乘或除以 1000。

合理范围见 tradeterm.data.checks（超出即报错）：开盘时间在 [2009-01-01, 2100-01-01) UTC 且严格递增；价格是
(1e-12, 1e12) 内的有限数（计价货币）；成交量是 [0, 1e18] 内的有限数（基础货币）；low <= open、close <= high。
同一列名（不分大小写）出现两次、字段数与表头不同、空文件、二进制、非 UTF-8 也都报错。
错误消息写明文件、行号（文件里的行号，表头是第 1 行，空行也计数）、列名与那一格的原文，以及怎么改。

读取分两步：pandas 的 C 解析器一次读完，数值列直接向量化检查；只有出错时才逐行扫描文件，把数据行对应回
文件行号与原文，所以合法的大文件不为定位付出代价。纯 ASCII 的文件（几乎所有 K 线文件）不解码成文本：
`bytes.isascii` 就证明了它是 UTF-8，表头从字节里切出来，解析器直接读文件内容（一百万行的文件省下约 0.1 秒与一份
同样大的文本）。
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from tradeterm.data.checks import (  # validate_ohlcv 原在本模块，从这里导入的代码照常可用
    NUMBER_TEXT, Rows, cell_error, check_candles, check_numbers, check_timestamps, validate_ohlcv, with_source,
)
from tradeterm.data.csv_rows import FileRows, LazyRows
from tradeterm.errors import DataError
from tradeterm.models.bar import OHLCV_COLUMNS

# 本模块的公开名字
__all__ = ["load_ohlcv_csv", "save_ohlcv_csv", "validate_ohlcv", "EXPECTED_HEADER"]
# 期望的表头（错误消息里用）
EXPECTED_HEADER = ",".join(OHLCV_COLUMNS)

# 换行：与 pandas 的 C 解析器一致，\r\n、\r、\n 都算（在文件的字节上找）
NEWLINE = re.compile(rb"\r\n|\r|\n")
# 不是空白的第一个 ASCII 字符（空白即 str.isspace 认作空白的 ASCII 字符）：纯 ASCII 文件的“空文件”检查与解码后的
# text.isspace() 一致；用 search 而不是 lstrip，不为开头的空行复制整个文件
ASCII_NON_BLANK = re.compile(rb"[^ \t\n\r\x0b\x0c\x1c-\x1f]")
# 整数毫秒的写法（允许前后空白与 .0 结尾）
INTEGER_TEXT = re.compile(r"\s*[+-]?\d+(?:\.0*)?\s*")
# ISO 文本里超过毫秒的精度：秒的小数第 4 位起有非零数字
SUB_MS_TEXT = re.compile(r":\d\d[.,]\d{3}\d*[1-9]")
# datetime64 各单位一毫秒的计数
UNITS_PER_MS = {"ms": 1, "us": 1_000, "ns": 1_000_000}


def read_file(path: Path, source: str) -> bytes:
    """读整个文件：返回去掉 BOM 的内容（已确认是 UTF-8 的字节）；不存在、是目录、读不了、空文件、二进制
    （含 NUL 字节）、不是 UTF-8 时抛 DataError。"""
    try:
        is_dir, is_file = path.is_dir(), path.is_file()
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise DataError(f"{source}: cannot open ({reason}); pass the path of a CSV file") from None
    if is_dir:
        raise DataError(f"{source}: is a directory; pass a CSV file with columns {EXPECTED_HEADER}")
    if not is_file:
        raise DataError(f"{source}: file not found; pass a CSV with columns {EXPECTED_HEADER}")
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{source}: cannot read the file ({exc.strerror or exc}); check its permissions") from None
    nul = content.find(b"\0")
    if nul >= 0:
        line = content.count(b"\n", 0, nul) + 1
        raise DataError(f"{source}: line {line} holds a NUL byte, so this is a binary file, not a CSV; "
                        f"pass a text CSV with header {EXPECTED_HEADER}")
    content = content.removeprefix(codecs.BOM_UTF8)
    if content.isascii():
        # ASCII 必是 UTF-8：不必把整个文件解码一遍（比解码快十几倍）；空白只可能是 ASCII 空白
        blank = ASCII_NON_BLANK.search(content) is None
    else:
        try:
            blank = content.decode("utf-8").isspace()
        except UnicodeDecodeError as exc:
            line = content.count(b"\n", 0, exc.start) + 1
            raise DataError(f"{source}: line {line} is not UTF-8 text (byte 0x{content[exc.start]:02x}); "
                            f"save the file as UTF-8 CSV") from None
    if not content or blank:
        raise DataError(f"{source}: file is empty; expected a header line {EXPECTED_HEADER} and one row per candle")
    return content


def split_header(content: bytes) -> tuple[list[str], int, int]:
    """找出表头（第一个非空行）：返回（表头各格原文, 表头行号, 正文在 content 里的字节起点）。
    content 为 read_file 的结果（UTF-8，且有非空行）。"""
    pos, number = 0, 1
    while True:
        match = NEWLINE.search(content, pos)
        end, after = (match.start(), match.end()) if match else (len(content), len(content))
        line = content[pos:end].decode("utf-8")
        if line.strip(" \t") or after >= len(content):
            return next(csv.reader([line]), []), number, after
        pos, number = after, number + 1


def column_indexes(header: list[str], line: int, source: str) -> dict[str, int]:
    """表头里各必需列的列号（列名不分大小写、忽略首尾空白）；缺列或必需列重名时抛 DataError。"""
    seen: dict[str, int] = {}
    for index, raw in enumerate(header):
        name = raw.strip().lower()
        if name in OHLCV_COLUMNS and name in seen:
            raise DataError(f"{source}: line {line}: columns {header[seen[name]]!r} and {raw!r} both name '{name}' "
                            f"(column names are case-insensitive); keep only one of them")
        seen.setdefault(name, index)
    missing = [c for c in OHLCV_COLUMNS if c not in seen]
    if missing:
        found = ",".join(h.strip() for h in header)
        raise DataError(f"{source}: missing column(s) {', '.join(missing)}; expected header {EXPECTED_HEADER} "
                        f"on the first line (found {found})")
    return {name: seen[name] for name in OHLCV_COLUMNS}


def read_body(content: bytes, start: int, width: int, rows: FileRows) -> pd.DataFrame | None:
    """用 pandas 读 content 里从字节 start（表头之后）起的正文（UTF-8；不把任何写法当缺失值）；没有数据行时返回
    None；字段数不对时抛 DataError。"""
    # 从 start 起读同一块内存（BytesIO 与 bytes 共用缓冲区），不把一百 MB 的正文切片复制一遍
    body = io.BytesIO(content)
    body.seek(start)
    try:
        raw = pd.read_csv(body, header=None, na_filter=False, low_memory=False)
    except pd.errors.EmptyDataError:
        return None
    except (pd.errors.ParserError, ValueError, OverflowError) as exc:
        row = rows.width_mismatch(width)
        if row is not None:
            raise field_count_error(rows, row, width) from None
        line = rows.unclosed_quote(at_eof="EOF inside string" in str(exc))
        if line is not None:
            raise DataError(f"line {line} opens a quote (\") that is not closed on that line; close it or "
                            f"remove it") from None
        # pandas 的行号从正文算起：换成文件行号
        detail = re.sub(r"line (\d+)", lambda m: f"line {int(m.group(1)) + rows.header_line}", str(exc).strip())
        raise DataError(f"not a readable CSV ({detail}); check the quoting on that line") from None
    if raw.shape[1] != width:
        row = rows.width_mismatch(width)
        raise field_count_error(rows, 0 if row is None else row, width)
    return raw


def field_count_error(rows: FileRows, row: int, width: int) -> DataError:
    """“这一行的字段数与表头不同”的错误。"""
    cells = rows.fields(row)
    found = "a different number of" if cells is None else len(cells)
    return DataError(f"{rows.where(row)} has {found} fields but the header (line {rows.header_line}) has "
                     f"{width}; every row needs one value per header column")


def timestamps_from_text(texts: pd.Series, rows: Rows) -> np.ndarray:
    """timestamp 列的原文 -> UTC 毫秒（float64，范围由 check_timestamps 检查）；写法不对时抛 DataError。"""
    stripped = texts.astype(str).str.strip()
    empty = (stripped == "").to_numpy(dtype=bool)
    if empty.any():
        row = int(empty.argmax())
        raise cell_error(rows, row, "timestamp", "", "is empty", "every row needs its candle's open time")
    integer = stripped.str.fullmatch(INTEGER_TEXT).to_numpy(dtype=bool)
    number = stripped.str.fullmatch(NUMBER_TEXT).to_numpy(dtype=bool)
    if number[0]:
        if not integer.all():
            row = int((~integer).argmax())
            if number[row]:
                raise cell_error(rows, row, "timestamp", texts.iloc[row], "is not a whole number of milliseconds",
                                 "write the open time as integer ms since epoch (UTC), e.g. 1677628800000; "
                                 "fractions are not rounded")
            raise cell_error(rows, row, "timestamp", texts.iloc[row], "is not a number",
                             f"{rows.where(0)} holds ms since epoch, so every row must (one format per file)")
        whole = stripped.str.replace(r"\.0*$", "", regex=True)
        # 超过 18 位的整数必然超出范围：记为 ±inf，免得换成浮点数时溢出
        digits = whole.str.lstrip("+-").str.lstrip("0").str.len().to_numpy()
        short = digits <= 18
        values = np.where(whole.str.startswith("-").to_numpy(dtype=bool), -np.inf, np.inf)
        values[short] = pd.to_numeric(whole[short]).to_numpy(dtype=np.float64)
        return values
    if number.any():
        row = int(number.argmax())
        raise cell_error(rows, row, "timestamp", texts.iloc[row], "is a number",
                         f"{rows.where(0)} holds ISO 8601 text, so every row must (one format per file)")
    sub_ms = stripped.str.contains(SUB_MS_TEXT).to_numpy(dtype=bool)
    if sub_ms.any():
        row = int(sub_ms.argmax())
        raise cell_error(rows, row, "timestamp", texts.iloc[row], "is more precise than a millisecond",
                         "round open times to whole milliseconds")
    try:
        parsed = pd.to_datetime(stripped, utc=True, format="ISO8601", errors="coerce")
    except (ValueError, TypeError, OverflowError):
        parsed = pd.Series([pd.NaT] * len(stripped), dtype="datetime64[ns, UTC]")
    invalid = parsed.isna().to_numpy()
    if invalid.any():
        row = int(invalid.argmax())
        raise cell_error(rows, row, "timestamp", texts.iloc[row], "is not a time",
                         "write ms since epoch (UTC) or ISO 8601 text like 2023-03-01T00:00:00Z")
    stamps = parsed.dt.tz_convert(None).to_numpy()
    unit = np.datetime_data(stamps.dtype)[0]
    counts = stamps.astype(np.int64)
    if unit == "s":
        return counts.astype(np.float64) * 1000
    per_ms = UNITS_PER_MS[unit]
    return (counts // per_ms).astype(np.float64)


def numbers_from_column(series: pd.Series, column: str, rows: FileRows) -> np.ndarray:
    """价格或成交量列 -> float64（写得不是数的格为 NaN，由 check_numbers 报告）。"""
    if series.dtype.kind in "iuf":
        return series.to_numpy(dtype=np.float64)
    if series.dtype.kind == "b":
        series = rows.column_texts(column, len(series), series.to_numpy())
    return pd.to_numeric(series.astype(str), errors="coerce").astype(np.float64).to_numpy()


def load_ohlcv_csv(path: str | Path) -> pd.DataFrame:
    """读取 K 线 CSV，返回列为 OHLCV_COLUMNS 的 DataFrame（timestamp 为 int64 毫秒，其余 float64，行号从 0 起）。

    任何不合规的内容都抛 DataError（一行消息：文件、行号、列、原文与修正），不会返回截断或猜测过的值。
    """
    path = Path(path)
    source = str(path)
    content = read_file(path, source)
    header, header_line, after = split_header(content)
    indexes = column_indexes(header, header_line, source)
    rows = LazyRows(content, header_line, indexes)
    try:
        raw = read_body(content, after, len(header), rows)
        if raw is None:
            return pd.DataFrame({name: pd.Series(dtype=np.int64 if name == "timestamp" else np.float64)
                                 for name in OHLCV_COLUMNS})
        series = raw[indexes["timestamp"]]
        texts = None
        if series.dtype == np.int64:
            ms = series.to_numpy(dtype=np.float64)
        else:
            # 不全是整数（小数、文本、超出 int64）：按原文逐格解析，不让 pandas 的浮点截断掉小数
            texts = series if series.dtype == object or pd.api.types.is_string_dtype(series) else \
                rows.column_texts("timestamp", len(series), series.to_numpy())
            ms = timestamps_from_text(texts, rows)
        out = pd.DataFrame({"timestamp": check_timestamps(ms, texts, rows)})
        for column in OHLCV_COLUMNS[1:]:
            values = numbers_from_column(raw[indexes[column]], column, rows)
            check_numbers(values, column, rows)
            out[column] = values + 0.0  # 把 -0 记成 0
        check_candles(out, rows)
    except DataError as exc:
        raise with_source(source, exc) from None
    return out


def save_ohlcv_csv(df: pd.DataFrame, path: str | Path) -> None:
    """把 K 线表写成 CSV（timestamp 为毫秒整数）。"""
    df.loc[:, list(OHLCV_COLUMNS)].to_csv(path, index=False)
