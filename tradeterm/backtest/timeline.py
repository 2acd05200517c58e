"""组合时间轴：多个实例的盈亏在哪些时刻相加成组合权益（portfolio_curve），以及这条时间轴要多少行
（plan_timeline：按数据的量定，放不下就拒绝）。

规则（README 有说明）：
- 单个实例：就是它自己的 K 线开盘时间。
- 多个实例：优先用从第一根到最后一根、以最短周期为步长的等距网格（并上各实例自己的开盘时间），
  这样组合的逐根收益恰好一根一个最短周期，年化（每年周期数 = 365 天 / 周期）才成立；
  但只在这张网格不超过数据本身的 GRID_PADDING 倍时用它。各实例的数据范围相差悬殊时（1M 的合成行情跨 416 年，
  1m 的只有几天），等距网格几乎全是填充（4 亿行、4 GB），这时时间轴改为各实例开盘时间的并集，行数不超过数据的总根数。
- 无论哪种，行数超过 MAX_TIMELINE_ROWS 就在模拟开始之前拒绝（TimelineTooLarge），消息给出行数、内存估计与修正方法。
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Sequence

import numpy as np

from tradeterm.backtest.results import InstanceResult
from tradeterm.config.markets import timeframe_ms
from tradeterm.errors import UserError

# 组合时间轴的行数上限：2000 万行（约 1.3 GB，见 BYTES_PER_ROW），约合 38 年的 1 分钟线
MAX_TIMELINE_ROWS = 20_000_000
# 时间轴每行在组合权益计算里占用的内存估计，字节（时间、收盘时间、权益、每个实例的行号与盈亏等 int64/float64 数组）
BYTES_PER_ROW = 64
# 等距网格最多是数据总根数的几倍；超过时改用各实例开盘时间的并集
GRID_PADDING = 4


class TimelineTooLarge(UserError):
    """组合时间轴的行数超过上限：消息写明需要的行数、内存估计、各实例的数据范围与修正方法。"""


@dataclass(frozen=True)
class Series:
    """一个实例在时间轴规划里的样子：实例名、周期与 K 线开盘时间（UTC 毫秒，升序）。"""

    name: str               # 实例名
    timeframe: str          # K 线周期，如 1m
    timestamps: np.ndarray  # 开盘时间，UTC 毫秒，int64


@dataclass(frozen=True)
class TimelinePlan:
    """规划好的组合时间轴：等距网格还是开盘时间并集、步长与（估计的）行数。"""

    regular: bool  # True 为等距网格（并上各实例的开盘时间），False 为开盘时间的并集
    first: int     # 第一根的开盘时间，UTC 毫秒
    last: int      # 最后一根的开盘时间，UTC 毫秒
    step: int      # 最短周期，毫秒
    rows: int      # 行数：等距网格为网格点数（不含网格外的开盘时间），并集为总根数（上界）


def plan_timeline(series: Sequence[Series]) -> TimelinePlan:
    """按数据的量规划多实例的组合时间轴（见模块说明）；放不下时抛 TimelineTooLarge。只做算术，不分配大数组。"""
    present = [s for s in series if len(s.timestamps)]
    step = min(timeframe_ms(s.timeframe) for s in series)
    if not present:
        return TimelinePlan(False, 0, 0, step, 0)
    first = min(int(s.timestamps[0]) for s in present)
    last = max(int(s.timestamps[-1]) for s in present)
    bars = sum(len(s.timestamps) for s in present)
    grid_rows = (last - first) // step + 1
    if grid_rows <= GRID_PADDING * bars and grid_rows <= MAX_TIMELINE_ROWS:
        return TimelinePlan(True, first, last, step, grid_rows)
    if bars > MAX_TIMELINE_ROWS:
        # 总根数只是并集的上界：真要拒绝之前数一下并集的确切行数（实例的 K 线可能在同一时刻）
        union = len(np.unique(np.concatenate([s.timestamps for s in present])))
        if union > MAX_TIMELINE_ROWS:
            raise TimelineTooLarge(_too_large(present, union))
        bars = union
    return TimelinePlan(False, first, last, step, bars)


def build_timeline(plan: TimelinePlan, series: Sequence[Series]) -> np.ndarray:
    """按规划生成组合时间轴（开盘时间，UTC 毫秒，升序、不重复）。"""
    stamps = [s.timestamps.astype(np.int64) for s in series if len(s.timestamps)]
    if not stamps:
        return np.zeros(0, np.int64)
    own = np.unique(np.concatenate(stamps))
    if not plan.regular:
        return own
    return np.union1d(np.arange(plan.first, plan.last + 1, plan.step, dtype=np.int64), own)


def _too_large(series: Sequence[Series], rows: int) -> str:
    """拒绝消息：行数、内存估计、上限、各实例的周期/根数/日期范围，以及修正方法（一行英文）。"""
    gib = rows * BYTES_PER_ROW / 2**30
    parts = ", ".join(f"{s.name} {s.timeframe} {len(s.timestamps):,} bars {_day(s.timestamps[0])}.."
                      f"{_day(s.timestamps[-1])}" for s in series)
    return (f"backtest: the portfolio timeline needs {rows:,} rows (about {gib:.1f} GiB), above the limit of "
            f"{MAX_TIMELINE_ROWS:,} rows; instances: {parts}; backtest a shorter period (trim the CSV files or "
            f"lower --bars) or fewer instances")


def _day(ts: int) -> str:
    """UTC 毫秒 -> YYYY-MM-DD（超出 datetime 范围时原样给出毫秒数）。"""
    try:
        return datetime.fromtimestamp(int(ts) / 1000, tz=timezone.utc).strftime("%Y-%m-%d")
    except (OverflowError, OSError, ValueError):
        return f"{int(ts)}ms"


def portfolio_curve(instances: list[InstanceResult], cash: float) -> tuple[np.ndarray, np.ndarray]:
    """组合时间轴与组合权益：各实例的盈亏按收盘时间向前填充后相加，再加初始资金。

    时间轴的选择（等距网格或开盘时间的并集，按数据的量定，放不下时拒绝）见本模块说明。
    对齐按收盘时间：时间轴上一根（收盘于 T = 开盘 + 最短周期）取各实例中收盘时间 <= T 的最后一根的盈亏，
    所以 5m 实例的一根只在它收盘之后才计入组合，组合曲线不会提前看到尚未收盘的 K 线。
    """
    if len(instances) == 1:
        only = instances[0]
        return only.timestamps, cash + (only.equity - only.budget)
    if not instances:
        return np.zeros(0, np.int64), np.zeros(0)
    series = [Series(r.name, r.timeframe, r.timestamps) for r in instances]
    plan = plan_timeline(series)
    timestamps = build_timeline(plan, series)
    closes = timestamps + plan.step
    equity = np.full(len(timestamps), cash, dtype=np.float64)
    for r in instances:
        if not len(r.timestamps):
            continue  # 没有 K 线的实例对组合没有贡献
        rows = np.searchsorted(r.timestamps + timeframe_ms(r.timeframe), closes, side="right") - 1
        pnl = r.equity - r.budget
        equity += np.where(rows >= 0, pnl[np.clip(rows, 0, None)], 0.0)
    return timestamps, equity
