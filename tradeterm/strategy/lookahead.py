"""前视（look-ahead）检查：整段历史上算出的指标与信号，必须等于把历史截断到第 t 根再算出的最后一行。

一个策略若在第 t 行用到了 t 之后的数据（如 shift(-1)、居中的滚动窗口、全样本归一化），
截断后第 t 行就会变：这正是回测里“偷看未来”的痕迹。逐根检查太慢，这里抽样若干根（含最后几根），
报告最早出现差异的那一根与不一致的列。
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tradeterm.strategy.base import Strategy

# 浮点列比较的相对容差：因果的计算截断后应逐位相同，这里只容忍求和顺序带来的舍入差
RELATIVE_TOLERANCE = 1e-9


@dataclass
class LookaheadReport:
    """一次前视检查的结果。"""

    strategy: str                                        # 策略描述（类名与参数）
    bars: int                                            # 数据总根数
    checked: list[int] = field(default_factory=list)     # 抽查的行号（从 0 开始，升序）
    first_bad_row: int | None = None                     # 最早出现差异的行号；None 表示全部一致
    first_bad_ts: int | None = None                      # 该行 K 线的开盘时间，UTC 毫秒
    bad_columns: list[str] = field(default_factory=list)  # 该行上不一致的列名

    @property
    def passed(self) -> bool:
        """全部抽查行一致即通过。"""
        return self.first_bad_row is None


def sample_rows(bars: int, start: int, samples: int, seed: int) -> list[int]:
    """在 [start, bars-1] 里抽 samples 个行号：随机抽取，再加上起点与最后三根（最容易偷看未来的位置）。"""
    if bars <= start:
        return []
    rng = np.random.default_rng(seed)
    population = np.arange(start, bars)
    picked = set(rng.choice(population, size=min(samples, len(population)), replace=False).tolist())
    picked |= {start, *range(max(start, bars - 3), bars)}
    return sorted(int(i) for i in picked)


def rows_differ(full: pd.Series, truncated: pd.Series) -> list[str]:
    """比较同一行的两份计算结果，返回不一致的列名（NaN 与 NaN 视为相同）。"""
    bad = []
    for column in full.index:
        a, b = full[column], truncated.get(column, np.nan)
        if isinstance(a, (float, np.floating)) or isinstance(b, (float, np.floating)):
            a, b = float(a), float(b)
            if np.isnan(a) and np.isnan(b):
                continue
            if np.isnan(a) != np.isnan(b) or abs(a - b) > RELATIVE_TOLERANCE * max(abs(a), abs(b), 1e-300):
                bad.append(column)
        elif a != b:
            bad.append(column)
    return bad


def check_lookahead(strategy: Strategy, df: pd.DataFrame, samples: int = 60, seed: int = 0) -> LookaheadReport:
    """对策略做前视检查：向量化策略比较 compute()（指标+信号）；只重写 on_data 的策略比较 indicators()。"""
    compute = strategy.compute if strategy.is_vectorized else (lambda frame: strategy.indicators(frame.copy()))
    full = compute(df)
    report = LookaheadReport(strategy=strategy.describe(), bars=len(df))
    report.checked = sample_rows(len(df), max(strategy.warmup, 1), samples, seed)
    for row in report.checked:
        truncated = compute(df.iloc[: row + 1].reset_index(drop=True)).iloc[-1]
        bad = rows_differ(full.iloc[row], truncated)
        if bad:
            report.first_bad_row = row
            report.first_bad_ts = int(df["timestamp"].iloc[row])
            report.bad_columns = bad
            break
    return report
