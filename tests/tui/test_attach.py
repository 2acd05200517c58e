"""附着：界面经控制套接字（ReconnectingClient）连到引擎；引擎的控制端消失时横幅显示失联，回来后自动重连；
退出界面不停止引擎。
"""

from __future__ import annotations

from functools import partial

from textual.widgets import DataTable

from tests.engine.conftest import flip
from tests.tui.helpers import SIZE, until
from tradeterm.engine.client import InProcessClient
from tradeterm.engine.control import ControlServer, SocketClient
from tradeterm.engine.reconnect import ReconnectingClient
from tradeterm.tui.app import TradetermApp

# 测试用的控制令牌
TOKEN = "test-token"


async def test_attached_console_survives_a_lost_connection(start_engine, tmp_path_factory):
    """控制端停掉：横幅显示 DISCONNECTED 并说明每 2 秒重试，各窗格标为旧数据（状态 unknown、变暗、写明多旧）；控制端回来：横幅恢复、表格照常刷新；退出后引擎仍在运行。"""
    handle = await start_engine([flip()])
    socket_path = tmp_path_factory.mktemp("att") / "e.sock"
    server = ControlServer(InProcessClient(handle.engine), socket_path, TOKEN)
    await server.start()
    client = ReconnectingClient(partial(SocketClient.connect, socket_path, TOKEN), retry_s=0.3)
    app = TradetermApp(client, attached=True, refresh_s=0.2)
    try:
        async with app.run_test(size=SIZE) as pilot:
            table = app.screen.query_one("#instances", DataTable)
            await until(pilot, lambda: table.row_count == 1, what="instances over the socket")
            await until(pilot, lambda: app.model.events_seen > 0, what="events over the socket")
            assert "attached to headless engine" in app.banner_info.text()
            await server.stop()
            await until(pilot, lambda: bool(app.banner_info.connection_error), what="banner shows the loss")
            assert "DISCONNECTED" in app.banner_info.text() and "retrying every" in app.banner_info.text()
            assert app.screen.query_one("ModeBanner").has_class("-disconnected")
            # 旧数据不冒充现在：实例状态 unknown、窗格变暗、账户栏写明数据多旧、报价写 NO DATA
            await until(pilot, lambda: "unknown" in str(table.get_row("flip_btc")), what="status unknown")
            assert "running" not in str(table.get_row("flip_btc"))
            assert app.main_screen.has_class("-disconnected")
            account = str(app.screen.query_one("#account").render())
            assert account.startswith("STALE ") and "s ago" in account, account
            quotes = app.screen.query_one("#quotes", DataTable)
            assert all("NO DATA" in str(quotes.get_row(key.value)) for key in quotes.rows), "quotes not marked"
            server = ControlServer(InProcessClient(handle.engine), socket_path, TOKEN)
            await server.start()
            await until(pilot, lambda: not app.banner_info.connection_error, what="reconnected")
            await until(pilot, lambda: "running" in str(table.get_row("flip_btc")), what="status running again")
            assert not app.main_screen.has_class("-disconnected")
            assert not str(app.screen.query_one("#account").render()).startswith("STALE")
            seen = app.model.events_seen
            await until(pilot, lambda: app.model.events_seen > seen, what="events after reconnecting")
            await pilot.press("q", "y")
            await pilot.pause()
    finally:
        await client.close()
        await server.stop()
    assert not handle.engine.stopped.is_set()  # 退出界面没有停止引擎
