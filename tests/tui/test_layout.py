"""80x24（大多数 SSH 终端的默认大小）上的控制台：真引擎的 4 个实例每一行都在屏上（表格不用滚动），
账户栏整行放得下，按键栏上看得到 ?、q、K、o；v 在表格与“图表 + 日志”之间切换。"""

from __future__ import annotations

import pytest
from textual.widgets import DataTable

from tests.engine.conftest import flip
from tests.tui.helpers import footer_keys_on_screen, until
from tradeterm.engine.client import InProcessClient
from tradeterm.tui.app import TradetermApp

# SSH 终端的默认大小（列, 行）
SSH_SIZE = (80, 24)


@pytest.fixture
def sandbox(frozen_sandbox):
    """本模块里引擎连的沙盒：时钟停住（画面只取决于引擎的状态，不取决于机器快慢）。"""
    return frozen_sandbox


async def test_every_instance_and_the_essential_keys_fit_in_80x24(start_engine):
    """4 个实例（两个交易对各两个）：实例表 4 行都可见、不必滚动；账户栏的每一项都在行内；按键栏有 ?、q、K、o。"""
    names = ["btc_fast", "btc_slow", "eth_fast", "eth_slow"]
    handle = await start_engine([flip(names[0]), flip(names[1], period=6), flip(names[2], "ETH/USDT"),
                                 flip(names[3], "ETH/USDT", period=6)])
    app = TradetermApp(InProcessClient(handle.engine), refresh_s=0.2)
    async with app.run_test(size=SSH_SIZE) as pilot:
        table = app.main_screen.query_one("#instances", DataTable)
        await until(pilot, lambda: table.row_count == 4, what="four instance rows")
        await until(pilot, lambda: table.scrollable_content_region.height >= table.row_count + 1,
                    what="room for every row")
        assert table.max_scroll_y == 0  # 不必滚动就能看到每一行
        assert [str(table.get_row_at(i)[0]) for i in range(4)] == names
        account = app.main_screen.query_one("#account")
        await until(pilot, lambda: "Ord " in str(account.render()), what="the account line")
        assert len(str(account.render())) <= SSH_SIZE[0] - 2  # 整行放得下（两侧各一格内边距）
        await until(pilot, lambda: {"?", "q", "K", "o"} <= footer_keys_on_screen(app), what="the essential keys")
        # 右栏（图表与日志）在紧凑布局里收起；v 切过去，日志占满整宽，再按 v 回到表格
        log = app.main_screen.query_one("#log")
        assert log.display is False or log.region.width == 0
        await pilot.press("v")
        await until(pilot, lambda: log.region.width >= SSH_SIZE[0] - 2, what="the full-width log")
        assert table.region.width == 0
        await pilot.press("v")
        await until(pilot, lambda: table.region.width >= SSH_SIZE[0] - 2, what="the tables again")
