"""回测写入日志库：runs、run_instances、trades 的行与回测结果一致，run_series 的压缩曲线逐位读回结果的曲线。"""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

from tradeterm.backtest.engine import BacktestSettings, InstanceSpec, run_backtest
from tradeterm.journal.runs import record_backtest
from tradeterm.journal.series import CODEC, decode_series, insert_series, read_series
from tradeterm.report.metrics import result_metrics
from tradeterm.strategy.loader import build_strategy, load_strategy_class


@pytest.fixture(scope="module")
def two_instance_result(btc_bars):
    """两个实例（MACross 与 MeanReversion）共享账户，跑真实行情的前 3000 根。"""
    bars = btc_bars.iloc[:3000].reset_index(drop=True)
    specs = [InstanceSpec(build_strategy(load_strategy_class("MACross"), {}, name="cross"), bars),
             InstanceSpec(build_strategy(load_strategy_class("MeanReversion"), {}, name="revert"), bars)]
    return run_backtest(specs, BacktestSettings(cash=10_000.0))


def same_bits(stored: np.ndarray, expected: np.ndarray) -> bool:
    """两个数组的类型、长度与每个元素的位模式都相同（NaN、-0.0 也逐位比较）。"""
    return (stored.dtype == expected.dtype and stored.shape == expected.shape
            and stored.tobytes() == np.ascontiguousarray(expected).tobytes())


def stored_series(path, run_id: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """直接用 SQL 读出一次运行在 run_series 里的全部序列（实例名 -> (时间, 权益)），按 series.decode_series 解码。"""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT instance, name, points, codec, ts, value FROM run_series WHERE run_id = ?",
                            (run_id,)).fetchall()
    finally:
        conn.close()
    assert {(name, codec) for _, name, _, codec, _, _ in rows} <= {("equity", CODEC)}
    return {instance: decode_series(ts, value, points) for instance, _, points, _, ts, value in rows}


def test_backtest_run_is_recorded_with_trades_and_equity(tmp_path, two_instance_result):
    """一次记录：runs 一行（期末权益、指标 JSON），每个实例一行，交易行数相同；权益是 run_series 里组合 + 每个实例
    各一条压缩的曲线，解码后与结果逐位相同；equity 表（模拟盘/实盘逐行用的）里没有这次回测的行。"""
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
        assert conn.execute("SELECT COUNT(*) FROM equity WHERE run_id=?", (run_id,)).fetchone()[0] == 0
    finally:
        conn.close()
    series = stored_series(path, run_id)
    assert set(series) == {"", "cross", "revert"}
    assert same_bits(series[""][0], result.timestamps) and same_bits(series[""][1], result.equity)
    for instance in result.instances:
        stamps, equity = series[instance.name]
        assert same_bits(stamps, instance.timestamps) and same_bits(equity, instance.equity)


def test_single_instance_real_candle_curve_round_trips_bit_for_bit(tmp_path, btc_bars):
    """MACross 在全部 30,240 根真实 BTC/USDT K 线上：只存一条组合曲线（单实例时实例曲线与它相同），解码后时间与
    权益与 result.timestamps / result.equity 逐位相同；连同 read_series 的读法。"""
    strategy = build_strategy(load_strategy_class("MACross"), {"fast": 10, "slow": 30})
    result = run_backtest([InstanceSpec(strategy, btc_bars)], BacktestSettings(cash=10_000.0))
    path = tmp_path / "journal.db"
    run_id = record_backtest(path, result, result_metrics(result), {})
    series = stored_series(path, run_id)
    assert set(series) == {""} and len(result.timestamps) == 30_240
    assert same_bits(series[""][0], result.timestamps) and same_bits(series[""][1], result.equity)
    conn = sqlite3.connect(path)
    try:
        stamps, equity = read_series(conn, run_id)
    finally:
        conn.close()
    assert same_bits(stamps, result.timestamps) and same_bits(equity, result.equity)


def test_a_failed_record_leaves_no_partial_run(tmp_path, two_instance_result, monkeypatch):
    """一个事务：写到一半（第二条曲线）出错时，runs、trades 与 run_series 都没有这次运行的任何一行。"""
    path = tmp_path / "journal.db"
    calls = []

    def failing(conn, run_id, instance, name, points, blobs):
        """第一条照常写，第二条抛错（模拟磁盘满之类）。"""
        calls.append(instance)
        if len(calls) == 2:
            raise sqlite3.OperationalError("database or disk is full")
        insert_series(conn, run_id, instance, name, points, blobs)

    monkeypatch.setattr("tradeterm.journal.runs.insert_series", failing)
    with pytest.raises(sqlite3.OperationalError):
        record_backtest(path, two_instance_result, result_metrics(two_instance_result), {})
    conn = sqlite3.connect(path)
    try:
        assert [conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                for table in ("runs", "run_instances", "trades", "run_series")] == [0, 0, 0, 0]
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
