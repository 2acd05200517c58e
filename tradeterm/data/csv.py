"""K 线 CSV 的读写：列为 timestamp,open,high,low,close,volume；timestamp 为 UTC 毫秒整数或 ISO 8601 文本。"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tradeterm.errors import DataError
from tradeterm.models.bar import OHLCV_COLUMNS


def parse_timestamps(values: pd.Series, source: str) -> np.ndarray:
    """把时间戳列转成 UTC 毫秒 int64：整数原样使用，文本按 ISO 8601 解析（无时区视为 UTC）。"""
    if pd.api.types.is_numeric_dtype(values):
        if values.isna().any():
            raise DataError(f"{source}: column 'timestamp' has empty values; every row needs a time")
        return values.to_numpy(dtype=np.int64)
    try:
        parsed = pd.to_datetime(values, utc=True, format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise DataError(f"{source}: column 'timestamp' must be ms since epoch (UTC) or ISO 8601 text like "
                        f"2023-03-01T00:00:00Z ({exc})") from None
    return (parsed.astype("datetime64[ms, UTC]").astype("int64")).to_numpy(dtype=np.int64)


def validate_ohlcv(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """检查 K 线表：时间严格递增、价格为正、low <= open/close <= high、成交量非负；返回原表。"""
    ts = df["timestamp"].to_numpy()
    if len(ts) > 1 and not np.all(np.diff(ts) > 0):
        bad = int(np.argmax(np.diff(ts) <= 0)) + 1
        raise DataError(f"{source}: timestamps must increase strictly; row {bad + 1} ({ts[bad]}) is not after the row "
                        f"before it; sort the file and drop duplicates")
    prices = df[["open", "high", "low", "close"]].to_numpy()
    if np.isnan(prices).any() or (prices <= 0).any():
        row = int(np.argmax(np.isnan(prices).any(axis=1) | (prices <= 0).any(axis=1)))
        raise DataError(f"{source}: row {row + 1} has a missing or non-positive price; every price must be > 0")
    o, h, l, c = prices.T
    inconsistent = (l > np.minimum(o, c)) | (h < np.maximum(o, c))
    if inconsistent.any():
        row = int(np.argmax(inconsistent))
        raise DataError(f"{source}: row {row + 1} breaks low <= open, close <= high "
                        f"(open={o[row]}, high={h[row]}, low={l[row]}, close={c[row]})")
    if (df["volume"].to_numpy() < 0).any():
        raise DataError(f"{source}: volume must not be negative")
    return df


def load_ohlcv_csv(path: str | Path) -> pd.DataFrame:
    """读取 K 线 CSV，返回列为 OHLCV_COLUMNS 的 DataFrame（timestamp 为 int64 毫秒，其余 float64）。"""
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise DataError(f"{source}: file not found; pass a CSV with columns {','.join(OHLCV_COLUMNS)}")
    try:
        raw = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{source}: not a readable CSV ({exc})") from None
    raw.columns = [str(c).strip().lower() for c in raw.columns]
    missing = [c for c in OHLCV_COLUMNS if c not in raw.columns]
    if missing:
        raise DataError(f"{source}: missing column(s) {', '.join(missing)}; expected header "
                        f"{','.join(OHLCV_COLUMNS)} (found {','.join(raw.columns)})")
    out = pd.DataFrame({"timestamp": parse_timestamps(raw["timestamp"], source)})
    for column in OHLCV_COLUMNS[1:]:
        values = pd.to_numeric(raw[column], errors="coerce")
        if values.isna().any():
            row = int(values.isna().to_numpy().argmax())
            raise DataError(f"{source}: column '{column}' row {row + 1} is not a number ({raw[column].iloc[row]!r})")
        out[column] = values.to_numpy(dtype=np.float64)
    return validate_ohlcv(out, source)


def save_ohlcv_csv(df: pd.DataFrame, path: str | Path) -> None:
    """把 K 线表写成 CSV（timestamp 为毫秒整数）。"""
    df.loc[:, list(OHLCV_COLUMNS)].to_csv(path, index=False)
