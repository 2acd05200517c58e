"""只读地列出与取出日志库里的回测运行（runs.kind = 'backtest'），供终端控制台的回测屏浏览与对比。

与 reader.py 一样用只读的同步 sqlite3 连接（WAL 模式下不阻塞正在写库的引擎或回测）；调用方在后台线程里调用。
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tradeterm.errors import UserError
from tradeterm.journal.reader import open_readonly
from tradeterm.journal.series import EQUITY, read_series

# 回测列表默认最多列出的运行数（最近的在前）
DEFAULT_LIMIT = 200


@dataclass(frozen=True)
class BacktestRunRow:
    """回测列表里的一行。"""

    run_id: int                 # runs.id
    started_ts: int             # 开始时间，UTC 毫秒（墙上时间）
    strategies: str             # 各实例的策略描述，逗号分隔，如 MACross(fast=10, slow=30)
    instances: int              # 实例个数
    timeframe: str              # K 线周期
    starting_cash: float        # 初始资金，计价货币
    final_equity: float | None  # 期末权益，计价货币
    total_return: float | None  # 总收益，小数（0.05 = 5%）
    sharpe: float | None        # 年化 Sharpe
    max_drawdown: float | None  # 最大回撤，正的小数


@dataclass
class BacktestRunDetail:
    """一次回测的组合指标与组合权益曲线（对比用）。"""

    row: BacktestRunRow                                  # 列表里的那一行
    metrics: dict[str, Any] = field(default_factory=dict)  # 组合指标（runs.metrics，键同 report.metrics.METRIC_LABELS）
    timestamps: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # 权益采样时间，UTC 毫秒
    equity: np.ndarray = field(default_factory=lambda: np.zeros(0))  # 组合权益，计价货币


def _row(conn, run_id: int, started: int, timeframe: str, cash: float, final: float | None,
         metrics_text: str | None) -> BacktestRunRow:
    """由 runs 的一行与它的实例拼出列表行。"""
    metrics = json.loads(metrics_text) if metrics_text else {}
    strategies = [s for (s,) in conn.execute("SELECT strategy FROM run_instances WHERE run_id = ? ORDER BY rowid",
                                             (run_id,))]
    return BacktestRunRow(int(run_id), int(started), ", ".join(strategies), len(strategies), str(timeframe or ""),
                          float(cash), None if final is None else float(final), metrics.get("total_return"),
                          metrics.get("sharpe"), metrics.get("max_drawdown"))


# runs 表里列表需要的列
_COLUMNS = "id, started_ts, timeframe, starting_cash, final_equity, metrics"


def list_backtests(path: str | Path, limit: int = DEFAULT_LIMIT) -> list[BacktestRunRow]:
    """最近的回测运行（新的在前）；日志库还不存在时返回空列表。"""
    if not Path(path).is_file():
        return []
    conn = open_readonly(path)
    try:
        rows = conn.execute(f"SELECT {_COLUMNS} FROM runs WHERE kind = 'backtest' ORDER BY id DESC LIMIT ?",
                            (limit,)).fetchall()
        return [_row(conn, *row) for row in rows]
    finally:
        conn.close()


def read_backtest(path: str | Path, run_id: int) -> BacktestRunDetail:
    """一次回测的组合指标与组合权益曲线；不存在或不是回测时抛 UserError。"""
    conn = open_readonly(path)
    try:
        row = conn.execute(f"SELECT {_COLUMNS} FROM runs WHERE kind = 'backtest' AND id = ?", (run_id,)).fetchone()
        if row is None:
            raise UserError(f"run {run_id} is not a backtest in journal '{path}'; pick one from the Runs list")
        detail = BacktestRunDetail(_row(conn, *row), json.loads(row[5]) if row[5] else {})
        # run_series 的压缩块；第 6 版之前记的回测退回 equity 表的逐行记录（见 series.read_series）
        detail.timestamps, detail.equity = read_series(conn, run_id, "", EQUITY)
        return detail
    finally:
        conn.close()
