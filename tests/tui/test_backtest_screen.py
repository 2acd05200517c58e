"""回测屏：Pilot 驱动真实界面，在真实 K 线（../shared/data 的 BTC/USDT 1m）上回测 MACross，核对指标表与直接调用
回测接口的结果一致、交易表有行、日志库记下了运行；运行列表显示它，两次运行可以并排对比。另有 100x30 的快照。
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, TabbedContent

from tests.tui.frozen import FrozenClient
from tests.tui.helpers import SIZE, settled, steady_cursors, until
from tradeterm.backtest.engine import run_backtest
from tradeterm.backtest.prepare import load_candles, prepare_single
from tradeterm.journal.backtests import list_backtests
from tradeterm.report.metrics import result_metrics
from tradeterm.report.tables import format_value
from tradeterm.strategy.loader import load_strategy_class
from tradeterm.tui.app import TradetermApp
from tradeterm.tui.screens.backtest import BacktestScreen
from tradeterm.tui.screens.main import MainScreen

# 真实 K 线：binance.us BTC/USDT 2023 年 3 月的 1 分钟线
CSV = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "binanceus_BTCUSDT_1m_2023-03.csv"

pytestmark = pytest.mark.skipif(not CSV.is_file(), reason=f"{CSV} is not available")


def expected_final_equity(params: dict) -> float:
    """直接调用回测接口（同样的默认资金、费率与滑点）得到的期末权益。"""
    data = load_candles(CSV, "1m")
    prepared = prepare_single(load_strategy_class("MACross"), params, data, str(CSV))
    return result_metrics(run_backtest(prepared.specs, prepared.settings))["portfolio"]["final_equity"]


def recorded_runs(journal: Path) -> int:
    """日志库里的回测运行数；回测的写线程正在新建这个库（文件已在、表还没建好）时为 -1。"""
    try:
        return len(list_backtests(journal))
    except sqlite3.OperationalError:
        return -1


async def run_form(pilot, screen: BacktestScreen, params: str = "") -> None:
    """在表单里填参数并按 Ctrl+R，等到运行记进日志库、指标表填好。"""
    before = recorded_runs(screen.journal_path)
    screen.query_one("#bt-params", Input).value = params
    await pilot.press("ctrl+r")
    await until(pilot, lambda: recorded_runs(screen.journal_path) == before + 1
                and screen.outcome is not None and screen.query_one("#bt-metrics", DataTable).row_count
                and not screen.query_one("#bt-run").disabled, what="the backtest to finish")


async def test_backtest_screen_runs_records_browses_and_compares(tmp_path):
    """b 打开回测屏；MACross 在真实 CSV 上回测：指标表的期末权益与直接调用接口相同，交易表有行，日志库有运行；
    参数错误显示在表单里；运行列表列出两次运行，标记两次后 c 并排对比；Esc 回到主屏。"""
    journal = tmp_path / "tradeterm.db"
    app = TradetermApp(FrozenClient(), journal_path=journal)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("b")
        await until(pilot, lambda: isinstance(app.screen, BacktestScreen), what="the backtest screen")
        screen: BacktestScreen = app.screen
        assert screen.query_one("#bt-strategy").value == "MACross"
        assert os.path.samefile(screen.query_one("#bt-data", Input).value, CSV)  # 显示为相对路径，指的是同一个文件

        # 参数按策略的规则校验：未知参数与类型不符都显示出来，不会开始回测
        screen.query_one("#bt-params", Input).value = "fats=5 slow=abc"
        await pilot.pause()
        error = str(screen.query_one("#bt-error").render())
        assert "unknown parameter 'fats'" in error and "slow='abc'" in error
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert screen.outcome is None

        await run_form(pilot, screen)
        metrics = screen.query_one("#bt-metrics", DataTable)
        expected = format_value(expected_final_equity({}), "money")
        assert str(metrics.get_cell("final_equity", "value")) == expected
        assert screen.query_one("#bt-trades", DataTable).row_count > 0
        runs = list_backtests(journal)
        assert len(runs) == 1 and runs[0].strategies.startswith("MACross")
        assert format_value(runs[0].final_equity, "money") == expected

        await run_form(pilot, screen, "fast=5 slow=20")
        first, second = (r.run_id for r in sorted(list_backtests(journal), key=lambda r: r.run_id))
        await pilot.press("4")
        table = screen.query_one("#bt-runs", DataTable)
        await until(pilot, lambda: table.row_count == 2, what="both runs in the Runs tab")
        table.focus()
        await pilot.press("space", "down", "space", "c")
        compare = screen.query_one("#bt-compare-table", DataTable)
        await until(pilot, lambda: len(compare.columns) == 3 and compare.row_count, what="the comparison")
        assert screen.query_one("#bt-results", TabbedContent).active == "tab-compare"
        assert {str(c.label) for c in compare.columns.values()} == {"Metric", f"Run {first}", f"Run {second}"}
        assert str(compare.get_cell("final_equity", str(first))) == expected
        assert str(compare.get_cell("final_equity", str(second))) == format_value(
            expected_final_equity({"fast": 5, "slow": 20}), "money")

        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
        await pilot.press("b")  # 再打开：上次的结果还在
        assert app.screen is screen and screen.outcome is not None


@pytest.fixture
def utc(monkeypatch):
    """时刻按 UTC 显示（快照与机器的时区无关）。"""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_backtest_screen_snapshot(snap_compare, tmp_path, utc):
    """回测屏完成一次 MACross 回测后的样子（固定数据的主屏客户端、真实 CSV、空的日志库），100x30。"""
    async def finished(pilot) -> None:
        """主屏就绪后按 b，等回测屏打开，运行默认表单，等回测完成；光标常亮（不随定时器闪烁）。"""
        await settled(pilot)
        await pilot.press("b")
        await until(pilot, lambda: isinstance(pilot.app.screen, BacktestScreen), what="the backtest screen")
        await run_form(pilot, pilot.app.screen)
        steady_cursors(pilot.app)
        await pilot.pause()

    app = TradetermApp(FrozenClient(), journal_path=tmp_path / "tradeterm.db")
    assert snap_compare(app, terminal_size=SIZE, run_before=finished)
