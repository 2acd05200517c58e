"""界面快照（pytest-textual-snapshot）：主屏、帮助屏、下单框、实盘横幅，100x30。

为什么用固定数据的 FrozenClient 而不是真引擎：快照是逐字符比较的 SVG，真引擎的价格、时间、成交每次运行都不同，
画面不可能稳定；这里驱动的是真实的 App（同样的屏幕、部件、CSS 与刷新路径），只把引擎换成返回固定快照与固定事件的
客户端。按键对引擎的真实效果由 test_app.py 对着真引擎与沙盒测试。日志里的时刻按本地时区显示，所以这里固定 TZ=UTC。
与机器快慢无关：拍之前等条件（数据都在屏上、图表按全部数据重画过、下单框已打开且数字已输入），会动的东西冻住
（FrozenClient 先事件后快照；输入框光标常亮，不随 0.5 秒的定时器闪烁），不靠“停一会儿”。
更新快照：.venv/bin/python -m pytest tests/tui/test_snapshots.py --snapshot-update
"""

from __future__ import annotations

import time

import pytest

from textual.widgets import Input

from tests.tui.frozen import FrozenClient
from tests.tui.helpers import SIZE, settled, steady_cursors, until
from tradeterm.tui.app import TradetermApp
from tradeterm.tui.screens.help import HelpScreen
from tradeterm.tui.screens.order_entry import OrderEntryScreen


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    """日志时刻按 UTC 显示（快照与机器的时区无关）。"""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_main_screen(snap_compare):
    """主屏：报价与走势、三个实例（运行/暂停/出错着色）、持仓、挂单、K 线与买卖标记、权益曲线、日志。"""
    assert snap_compare(TradetermApp(FrozenClient()), terminal_size=SIZE, run_before=settled)


def test_help_screen(snap_compare):
    """帮助屏：每个按键一行。"""
    async def open_help(pilot) -> None:
        """主屏就绪后按 ?，等帮助屏打开。"""
        await settled(pilot)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen), what="the help screen")
        await pilot.pause()
    assert snap_compare(TradetermApp(FrozenClient()), terminal_size=SIZE, run_before=open_help)


def test_order_entry_screen(snap_compare):
    """下单框：默认选中实例的交易对、市价、按名义金额。"""
    async def open_order(pilot) -> None:
        """主屏就绪后按 o，等下单框打开、焦点在数量框上，填入数量并等它进了输入框；光标常亮（不随定时器闪烁）。"""
        await settled(pilot)
        app = pilot.app
        await pilot.press("o")
        await until(pilot, lambda: isinstance(app.screen, OrderEntryScreen)
                    and app.focused is app.screen.query_one("#size", Input), what="the order entry, size focused")
        await pilot.press(*"250")
        await until(pilot, lambda: app.screen.query_one("#size", Input).value == "250", what="the typed size")
        steady_cursors(app)
        await pilot.pause()
    assert snap_compare(TradetermApp(FrozenClient()), terminal_size=SIZE, run_before=open_order)


def test_live_mode_banner_is_red(snap_compare):
    """mode: live 时横幅整行红底，写明 LIVE TRADING - REAL MONEY。"""
    assert snap_compare(TradetermApp(FrozenClient(mode="live")), terminal_size=SIZE, run_before=settled)


@pytest.mark.parametrize("size", [(80, 24), (140, 45), (200, 50)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_main_screen_at_each_terminal_size(snap_compare, size):
    """主屏在 SSH 默认的 80x24（紧凑布局：表格占满整屏）、140x45 与 200x50 上（100x30 见 test_main_screen）。"""
    assert snap_compare(TradetermApp(FrozenClient()), terminal_size=size, run_before=settled)


def test_compact_charts_and_log_view(snap_compare):
    """80x24 上按 v：图表与整宽的日志（日志行不再被截断）。"""
    async def charts_view(pilot) -> None:
        """主屏就绪后按 v，等视图切换、图表按新的宽度重画。"""
        await settled(pilot)
        await pilot.press("v")
        main = pilot.app.main_screen
        await until(pilot, lambda: main.has_class("-charts") and main.query_one("#log").size.width > 60,
                    what="the charts view")
        pilot.app.model.charts_dirty = True
        await until(pilot, lambda: not pilot.app.model.charts_dirty, what="the charts redrawn at full width")
        await pilot.pause()
    assert snap_compare(TradetermApp(FrozenClient()), terminal_size=(80, 24), run_before=charts_view)


@pytest.mark.parametrize(("size", "tab"), [((80, 24), "2"), ((140, 45), "1")],
                         ids=["80x24-pnl", "140x45-trades"])
def test_trades_screen(snap_compare, size, tab):
    """交易与盈亏屏（t）：80x24 上的按日盈亏（柱状图在上、表在下），140x45 上的交易表。"""
    async def trades_view(pilot) -> None:
        """主屏就绪后按 t 与标签页的数字键，等交易与盈亏都取到、画好。"""
        from tradeterm.tui.screens.trades import TradesScreen

        await settled(pilot)
        await pilot.press("t")
        await until(pilot, lambda: isinstance(pilot.app.screen, TradesScreen) and pilot.app.screen.pnl is not None,
                    what="the trades screen loaded")
        await pilot.press(tab)
        pane = "tab-pnl" if tab == "2" else "tab-closed"
        await until(pilot, lambda: pilot.app.screen.query_one("#trades-tabs").active == pane, what="the tab")
        await pilot.pause()
        await pilot.pause()
    assert snap_compare(TradetermApp(FrozenClient()), terminal_size=size, run_before=trades_view)
