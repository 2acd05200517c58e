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
    """控制端停掉：横幅显示 DISCONNECTED 并说明每 2 秒重试；控制端回来：横幅恢复、表格照常刷新；退出后引擎仍在运行。"""
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
            server = ControlServer(InProcessClient(handle.engine), socket_path, TOKEN)
            await server.start()
            await until(pilot, lambda: not app.banner_info.connection_error, what="reconnected")
            seen = app.model.events_seen
            await until(pilot, lambda: app.model.events_seen > seen, what="events after reconnecting")
            await pilot.press("q", "y")
            await pilot.pause()
    finally:
        await client.close()
        await server.stop()
    assert not handle.engine.stopped.is_set()  # 退出界面没有停止引擎
