"""K 线数据的合理范围与逐项检查（CSV 读取与内存里的 K 线表共用）。

规则：开盘时间在 [2009-01-01, 2100-01-01) UTC（UTC 毫秒）且严格递增；价格是 (1e-12, 1e12) 内的有限数
（计价货币）；成交量是 [0, 1e18] 内的有限数（基础货币）；low <= open、close <= high。
范围之外的值几乎总是单位或格式写错（秒当毫秒、价格多了十几个零、inf/nan），不是真实行情。
检查函数通过“定位器”（rows）写出错误位置：CSV 里是文件行号（`line N`），内存表里是数据行号（`row N`）。
"""

from __future__ import annotations

import re
from typing import Protocol

import numpy as np
import pandas as pd

from tradeterm.errors import DataError
from tradeterm.models.bar import OHLCV_COLUMNS

# 价格下限（不含），计价货币：更小的价格几乎总是单位写错
MIN_PRICE = 1e-12
# 价格上限（不含），计价货币
MAX_PRICE = 1e12
# 成交量上限（含），基础货币
MAX_VOLUME = 1e18
# 最早的开盘时间 2009-01-01T00:00:00Z（含），UTC 毫秒
MIN_TIMESTAMP_MS = 1_230_768_000_000
# 最晚的开盘时间 2100-01-01T00:00:00Z（不含），UTC 毫秒
MAX_TIMESTAMP_MS = 4_102_444_800_000
# 价格列
PRICE_COLUMNS = ("open", "high", "low", "close")
# 错误消息里一格原文最多显示的字符数
MAX_SHOWN_CHARS = 60
# 看起来是数的写法（含小数、指数、inf、nan）：用来区分“数写错了”与“ISO 文本”
NUMBER_TEXT = re.compile(r"\s*[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|infinity|nan)\s*",
                         re.IGNORECASE)


class Rows(Protocol):
    """定位器：把数据行号（0 起）写成错误消息里的位置，并给出某一格的原文。"""

    def where(self, row: int) -> str:
        """错误消息里的位置，如 `line 5` 或 `row 5`。"""

    def text(self, row: int, column: str, value: object) -> str:
        """第 row 行 column 列的原文；value 为解析后的值（找不到原文时用它）。"""


class FrameRows:
    """内存里的 K 线表的定位器：位置写作 `row N`（1 起），原文就是值本身。"""

    def where(self, row: int) -> str:
        """错误消息里的位置，如 `row 5`。"""
        return f"row {row + 1}"

    def text(self, row: int, column: str, value: object) -> str:
        """值的文字形式。"""
        return str(value)


def cell_error(rows: Rows, row: int, column: str, value: object, problem: str, fix: str) -> DataError:
    """一格数据有错：写明位置、列、原文（过长时截断）、问题与修正。"""
    text = rows.text(row, column, value)
    if len(text) > MAX_SHOWN_CHARS:
        text = text[:MAX_SHOWN_CHARS - 3] + "..."
    return DataError(f"{rows.where(row)}, column '{column}': {text!r} {problem}; {fix}")


def check_timestamps(ms: np.ndarray, texts: pd.Series | None, rows: Rows) -> np.ndarray:
    """开盘时间（float64 毫秒）须在 [MIN_TIMESTAMP_MS, MAX_TIMESTAMP_MS) 内且严格递增；返回 int64 毫秒。"""
    outside = ~((ms >= MIN_TIMESTAMP_MS) & (ms < MAX_TIMESTAMP_MS))
    if outside.any():
        row = int(outside.argmax())
        value = ms[row] if texts is None else texts.iloc[row]
        # 单位提示只对写成数的时间戳有意义（ISO 文本的年份一眼可见）
        numeric = NUMBER_TEXT.fullmatch(rows.text(row, "timestamp", value)) is not None
        raise cell_error(rows, row, "timestamp", value, "is outside 2009-01-01 .. 2100-01-01 UTC",
                         f"open times are ms since epoch (UTC) from {MIN_TIMESTAMP_MS} to {MAX_TIMESTAMP_MS}"
                         f"{unit_hint(float(ms[row])) if numeric else ''}")
    stamps = ms.astype(np.int64)
    steps = np.diff(stamps)
    if (steps <= 0).any():
        row = int((steps <= 0).argmax()) + 1
        what = "repeats" if steps[row - 1] == 0 else "is before"
        raise cell_error(rows, row, "timestamp", int(stamps[row]), f"{what} the open time on {rows.where(row - 1)} "
                         f"({int(stamps[row - 1])})", "timestamps must increase strictly: sort the file and drop "
                         "duplicate candles")
    return stamps


