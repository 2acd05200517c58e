"""回测写入日志库：runs、run_instances、trades、equity 的行与回测结果一致。"""

from __future__ import annotations

import json
import sqlite3

import pytest

from tradeterm.backtest.engine import BacktestSettings, InstanceSpec, run_backtest
from tradeterm.journal.runs import record_backtest
from tradeterm.report.metrics import result_metrics
from tradeterm.strategy.loader import build_strategy, load_strategy_class


@pytest.fixture(scope="module")
def two_instance_result(btc_bars):
    """两个实例（MACross 与 MeanReversion）共享账户，跑真实行情的前 3000 根。"""
    bars = btc_bars.iloc[:3000].reset_index(drop=True)
    specs = [InstanceSpec(build_strategy(load_strategy_class("MACross"), {}, name="cross"), bars),
             InstanceSpec(build_strategy(load_strategy_class("MeanReversion"), {}, name="revert"), bars)]
    return run_backtest(specs, BacktestSettings(cash=10_000.0))


def test_backtest_run_is_recorded_with_trades_and_equity(tmp_path, two_instance_result):
    """一次记录：runs 一行（期末权益、指标 JSON），每个实例一行，交易行数相同，权益为组合 + 每个实例各一条曲线。"""
    result = two_instance_result
    metrics = result_metrics(result)
    path = tmp_path / "journal.db"
    run_id = record_backtest(path, result, metrics, {"note": "test"})
    conn = sqlite3.connect(path)
    try:
        kind, final, stored_metrics, settings = conn.execute(
            "SELECT kind, final_equity, metrics, settings FROM runs WHERE id=?", (run_id,)).fetchone()
        assert kind == "backtest" and final == pytest.approx(result.equity[-1])
        assert json.loads(stored_metrics)["num_trades"] == metrics["portfolio"]["num_trades"]
        assert json.loads(settings) == {"note": "test"}
        names = [r[0] for r in conn.execute("SELECT name FROM run_instances WHERE run_id=? ORDER BY name", (run_id,))]
        assert names == ["cross", "revert"]
        assert conn.execute("SELECT COUNT(*) FROM trades WHERE run_id=?", (run_id,)).fetchone()[0] == len(result.trades)
        portfolio_rows = conn.execute("SELECT COUNT(*), MAX(ts) FROM equity WHERE run_id=? AND instance=''",
                                      (run_id,)).fetchone()
        assert portfolio_rows == (len(result.timestamps), int(result.timestamps[-1]))
        per_instance = conn.execute("SELECT COUNT(*) FROM equity WHERE run_id=? AND instance='cross'",
                                    (run_id,)).fetchone()[0]
        assert per_instance == len(result.instances[0].timestamps)
    finally:
        conn.close()


def test_two_runs_get_separate_ids(tmp_path, two_instance_result):
    """同一个库里记两次：id 递增，各自的交易互不混淆。"""
    metrics = result_metrics(two_instance_result)
    path = tmp_path / "journal.db"
    first = record_backtest(path, two_instance_result, metrics, {})
    second = record_backtest(path, two_instance_result, metrics, {})
    assert second == first + 1
    conn = sqlite3.connect(path)
    try:
        counts = conn.execute("SELECT run_id, COUNT(*) FROM trades GROUP BY run_id ORDER BY run_id").fetchall()
        assert counts == [(first, len(two_instance_result.trades)), (second, len(two_instance_result.trades))]
    finally:
        conn.close()
