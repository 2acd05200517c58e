"""本地 K 线缓存：每个（交易所, 交易对, 周期）一个未压缩的 .npz 文件，一百万根约 0.1 秒读入。

文件内容（numpy 数组）：
- `ts`：int64，K 线开盘时间，UTC 毫秒，严格递增、无重复；
- `ohlcv`：float64，形状 (n, 5)：开、高、低、收（计价货币）、量（基础货币）；
- `ranges`：int64，形状 (k, 2)：已向交易所完整取过的时间区间 [开始, 结束)（UTC 毫秒），互不重叠、已排序。
  交易所在某段没有数据（上市前、停牌）时该段也算“取过”，下次不再请求；缺口（gap）是区间内缺少的 K 线。
路径：<缓存目录>/<交易所>/<BASE-QUOTE>/<周期>.npz，如 ~/.cache/tradeterm/candles/binance/BTC-USDT/1m.npz。
写入先写临时文件再原子改名，进程中途被杀也不会留下半个文件。
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tradeterm.config.markets import TIMEFRAME_MS, normalize_symbol, timeframe_ms
from tradeterm.data.csv import load_ohlcv_csv, save_ohlcv_csv
from tradeterm.data.defaults import DEFAULT_CACHE_DIR
from tradeterm.errors import DataError
from tradeterm.models.bar import OHLCV_COLUMNS

# 缓存里时间（UTC 毫秒）的取值范围：int64 能表示的全部值（约 ±2.9 亿年）
TIME_LIMITS_MS = (-(2**63), 2**63 - 1)


def check_time(value: int | float | None, what: str) -> int | None:
    """把一个时间（UTC 毫秒）转成 int；不是有限数或超出 int64 时抛 DataError（而不是 numpy 的 OverflowError）。

    这样的值几乎总是来自一个长得离谱的预热窗口（现在减去 预热根数 x 周期），如策略参数 slow: 1e15。
    None 原样返回（表示“不限”）。
    """
    if value is None:
        return None
    ok = isinstance(value, (int, np.integer)) or (isinstance(value, (float, np.floating)) and np.isfinite(value))
    if ok and TIME_LIMITS_MS[0] <= value <= TIME_LIMITS_MS[1]:
        return int(value)
    raise DataError(f"candle {what} {value} ms is beyond what a 64-bit millisecond time can hold; such a time "
                    f"comes from a history or strategy warm-up that is far too long (e.g. a window parameter like "
                    f"slow: 1e15): lower the strategy's window parameters")


@dataclass(frozen=True)
class Candles:
    """一段 K 线及其已取过的时间区间（缓存文件的内容）。"""

    ts: np.ndarray      # 开盘时间，int64 UTC 毫秒，严格递增
    ohlcv: np.ndarray   # float64 (n, 5)：开、高、低、收（计价货币）、量（基础货币）
    ranges: np.ndarray  # int64 (k, 2)：已取过的区间 [开始, 结束)，UTC 毫秒

    @classmethod
    def empty(cls) -> "Candles":
        """空的 K 线段。"""
        return cls(np.empty(0, np.int64), np.empty((0, 5), np.float64), np.empty((0, 2), np.int64))

    def __len__(self) -> int:
        """K 线根数。"""
        return len(self.ts)

    def to_frame(self, since: int | None = None, until: int | None = None) -> pd.DataFrame:
        """转成标准 OHLCV 表（列见 OHLCV_COLUMNS）；只取开盘时间在 [since, until) 的行。"""
        since, until = check_time(since, "range start"), check_time(until, "range end")
        lo = 0 if since is None else int(np.searchsorted(self.ts, since, "left"))
        hi = len(self.ts) if until is None else int(np.searchsorted(self.ts, until, "left"))
        frame = pd.DataFrame(self.ohlcv[lo:hi], columns=list(OHLCV_COLUMNS[1:]))
        frame.insert(0, "timestamp", self.ts[lo:hi])
        return frame


@dataclass(frozen=True)
class Gap:
    """一处缺口：两根相邻 K 线之间少了若干根。"""

    start: int    # 第一根缺失 K 线的开盘时间，UTC 毫秒
    end: int      # 缺口之后第一根存在的 K 线的开盘时间，UTC 毫秒
    missing: int  # 缺少的 K 线根数


@dataclass(frozen=True)
class CacheEntry:
    """`tradeterm data` 列表里的一行：一个缓存文件的概况。"""

    exchange: str      # 交易所 id，如 binance
    symbol: str        # ccxt 交易对，如 BTC/USDT
    timeframe: str     # K 线周期，如 1m
    first: int | None  # 第一根 K 线开盘时间，UTC 毫秒；空文件为 None
    last: int | None   # 最后一根 K 线开盘时间，UTC 毫秒；空文件为 None
    bars: int          # K 线根数
    gaps: list[Gap]    # 缺口列表
    path: Path         # 文件路径


def merge_ranges(ranges: np.ndarray) -> np.ndarray:
    """把区间列表排序并合并相交或首尾相接的区间。"""
    if len(ranges) == 0:
        return np.empty((0, 2), np.int64)
    ordered = ranges[np.argsort(ranges[:, 0], kind="stable")]
    merged = [list(ordered[0])]
    for start, end in ordered[1:]:
        if start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return np.asarray(merged, dtype=np.int64)


def missing_ranges(ranges: np.ndarray, start: int, end: int) -> list[tuple[int, int]]:
    """[start, end) 中尚未被 ranges 覆盖的部分（按时间排序）。"""
    start, end = check_time(start, "range start"), check_time(end, "range end")
    out: list[tuple[int, int]] = []
    cursor = start
    for lo, hi in merge_ranges(ranges):
        if hi <= cursor or lo >= end:
            continue
        if lo > cursor:
            out.append((cursor, min(lo, end)))
        cursor = max(cursor, hi)
        if cursor >= end:
            break
    if cursor < end:
        out.append((cursor, end))
    return out


def find_gaps(ts: np.ndarray, step_ms: int) -> list[Gap]:
    """开盘时间序列里的缺口：相邻两根相差超过一个周期的地方。"""
    if len(ts) < 2:
        return []
    diffs = np.diff(ts)
    holes = np.flatnonzero(diffs > step_ms)
    return [Gap(int(ts[i] + step_ms), int(ts[i + 1]), int(diffs[i] // step_ms - 1)) for i in holes]


def merge_candles(old: Candles, ts: np.ndarray, ohlcv: np.ndarray, fetched: tuple[int, int] | None) -> Candles:
    """把新取到的 K 线并入已有的：按开盘时间去重（新值覆盖旧值）并排序，fetched 区间并入已取过的区间。"""
    if fetched is not None:
        fetched = (check_time(fetched[0], "range start"), check_time(fetched[1], "range end"))
    all_ts = np.concatenate([old.ts, np.asarray(ts, np.int64)])
    all_ohlcv = np.concatenate([old.ohlcv, np.asarray(ohlcv, np.float64).reshape(-1, 5)])
    # 反转后取 unique 的首次出现 = 原序列里的最后一次出现，所以新数据优先
    reversed_ts = all_ts[::-1]
    unique_ts, first_index = np.unique(reversed_ts, return_index=True)
    keep = len(all_ts) - 1 - first_index
    ranges = old.ranges if fetched is None else np.vstack([old.ranges, np.asarray([fetched], np.int64)])
    return Candles(unique_ts, all_ohlcv[keep], merge_ranges(ranges))


class CandleCache:
    """K 线缓存目录：读、写、合并、导入导出 CSV、列出内容。"""

    def __init__(self, root: str | Path = DEFAULT_CACHE_DIR):
        """root 为缓存根目录（不存在时在第一次写入时创建）。"""
        # 缓存根目录
        self.root = Path(root)

    def path(self, exchange: str, symbol: str, timeframe: str) -> Path:
        """某个（交易所, 交易对, 周期）的缓存文件路径。"""
        return self.root / exchange / symbol.replace("/", "-").replace(":", "_") / f"{timeframe}.npz"

    def load(self, exchange: str, symbol: str, timeframe: str) -> Candles:
        """读取缓存；文件不存在时返回空段，文件损坏时抛 DataError（写明路径与修正方法）。"""
        path = self.path(exchange, symbol, timeframe)
        if not path.is_file():
            return Candles.empty()
        try:
            with np.load(path, allow_pickle=False) as data:
                return Candles(data["ts"], data["ohlcv"], data["ranges"])
        except (OSError, KeyError, ValueError) as exc:
            raise DataError(f"{path}: unreadable candle cache ({exc}); delete the file and fetch again") from None

    def save(self, exchange: str, symbol: str, timeframe: str, candles: Candles) -> Path:
        """原子地写入缓存文件（先写同目录的临时文件，再改名覆盖）；返回路径。"""
        path = self.path(exchange, symbol, timeframe)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
        with open(tmp, "wb") as handle:
            np.savez(handle, ts=candles.ts, ohlcv=candles.ohlcv, ranges=candles.ranges)
        os.replace(tmp, path)
        return path

    def add(self, exchange: str, symbol: str, timeframe: str, frame: pd.DataFrame,
            fetched: tuple[int, int] | None = None) -> Candles:
        """把一张 OHLCV 表并入缓存并写盘；fetched 为这次完整取过的区间 [开始, 结束)。返回合并后的内容。"""
        old = self.load(exchange, symbol, timeframe)
        merged = merge_candles(old, frame["timestamp"].to_numpy(np.int64),
                               frame[list(OHLCV_COLUMNS[1:])].to_numpy(np.float64), fetched)
        self.save(exchange, symbol, timeframe, merged)
        return merged

    def import_csv(self, path: str | Path, exchange: str, symbol: str, timeframe: str) -> Candles:
        """把 K 线 CSV 并入缓存；文件覆盖的时间段记为已取过。"""
        frame = load_ohlcv_csv(path)
        if frame.empty:
            return self.load(exchange, symbol, timeframe)
        step = timeframe_ms(timeframe)
        ts = frame["timestamp"].to_numpy()
        unaligned = ts % step != 0
        if unaligned.any():
            first = int(ts[int(unaligned.argmax())])
            when = pd.Timestamp(first, unit="ms", tz="UTC")
            raise DataError(f"{path}: timestamp {first} ({when:%Y-%m-%d %H:%M:%S} UTC) is not the start of a "
                            f"{timeframe} bar; check the TIMEFRAME argument")
        return self.add(exchange, symbol, timeframe, frame, (int(ts[0]), int(ts[-1]) + step))

    def export_csv(self, exchange: str, symbol: str, timeframe: str, path: str | Path) -> int:
        """把缓存写成 CSV（列 timestamp,open,high,low,close,volume）；返回行数。"""
        frame = self.load(exchange, symbol, timeframe).to_frame()
        save_ohlcv_csv(frame, path)
        return len(frame)

    def entries(self) -> list[CacheEntry]:
        """列出缓存目录里的全部文件及其概况（按交易所、交易对、周期排序）。"""
        out: list[CacheEntry] = []
        for path in sorted(self.root.glob("*/*/*.npz")):
            if path.name.startswith("."):
                continue
            exchange, symbol_dir, timeframe = path.parent.parent.name, path.parent.name, path.stem
            symbol = normalize_symbol(symbol_dir.replace("-", "/").replace("_", ":")) or symbol_dir
            candles = self.load(exchange, symbol, timeframe)
            step = TIMEFRAME_MS.get(timeframe, 0)
            out.append(CacheEntry(exchange, symbol, timeframe, int(candles.ts[0]) if len(candles) else None,
                                  int(candles.ts[-1]) if len(candles) else None, len(candles),
                                  find_gaps(candles.ts, step) if step else [], path))
        return out

