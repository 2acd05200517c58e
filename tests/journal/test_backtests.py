"""只读地列出与取出回测（tradeterm/journal/backtests.py）：新记的回测从 run_series 的压缩块读出权益曲线；
第 6 版之前的日志库（权益逐行在 equity 表里）原样能读，迁移到第 6 版之后也能读，新旧运行并存。"""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

from tradeterm.backtest.engine import BacktestSettings, InstanceSpec, run_backtest
from tradeterm.journal import schema
from tradeterm.journal.backtests import list_backtests, read_backtest
from tradeterm.journal.runs import record_backtest
from tradeterm.journal.schema import connect, current_version
from tradeterm.report.metrics import result_metrics
from tradeterm.strategy.loader import build_strategy, load_strategy_class

# 第 6 版（run_series）之前的最后一个表结构版本
OLD_VERSION = 5


@pytest.fixture(scope="module")
def real_result(btc_bars):
    """MACross 在全部 30,240 根真实 BTC/USDT 1 分钟 K 线上的回测结果。"""
    strategy = build_strategy(load_strategy_class("MACross"), {"fast": 10, "slow": 30})
    return run_backtest([InstanceSpec(strategy, btc_bars)], BacktestSettings(cash=10_000.0))


def same_bits(stored: np.ndarray, expected: np.ndarray) -> bool:
    """两个数组的类型、长度与每个元素的位模式都相同。"""
    return (stored.dtype == expected.dtype and stored.shape == expected.shape
            and stored.tobytes() == np.ascontiguousarray(expected).tobytes())


def build_old_journal(path, result, metrics: dict) -> int:
    """只用第 1-5 版的迁移建一个旧库，并像第 6 版之前的 record_backtest 那样记下这次回测（组合权益每根一行写进
    equity 表，实例一行）；返回运行号。"""
    conn = sqlite3.connect(path)
    try:
        current_version(conn)
        for number, description, script in schema.MIGRATIONS[:OLD_VERSION]:
            conn.executescript(script)
            conn.execute("INSERT INTO schema_version VALUES (?, ?, 0)", (number, description))
        cursor = conn.execute(
            "INSERT INTO runs (kind, started_ts, finished_ts, first_bar_ts, last_bar_ts, timeframe, starting_cash, "
            "final_equity, settings, metrics) VALUES ('backtest', 1, 2, ?, ?, ?, ?, ?, '{}', ?)",
            (int(result.timestamps[0]), int(result.timestamps[-1]), result.timeframe, result.starting_cash,
             float(result.equity[-1]), json.dumps(metrics["portfolio"])))
        run_id = int(cursor.lastrowid)
        instance = result.instances[0]
        conn.execute("INSERT INTO run_instances VALUES (?, ?, ?, ?, ?, ?, ?, '{}')",
                     (run_id, instance.name, instance.strategy, instance.symbol, instance.timeframe, instance.budget,
                      instance.path))
        conn.executemany("INSERT INTO equity VALUES (?, '', ?, ?)",
                         [(run_id, ts, value) for ts, value in zip(result.timestamps.tolist(), result.equity.tolist())])
        conn.commit()
        return run_id
    finally:
        conn.close()


def test_a_recorded_backtest_reads_back_its_curve_bit_for_bit(tmp_path, real_result):
    """record_backtest 之后 read_backtest：组合权益曲线（来自 run_series）与结果逐位相同，列表行与指标正确。"""
    path = tmp_path / "j.db"
    metrics = result_metrics(real_result)
    run_id = record_backtest(path, real_result, metrics, {})
    detail = read_backtest(path, run_id)
    assert same_bits(detail.timestamps, real_result.timestamps) and same_bits(detail.equity, real_result.equity)
    assert detail.row.strategies == "MACross(fast=10, slow=30)"
    assert detail.metrics["num_trades"] == metrics["portfolio"]["num_trades"]


def test_an_old_journal_with_equity_rows_still_reads(tmp_path, real_result):
    """第 5 版的库（没有 run_series，回测的权益逐行在 equity 表里），只读打开不迁移：列表与曲线照样读出，逐位相同。"""
    path = tmp_path / "old.db"
    run_id = build_old_journal(path, real_result, result_metrics(real_result))
    [row] = list_backtests(path)
    assert row.run_id == run_id and row.final_equity == float(real_result.equity[-1])
    detail = read_backtest(path, run_id)
    assert same_bits(detail.timestamps, real_result.timestamps) and same_bits(detail.equity, real_result.equity)
    conn = sqlite3.connect(path)
    try:
        assert current_version(conn) == OLD_VERSION  # 读的时候没有改库
    finally:
        conn.close()


def test_an_upgraded_journal_reads_old_rows_and_new_blobs_side_by_side(tmp_path, real_result):
    """旧库迁移到第 6 版后再记一次：旧运行仍从 equity 表读，新运行从 run_series 读，两条曲线都与结果逐位相同。"""
    path = tmp_path / "old.db"
    metrics = result_metrics(real_result)
    old_id = build_old_journal(path, real_result, metrics)
    new_id = record_backtest(path, real_result, metrics, {})
    conn = connect(path)
    try:
        assert current_version(conn) == schema.SCHEMA_VERSION
        assert conn.execute("SELECT COUNT(*) FROM equity WHERE run_id = ?", (old_id,)).fetchone()[0] == 30_240
        assert conn.execute("SELECT COUNT(*) FROM equity WHERE run_id = ?", (new_id,)).fetchone()[0] == 0
    finally:
        conn.close()
    for run_id in (old_id, new_id):
        detail = read_backtest(path, run_id)
        assert same_bits(detail.timestamps, real_result.timestamps) and same_bits(detail.equity, real_result.equity)
    assert [row.run_id for row in list_backtests(path)] == [new_id, old_id]