def unit_hint(value: float) -> str:
    """时间戳像是秒、微秒或纳秒时的换算提示（前面带分号）；否则为空串。"""
    for factor, unit, fix in ((1e-3, "seconds", "multiply by 1000"), (1e3, "microseconds", "divide by 1000"),
                              (1e6, "nanoseconds", "divide by 1,000,000")):
        if MIN_TIMESTAMP_MS * factor <= value < MAX_TIMESTAMP_MS * factor:
            return f"; this looks like {unit}: {fix}"
    return "; it is negative" if value < 0 else ""


def check_numbers(values: np.ndarray, column: str, rows: Rows) -> None:
    """价格须是 (MIN_PRICE, MAX_PRICE) 内的有限数，成交量须是 [0, MAX_VOLUME] 内的有限数；否则抛 DataError。"""
    finite = np.isfinite(values)
    with np.errstate(invalid="ignore"):
        if column == "volume":
            ok = finite & (values >= 0) & (values <= MAX_VOLUME)
            rule = f"volume must be a finite number from 0 to {MAX_VOLUME:g} (base currency)"
        else:
            ok = finite & (values > MIN_PRICE) & (values < MAX_PRICE)
            rule = f"every price must be a finite number above {MIN_PRICE:g} and below {MAX_PRICE:g} (quote currency)"
    if ok.all():
        return
    row = int((~ok).argmax())
    value = values[row]
    text = rows.text(row, column, value).strip()
    if not text:
        problem = "is empty"
    elif np.isnan(value) and not NUMBER_TEXT.fullmatch(text):
        problem = "is not a number"
    elif not np.isfinite(value):
        problem = "is not a finite number"
    elif value < 0 or (value == 0 and column != "volume"):
        problem = "is negative" if value < 0 else "is not positive"
    else:
        problem = "is out of range"
    raise cell_error(rows, row, column, value, problem, rule)


def check_candles(frame: pd.DataFrame, rows: Rows) -> None:
    """每根 K 线须 low <= open、close <= high；否则抛 DataError（写明位置与四个价）。"""
    o, h, l, c = (frame[name].to_numpy() for name in PRICE_COLUMNS)
    inconsistent = (l > np.minimum(o, c)) | (h < np.maximum(o, c))
    if inconsistent.any():
        row = int(inconsistent.argmax())
        raise DataError(f"{rows.where(row)} breaks low <= open, close <= high (open={o[row]}, high={h[row]}, "
                        f"low={l[row]}, close={c[row]}); fix or drop that candle")


def with_source(source: str, exc: DataError) -> DataError:
    """给错误消息加上文件名前缀。"""
    return DataError(f"{source}: {exc}")


def validate_ohlcv(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """检查内存里的 K 线表（规则同 CSV：时间范围与递增、价格与成交量范围、low <= open/close <= high）；返回原表。

    位置写作 `row N`（第 N 行数据，1 起）；错误消息以 source 开头。
    """
    rows = FrameRows()
    try:
        check_timestamps(df["timestamp"].to_numpy(dtype=np.float64), None, rows)
        for column in OHLCV_COLUMNS[1:]:
            check_numbers(df[column].to_numpy(dtype=np.float64), column, rows)
        check_candles(df, rows)
    except DataError as exc:
        raise with_source(source, exc) from None
    return df
