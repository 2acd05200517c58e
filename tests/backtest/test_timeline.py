"""组合时间轴按数据的量定行数：范围相差悬殊的实例（1M 与 1m）不再铺一张跨几百年的 1 分钟网格；放不下的计划在模拟前被拒绝。

所有用例都很小（几千根以内），拒绝的用例把上限临时调小，不会分配大数组。
"""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest

from tradeterm.backtest import timeline
from tradeterm.backtest.broker import FeeSchedule
from tradeterm.backtest.engine import BacktestSettings, InstanceSpec, run_backtest
from tradeterm.backtest.timeline import Series, TimelineTooLarge, plan_timeline
from tradeterm.cli.main import main
from tradeterm.sizing.sizers import SIZE_NOTIONAL, Sizer
from tests.backtest.scripted import START_TS, STEP_MS, Scripted, make_bars

# 1M 周期的毫秒数（30 天）
MONTH_MS = 2_592_000_000


def minutes(count: int, start: int = START_TS) -> np.ndarray:
    """从 start 起每分钟一个的开盘时间，UTC 毫秒。"""
    return start + STEP_MS * np.arange(count, dtype=np.int64)


def test_plan_uses_the_regular_grid_while_it_is_at_most_four_times_the_data():
    """1m 10 根（0..9 分）+ 1h 1 根（0 分）：网格 10 行 <= 4 * 11 -> 等距网格；
    1h 再加一根（60 分）：网格 61 行 > 4 * 12 = 48 -> 改用开盘时间的并集，12 根里 0 分重复，并集 11 行以内。"""
    fine = Series("fine", "1m", minutes(10))
    plan = plan_timeline([fine, Series("hourly", "1h", np.array([START_TS], dtype=np.int64))])
    assert (plan.regular, plan.rows, plan.step) == (True, 10, STEP_MS)
    plan = plan_timeline([fine, Series("hourly", "1h", START_TS + 3_600_000 * np.arange(2, dtype=np.int64))])
    assert (plan.regular, plan.rows) == (False, 12)
    assert timeline.build_timeline(plan, [fine, Series("hourly", "1h", START_TS + 3_600_000 * np.arange(2))]
                                   ).tolist() == minutes(10).tolist() + [START_TS + 3_600_000]


def monthly_and_minute(bars: int) -> list[InstanceSpec]:
    """1M 实例 slow（固定 500 USDT，第 0 根收盘开多）与 1m 实例 fast（无信号），各 bars 根，从同一时刻开始。
    slow 的 K 线：第 0 根 100，第 1 根收盘 110，之后 110。"""
    slow_rows = [(100, 100, 100, 100), (100, 111, 99, 110)] + [(110, 110, 110, 110)] * (bars - 2)
    slow_bars = make_bars(slow_rows)
    slow_bars["timestamp"] = START_TS + MONTH_MS * np.arange(bars, dtype=np.int64)
    slow = Scripted({0: {"enter_long": True}}, name="slow")
    slow.timeframe = "1M"
    fast = Scripted({}, name="fast", symbol="ETH/USDT")
    return [InstanceSpec(slow, slow_bars, sizer=Sizer(SIZE_NOTIONAL, 500.0)),
            InstanceSpec(fast, make_bars([(10, 10, 10, 10)] * bars))]


def test_monthly_and_minute_instances_get_a_timeline_sized_by_their_bars():
    """3 根 1M + 3 根 1m：等距 1 分钟网格要 60 天 = 86,401 行 > 4 * 6，改用并集：0、1、2 分，30 天，60 天，共 5 行。
    slow 在 30 天那根开盘以 100 买 5 个，那根 60 天时收盘于 110：组合在 60 天那行（收盘 60 天 + 1 分）才加上 50。"""
    result = run_backtest(monthly_and_minute(3), BacktestSettings(cash=1000.0, fees=FeeSchedule(0.0, 0.0, 0.0)))
    assert result.timeframe == "1m"
    assert result.timestamps.tolist() == [START_TS, START_TS + STEP_MS, START_TS + 2 * STEP_MS,
                                          START_TS + MONTH_MS, START_TS + 2 * MONTH_MS]
    assert result.equity.tolist() == [1000.0, 1000.0, 1000.0, 1000.0, 1050.0]


