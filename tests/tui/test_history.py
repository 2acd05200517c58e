"""控制台的历史：启动与附着时日志、K 线、成交标记与权益都从引擎的日志库补上（不等新的 K 线收盘）；日志窗格整行可见
（按宽度折行）、可回看、可按种类与实例过滤；交易与盈亏屏（t）列出日志库里的回合，数字与引擎的 `trades`/`pnl` 命令相同。

行情用停住的沙盒时钟（测试一根一根地拨），界面打开之后时钟不再走：界面上的历史只可能来自日志库。"""

from __future__ import annotations

import sqlite3
from functools import partial

import pytest

from tests.engine.conftest import close, flip, frozen_sandbox, start_engine  # noqa: F401（夹具）
from tests.tui.helpers import SIZE, until
from tests.engine.test_queries import run_bars_until
from tradeterm.engine.client import InProcessClient
from tradeterm.engine.control import ControlServer, SocketClient
from tradeterm.engine.reconnect import ReconnectingClient
from tradeterm.tui.app import TradetermApp
from tradeterm.tui.model import LogEntry
from tradeterm.tui.screens.trades import TradesScreen
from tradeterm.tui.widgets.event_log import EventLog

# 测试用的控制令牌
TOKEN = "test-token"
# 先跑出的成交笔数（Flip period=2：每两根 K 线一进一出）
FILLS = 6


@pytest.fixture
async def sandbox(frozen_sandbox):
    """本模块的引擎连时钟停住的沙盒。"""
    yield frozen_sandbox


def journal_count(path, sql: str) -> int:
    """日志库里的一个计数。"""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


async def traded_engine(start_engine, sandbox):
    """跑出 FILLS 笔成交的引擎（成交事件也已留档），返回 handle。"""
    handle = await start_engine([flip(period=2)])
    engine = handle.engine
    path = engine.journal.path
    await run_bars_until(sandbox, engine, lambda: journal_count(path, "SELECT COUNT(*) FROM fills") >= FILLS)
    fills = journal_count(path, "SELECT COUNT(*) FROM fills")
    await until_archived(engine, fills)
    return handle


async def until_archived(engine, fills: int) -> None:
    """等成交事件都写进了日志库（留档是排队写、不等提交的）。"""
    from tests.engine.conftest import wait_for

    await wait_for(lambda: journal_count(engine.journal.path, "SELECT COUNT(*) FROM events WHERE kind = 'fill'")
                   >= fills, what="fill events archived")


def log_text(log: EventLog) -> str:
    """日志窗格当前显示的全部文字（折行拼回一行）。"""
    return "".join(strip.text for strip in log.lines)


