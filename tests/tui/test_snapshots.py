"""界面快照（pytest-textual-snapshot）：主屏、帮助屏、下单框、实盘横幅，100x30。

为什么用固定数据的 FrozenClient 而不是真引擎：快照是逐字符比较的 SVG，真引擎的价格、时间、成交每次运行都不同，
画面不可能稳定；这里驱动的是真实的 App（同样的屏幕、部件、CSS 与刷新路径），只把引擎换成返回固定快照与固定事件的
客户端。按键对引擎的真实效果由 test_app.py 对着真引擎与沙盒测试。日志里的时刻按本地时区显示，所以这里固定 TZ=UTC。
更新快照：.venv/bin/python -m pytest tests/tui/test_snapshots.py --snapshot-update
"""

from __future__ import annotations

import time

import pytest

from tests.tui.frozen import FrozenClient, frozen_events
from tests.tui.test_app import SIZE
from tradeterm.tui.app import TradetermApp


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    """日志时刻按 UTC 显示（快照与机器的时区无关）。"""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


async def settled(pilot) -> None:
    """等固定事件与快照都进了界面，再把日志与图表立刻画出来（不等定时器），画面从此不再变化。"""
    app = pilot.app
    total = len(frozen_events())
    for _ in range(200):
        if app.model.events_seen >= total and app.model.snapshot is not None \
                and app.main_screen.query_one("#instances").row_count:
            break
        await pilot.pause(0.02)
    app._flush_log()
    app.model.charts_dirty = True
    app._redraw_charts()
    await pilot.pause()


def test_main_screen(snap_compare):
    """主屏：报价与走势、三个实例（运行/暂停/出错着色）、持仓、挂单、K 线与买卖标记、权益曲线、日志。"""
    assert snap_compare(TradetermApp(FrozenClient()), terminal_size=SIZE, run_before=settled)


def test_help_screen(snap_compare):
    """帮助屏：每个按键一行。"""
    async def open_help(pilot) -> None:
        """主屏就绪后按 ?。"""
        await settled(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
    assert snap_compare(TradetermApp(FrozenClient()), terminal_size=SIZE, run_before=open_help)


def test_order_entry_screen(snap_compare):
    """下单框：默认选中实例的交易对、市价、按名义金额。"""
    async def open_order(pilot) -> None:
        """主屏就绪后按 o，填入数量。"""
        await settled(pilot)
        await pilot.press("o")
        await pilot.pause()
        await pilot.press(*"250")
        await pilot.pause()
    assert snap_compare(TradetermApp(FrozenClient()), terminal_size=SIZE, run_before=open_order)


def test_live_mode_banner_is_red(snap_compare):
    """mode: live 时横幅整行红底，写明 LIVE TRADING - REAL MONEY。"""
    assert snap_compare(TradetermApp(FrozenClient(mode="live")), terminal_size=SIZE, run_before=settled)
