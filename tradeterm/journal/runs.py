"""把一次回测写进日志库：runs、run_instances、trades、run_series、events 各一批插入，在一个事务里完成。

逐根的权益曲线（组合一条，多实例时每个实例再各一条）每条写成 run_series 的一行压缩块（tradeterm/journal/series.py），
不是一根 K 线一行：一百万根 K 线的曲线写进去只要几十毫秒。模拟盘/实盘的权益照旧逐行写 equity 表（store.py）。

events 表（第 2 版迁移建的，与交易引擎共用）记下每次被拒绝的下单（kind = rejection，负载含 instance、symbol、
rule、reason、side、amount、price，键与引擎的拒绝事件一致）与每次熔断触发（kind = breaker，负载含 rule、message）。
"""

from __future__ import annotations

import json
import math
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from tradeterm.backtest.results import EXIT_REASONS, BacktestResult
from tradeterm.journal.schema import connect
from tradeterm.journal.series import EQUITY, encode_series, insert_series


def json_safe(value: Any) -> Any:
    """把 NaN/无穷大转成 None（JSON 不支持），递归处理字典与列表。"""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def record_backtest(path: str | Path, result: BacktestResult, metrics: dict, settings: dict[str, Any],
                    started_ts: int | None = None) -> int:
    """记录一次回测，返回 runs.id。metrics 为 report.metrics.result_metrics 的结果；settings 写入 runs.settings。"""
    started = started_ts if started_ts is not None else int(time.time() * 1000)
    # 要存的曲线：(实例名, 时间, 权益)；多实例时另存每个实例自己的曲线，单实例时它与组合曲线相同，不重复存
    curves = [("", result.timestamps, result.equity)]
    if len(result.instances) > 1:
        curves += [(r.name, r.timestamps, r.equity) for r in result.instances]
    with ThreadPoolExecutor(max_workers=1) as pool:
        # 在另一个线程里压缩曲线（zlib 与 numpy 的减法都放开 GIL），与下面插入交易的 Python 工作同时进行：
        # 一百万根时压缩要 0.05-0.1 秒，这样大部分藏在交易的插入后面
        encoded = [pool.submit(encode_series, stamps, values) for _, stamps, values in curves]
        return _record(path, result, metrics, settings, started, curves, encoded)


def _record(path: str | Path, result: BacktestResult, metrics: dict, settings: dict[str, Any], started: int,
            curves: list[tuple[str, np.ndarray, np.ndarray]], encoded: list[Future]) -> int:
    """record_backtest 的事务部分：curves 为要存的曲线 (实例名, 时间, 权益)，encoded 为它们正在压缩的块。"""
    conn = connect(path)
    try:
        with conn:
            cursor = conn.execute(
                "INSERT INTO runs (kind, started_ts, finished_ts, first_bar_ts, last_bar_ts, timeframe, starting_cash,"
                " final_equity, settings, metrics) VALUES ('backtest', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (started, int(time.time() * 1000),
                 int(result.timestamps[0]) if len(result.timestamps) else None,
                 int(result.timestamps[-1]) if len(result.timestamps) else None,
                 result.timeframe, result.starting_cash,
                 float(result.equity[-1]) if len(result.equity) else result.starting_cash,
                 json.dumps(json_safe(settings)), json.dumps(json_safe(metrics["portfolio"]))))
            run_id = int(cursor.lastrowid)
            conn.executemany(
                "INSERT INTO run_instances VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(run_id, r.name, r.strategy, r.symbol, r.timeframe, r.budget, r.path,
                  json.dumps(json_safe(metrics["instances"].get(r.name, {})))) for r in result.instances])
            conn.executemany(
                "INSERT INTO trades (run_id, instance, symbol, side, entry_ts, exit_ts, entry_price, exit_price, "
                "amount, pnl, fees, exit_reason, is_open) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(run_id, t.instance, t.symbol, t.side_name, t.entry_ts, t.exit_ts, t.entry_price, t.exit_price,
                  t.amount, t.pnl, t.fees, EXIT_REASONS[t.exit_reason], int(t.is_open)) for t in result.trades])
            for (instance, stamps, _), blobs in zip(curves, encoded):
                insert_series(conn, run_id, instance, EQUITY, len(stamps), blobs.result())
            conn.executemany("INSERT INTO events (run_id, ts, kind, data) VALUES (?, ?, ?, ?)",
                             _event_rows(run_id, result))
        return run_id
    finally:
        conn.close()


def _event_rows(run_id: int, result: BacktestResult) -> list[tuple[int, int, str, str]]:
    """events 表的行：被拒绝的下单与熔断触发，按时间排序（同一时刻熔断在前，它是随后拒绝的原因）。"""
    symbols = {r.name: r.symbol for r in result.instances}
    rows = [(run_id, e.ts, 0, "breaker", json.dumps({"rule": e.rule, "message": e.message}))
            for e in result.risk_events]
    rows += [(run_id, j.ts, 1, "rejection", json.dumps(json_safe({**j.to_dict(), "symbol": symbols.get(j.instance)})))
             for j in result.rejections]
    rows.sort(key=lambda row: (row[1], row[2]))
    return [(run, ts, kind, data) for run, ts, _, kind, data in rows]