async def test_history_fills_log_and_charts_on_start_and_the_trades_screen_agrees(start_engine, sandbox):
    """界面一打开（没有新 K 线）日志里就有之前的成交、图表里有 K 线与成交标记；成交行折行后价格都在；l、i 过滤；t 屏与引擎的 trades 一致。"""
    handle = await traded_engine(start_engine, sandbox)
    engine = handle.engine
    fills = journal_count(engine.journal.path, "SELECT COUNT(*) FROM fills")
    bars = journal_count(engine.journal.path, "SELECT COUNT(*) FROM bars")
    app = TradetermApp(InProcessClient(engine), refresh_s=0.2)
    async with app.run_test(size=SIZE) as pilot:
        log = app.main_screen.query_one("#log", EventLog)
        await until(pilot, lambda: sum(e.kind == "fill" for e in log.entries) >= fills, what="fills in the log")
        # 图表：K 线与成交标记来自日志库（时钟停着，没有新的 K 线收盘）
        candles = app.model.candles[("BTC/USDT", "1m")]
        assert len(candles) == min(bars, 240) and [c.ts for c in candles] == sorted(c.ts for c in candles)
        marks = app.model.fills_for("BTC/USDT", "flip_btc")
        assert len(marks) == fills, marks
        assert all(candles[0].ts <= m.ts <= candles[-1].ts + 120_000 for m in marks)  # 最后一笔在正在走的那根里
        assert len(app.model.equity) >= 2
        # 整行可见：右栏的日志窗格很窄（约 30 列），成交行折行而不是被截断，价格都在
        fill_lines = [e.line for e in log.entries if e.kind == "fill"]
        text = log_text(log)
        assert all(line.split(" @ ")[1] in text for line in fill_lines), text
        width = log.scrollable_content_region.width
        assert 0 < width < 60 and all(strip.cell_length <= width for strip in log.lines), width
        # 过滤：l 切到只看成交，每一行都是 FILL；再切几次回到全部
        await pilot.press("l")
        await until(pilot, lambda: log.kind_filter == "fills", what="fills filter")
        await pilot.pause()
        shown = [s.text for s in log.lines if s.text[:2].isdigit()]  # 折行的续行不以时刻开头
        assert shown and all(" FILL " in line for line in shown) and log.border_title == "Log (fills)"
        for _ in range(5):
            await pilot.press("l")
        assert log.kind_filter == "all" and log.border_title == "Log"
        # i：只看选中实例的行（manual 的与引擎的行都不在）
        await pilot.press("i")
        assert log.instance == "flip_btc" and all(e.instance == "flip_btc" for e in log.entries if log.shows(e))
        await pilot.press("i")
        assert log.instance is None

        # 交易与盈亏屏：与引擎的 trades / pnl 命令一致
        expected = await engine.command("trades", limit=200)
        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, TradesScreen) and app.screen.trades is not None,
                    what="the trades screen loaded")
        screen = app.screen
        table = screen.query_one("#trades-table")
        assert table.row_count == len(expected["trades"]) >= FILLS // 2 - 1
        summary = str(screen.query_one("#trades-summary").render())
        assert f"{expected['summary']['trades']} closed trades" in summary
        first = table.get_row_at(0)
        assert first[1] == "flip_btc" and first[2] == "BTC/USDT"
        await pilot.press("w")
        await until(pilot, lambda: screen.pnl is not None and screen.pnl["period"] == "week", what="weekly P&L")
        assert screen.query_one("#pnl-table").row_count == 8
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.main_screen, what="back to the main screen")


async def test_attaching_over_the_socket_loads_the_history(start_engine, sandbox, tmp_path_factory):
    """经控制套接字附着（80x24）：同样从日志库补上日志与图表。"""
    handle = await traded_engine(start_engine, sandbox)
    fills = journal_count(handle.engine.journal.path, "SELECT COUNT(*) FROM fills")
    socket_path = tmp_path_factory.mktemp("hist") / "e.sock"
    server = ControlServer(InProcessClient(handle.engine), socket_path, TOKEN)
    await server.start()
    client = ReconnectingClient(partial(SocketClient.connect, socket_path, TOKEN), retry_s=0.3)
    app = TradetermApp(client, attached=True, refresh_s=0.2)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            log = app.main_screen.query_one("#log", EventLog)
            await until(pilot, lambda: sum(e.kind == "fill" for e in log.entries) >= fills, what="history attached")
            assert len(app.model.fills_for("BTC/USDT")) == fills and app.model.candles[("BTC/USDT", "1m")]
    finally:
        await client.close()
        await server.stop()


async def test_scrolled_back_log_stays_put_when_new_lines_arrive():
    """回看时（视图不在底部）新行照样记下，但不把视图拽回底部；回到底部后又跟着新行走。"""
    from tests.tui.frozen import FrozenClient

    app = TradetermApp(FrozenClient())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("v")
        log = app.main_screen.query_one("#log", EventLog)
        for i in range(80):
            log.add(LogEntry(1_767_607_200_000 + i * 1000, "log", "", f"LOG line {i}"))
        await until(pilot, lambda: log.max_scroll_y > 0 and log.is_vertical_scroll_end, what="a scrollable log")
        log.scroll_home(animate=False, immediate=True)
        await pilot.pause()
        log.add(LogEntry(1_767_607_300_000, "log", "", "LOG arrived while scrolled back"))
        await pilot.pause()
        assert log.scroll_y == 0 and "arrived while scrolled back" in log_text(log)
        log.scroll_end(animate=False, immediate=True)
        await pilot.pause()
        log.add(LogEntry(1_767_607_400_000, "log", "", "LOG arrived at the bottom"))
        await until(pilot, lambda: log.is_vertical_scroll_end and log.scroll_y > 0, what="following again")
