"""回测屏：Pilot 驱动真实界面，在真实 K 线（../shared/data 的 BTC/USDT 1m）上回测 MACross，核对指标表与直接调用
回测接口的结果一致、交易表有行、日志库记下了运行；运行列表显示它，两次运行可以并排对比。另有 100x30 的快照。
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest
from textual import events
from textual.geometry import Region
from textual.widgets import DataTable, Input, TabbedContent

from tests.tui.frozen import FrozenClient
from tests.tui.helpers import SIZE, footer_keys_on_screen, settled, steady_cursors, until
from tradeterm.backtest.engine import run_backtest
from tradeterm.backtest.prepare import load_candles, prepare_single
from tradeterm.data.synthetic import synthetic_ohlcv
from tradeterm.journal.backtests import list_backtests
from tradeterm.journal.runs import record_backtest
from tradeterm.report.metrics import result_metrics
from tradeterm.report.tables import format_value
from tradeterm.strategy.loader import load_strategy_class
from tradeterm.tui.app import TradetermApp
from tradeterm.tui.screens.backtest import BacktestScreen
from tradeterm.tui.screens.main import MainScreen

# 真实 K 线：binance.us BTC/USDT 2023 年 3 月的 1 分钟线
CSV = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "binanceus_BTCUSDT_1m_2023-03.csv"

# 预先记进日志库的回测用的合成 K 线根数（只需要几笔交易，越少越快）
RUN_BARS = 2_000

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


def record_runs(journal: Path, runs: list[dict]) -> list[int]:
    """像 `tradeterm backtest` 一样把几次真实回测（MACross，带种子的合成行情，每组参数一次）写进日志库，返回运行号。"""
    ids = []
    for params in runs:
        data = synthetic_ohlcv(RUN_BARS, seed=3)
        prepared = prepare_single(load_strategy_class("MACross"), params, data, "synthetic")
        result = run_backtest(prepared.specs, prepared.settings)
        ids.append(record_backtest(journal, result, result_metrics(result), prepared.described))
    return ids


async def open_backtest_screen(pilot) -> BacktestScreen:
    """在主屏按 b，等回测屏打开并读完运行列表。"""
    await pilot.press("b")
    await until(pilot, lambda: isinstance(pilot.app.screen, BacktestScreen), what="the backtest screen")
    screen: BacktestScreen = pilot.app.screen
    await until(pilot, lambda: not screen.first_runs, what="the runs list read from the journal")
    return screen


async def test_earlier_runs_are_marked_with_the_fewest_keys(tmp_path):
    """日志库里已有两次回测：b 打开回测屏时运行列表页在前、焦点在列表上，一个空格就标记光标行（最新的运行），
    下移再空格标记第二次，c 并排对比。从表单里按 r 一键回到列表（Tab 也直接从列表回到表单的第一个字段）；
    按键栏上有 r 与空格。"""
    journal = tmp_path / "tradeterm.db"
    first, second = record_runs(journal, [{}, {"fast": 5, "slow": 20}])
    app = TradetermApp(FrozenClient(), journal_path=journal)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_backtest_screen(pilot)
        table = screen.query_one("#bt-runs", DataTable)
        await until(pilot, lambda: table.row_count == 2 and screen.focused is table, what="the focused runs list")
        assert screen.query_one("#bt-results", TabbedContent).active == "tab-runs"
        await until(pilot, lambda: {"r", "space"} <= footer_keys_on_screen(app), what="r and Space in the key bar")

        await pilot.press("space")  # 最新的运行在最上面，光标就在它上面
        await until(pilot, lambda: screen.marked == [second], what="the newest run marked")
        assert str(table.get_cell(str(second), "mark")) == "✓"
        await pilot.press("down", "space", "c")
        compare = screen.query_one("#bt-compare-table", DataTable)
        await until(pilot, lambda: len(compare.columns) == 3 and compare.row_count, what="the comparison")
        assert {str(c.label) for c in compare.columns.values()} == {"Metric", f"Run {first}", f"Run {second}"}
        assert screen.focused is compare

        # 从表单回到列表：r 一键（焦点落在列表上，空格直接取消标记光标行）
        await pilot.press("tab")
        await until(pilot, lambda: screen.focused is screen.query_one("#bt-strategy"), what="the first form field")
        await pilot.press("r")
        await until(pilot, lambda: screen.focused is table, what="r focusing the runs list")
        assert screen.query_one("#bt-results", TabbedContent).active == "tab-runs"
        await pilot.press("space")
        await until(pilot, lambda: screen.marked == [second], what="the highlighted run unmarked")
        assert str(table.get_cell(str(first), "mark")) == ""


def rendered_lines(widget) -> list[str]:
    """部件此刻画在屏幕上的各行文字；每一行都要确实露在屏幕上（那个位置最上层的就是这个部件），否则测试失败。"""
    region = widget.region
    screen = widget.screen
    assert region.height and region.right <= screen.size.width and region.bottom <= screen.size.height, region
    for y in range(region.y, region.bottom):
        assert screen.get_widget_at(region.x, y)[0] is widget, f"line {y} of {widget} is covered or scrolled away"
    return [strip.text.rstrip() for strip in widget.render_lines(Region(0, 0, region.width, region.height))]


async def test_a_long_data_path_is_shown_in_full_at_80x24(tmp_path):
    """临时目录下很深的一条 CSV 路径：80x24 上数据框下面那行把它整条显示出来（在 / 之后折行），
    文件名完整地落在一行里；改回 synthetic 时那行也跟着变。"""
    folder = tmp_path.joinpath("exports", "binance-us", "spot", "btc-usdt", "2023")
    folder.mkdir(parents=True)
    csv = folder / "binanceus_BTCUSDT_1m_2023-03_w1.csv"
    csv.write_text(CSV.read_text()[:2_000])
    app = TradetermApp(FrozenClient(), journal_path=tmp_path / "tradeterm.db")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_backtest_screen(pilot)
        screen.query_one("#bt-data", Input).value = str(csv)
        label = screen.query_one("#bt-data-path")
        # 整条路径都画在屏幕上，一个字符也不少
        await until(pilot, lambda: "".join(rendered_lines(label)) == f"data: {csv}", what="the whole path on screen")
        lines = rendered_lines(label)
        assert lines[-1] == csv.name  # 文件名完整地在一行里
        assert all(line.endswith("/") for line in lines[:-1])  # 只在 / 之后断行
        screen.query_one("#bt-data", Input).value = "synthetic"
        await until(pilot, lambda: label.region.height == 1 and rendered_lines(label) == ["data: synthetic"],
                    what="the label following the field")


async def test_the_key_bar_fills_in_while_the_app_has_no_focus(tmp_path):
    """浏览器版的情形（textual-serve 的 web 驱动一启动就发 AppBlur，页面上的终端要等用户点进去才聚焦）：App 没有焦点时
    打开的回测屏，按键栏照样列出它的键，而不是一直空着。"""
    app = TradetermApp(FrozenClient(), journal_path=tmp_path / "tradeterm.db")
    async with app.run_test(size=SIZE) as pilot:
        app.post_message(events.AppBlur())
        await until(pilot, lambda: not app.app_focus, what="the app blurred")
        await app.run_action("backtest")  # 不按键：按键会让 App 重新认为自己有焦点
        await until(pilot, lambda: isinstance(app.screen, BacktestScreen), what="the backtest screen")
        await until(pilot, lambda: {"esc", "^r", "r", "?", "q"} <= footer_keys_on_screen(app),
                    what="the backtest keys in the key bar")
        assert not app.app_focus