def test_the_issue_plan_of_5000_monthly_and_5000_minute_bars_stays_small():
    """问题单的复现：5,000 根 1M（跨 411 年）+ 5,000 根 1m。修复前是 2.1 亿行的 1 分钟网格（4.1 GB）；
    现在时间轴是 9,999 行（第 0 根同一时刻），组合权益计算的峰值内存不到 5 MB。"""
    specs = monthly_and_minute(5_000)
    tracemalloc.start()
    try:
        result = run_backtest(specs, BacktestSettings(cash=1000.0, fees=FeeSchedule(0.0, 0.0, 0.0)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(result.timestamps) == 9_999
    assert result.equity[-1] == 1050.0
    assert peak < 20 * 2**20


def test_a_plan_that_cannot_fit_is_refused_before_simulating(monkeypatch):
    """上限调到 100 行：两个 1m 实例各 60 根、相隔一天（网格 1,500 行 > 4 * 120，并集 120 行 > 100）-> 拒绝，
    消息给出行数、内存估计（120 * 64 字节）、上限、各实例的范围与修正方法。"""
    monkeypatch.setattr(timeline, "MAX_TIMELINE_ROWS", 100)
    first = make_bars([(10, 10, 10, 10)] * 60)
    second = make_bars([(10, 10, 10, 10)] * 60)
    second["timestamp"] = minutes(60, START_TS + 86_400_000)
    specs = [InstanceSpec(Scripted({}, name="a"), first), InstanceSpec(Scripted({}, name="b"), second)]
    with pytest.raises(TimelineTooLarge) as caught:
        run_backtest(specs, BacktestSettings(cash=1000.0))
    assert str(caught.value) == (
        "backtest: the portfolio timeline needs 120 rows (about 0.0 GiB), above the limit of 100 rows; "
        "instances: a 1m 60 bars 2023-01-01..2023-01-01, b 1m 60 bars 2023-01-02..2023-01-02; "
        "backtest a shorter period (trim the CSV files or lower --bars) or fewer instances")


def write_config(path) -> None:
    """问题单里的配置：同一交易对上一个 1M、一个 1m 的 MACross 实例（没有 CSV，用合成行情）。"""
    path.write_text("mode: backtest\naccount:\n  starting_cash: 10000\nstrategies:\n"
                    "  - {name: monthly, symbol: BTC/USDT, interval: 1M, class: MACross}\n"
                    "  - {name: minute, symbol: BTC/USDT, interval: 1m, class: MACross}\n", encoding="utf-8")


def test_cli_backtest_of_monthly_and_minute_instances_runs_on_a_small_timeline(tmp_path, capsys):
    """`backtest --config` 的复现（--bars 1000）：运行成功，JSON 里组合权益 1,999 行（两个实例的开盘时间并集）。"""
    config, out_json = tmp_path / "config.yml", tmp_path / "out.json"
    write_config(config)
    code = main(["backtest", "--config", str(config), "--bars", "1000", "--no-plot", "--json", str(out_json),
                 "--journal", str(tmp_path / "j.db")])
    err = capsys.readouterr().err
    assert code == 0, err
    assert len(json.loads(out_json.read_text())["equity"]["ts"]) == 1_999


def test_cli_refuses_a_timeline_that_cannot_fit_with_exit_code_2(tmp_path, capsys, monkeypatch):
    """上限调到 1,000 行时同一配置（--bars 600，并集 1,199 行）以退出码 2 拒绝，一行错误，无 traceback。"""
    monkeypatch.setattr(timeline, "MAX_TIMELINE_ROWS", 1_000)
    config = tmp_path / "config.yml"
    write_config(config)
    code = main(["backtest", "--config", str(config), "--bars", "600", "--no-plot", "--journal",
                 str(tmp_path / "j.db")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: backtest: the portfolio timeline needs 1,199 rows (about 0.0 GiB), above the limit "
                          "of 1,000 rows; instances: monthly 1M 600 bars 2023-01-01..")
    assert "minute 1m 600 bars" in err and "lower --bars" in err and "Traceback" not in err
    assert not (tmp_path / "j.db").exists()


def test_single_instance_timeline_is_its_own_bars():
    """单个实例不经规划：时间轴就是它自己的开盘时间（不受上限约束）。"""
    bars = make_bars([(10, 10, 10, 10)] * 5)
    result = run_backtest([InstanceSpec(Scripted({}), bars)], BacktestSettings(cash=1000.0))
    assert result.timestamps.tolist() == minutes(5).tolist()
