"""逐根写法的工具：交叉检测器（Crossing，与 crossed_above / crossed_below 逐根相同）与两种写法的一致性检查。

插件作者用法（见 strategies/ma_cross.py）：reset() 里建 `Crossing()`，update() 里
`up, down = self.cross.update(gap)`；写完之后 `incremental_mismatches(strategy, df)` 应当返回空列表。
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from tradeterm.strategy.base import SIGNAL_COLUMNS, Strategy


class Crossing:
    """逐根的交叉检测：update(line, other) 返回 (上穿, 下穿)，与 crossed_above / crossed_below 同一根的值相同。

    上穿：line > other 且上一根 line <= other；下穿：line < other 且上一根 line >= other。含 NaN 的比较为假，
    第一根没有上一根（同 shift(1) 的 NaN），所以第一根不会交叉。
    """

    __slots__ = ("_line", "_other")  # 上一根的两个值，见 __init__

    def __init__(self) -> None:
        """建立空状态（还没有上一根）。"""
        # 上一根的 line；还没有时为 NaN
        self._line = math.nan
        # 上一根的 other；还没有时为 NaN
        self._other = math.nan

    def update(self, line: float, other: float = 0.0) -> tuple[bool, bool]:
        """输入这一根的两个值（缺省与 0 比较，如落定相对差），返回 (上穿, 下穿)。"""
        above = line > other and self._line <= self._other
        below = line < other and self._line >= self._other
        self._line, self._other = line, other
        return above, below


def incremental_flags(strategy: Strategy, df: pd.DataFrame) -> np.ndarray:
    """逐根写法在整段 K 线上的信号：从第一根起 reset + 逐根 update，返回 (K 线数, 4) 的布尔矩阵，列为 SIGNAL_COLUMNS。"""
    strategy.reset()
    rows = df[["timestamp", "open", "high", "low", "close", "volume"]].to_numpy(dtype=float).tolist()
    return np.array([strategy.bar_flags(row)[0] for row in rows], dtype=bool).reshape(len(rows), len(SIGNAL_COLUMNS))


def incremental_mismatches(strategy: Strategy, df: pd.DataFrame) -> list[int]:
    """逐根写法与向量化写法（compute()）信号不同的行号（升序）；两种写法一致时为空列表。

    策略没有实现 update() 时抛 ValueError（那是调用方的错误）。只比较四个布尔信号列。"""
    if not strategy.is_incremental:
        raise ValueError(f"{type(strategy).__name__} does not implement update()")
    vectorized = strategy.compute(df)[list(SIGNAL_COLUMNS)].to_numpy(dtype=bool)
    incremental = incremental_flags(strategy, df)
    return np.flatnonzero((vectorized != incremental).any(axis=1)).tolist()
