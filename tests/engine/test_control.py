"""控制套接字：真实 Unix 套接字上的请求/应答、错误种类、令牌、事件分发与断开清理。

真正的 TraderEngine 不在这里：用一个背靠真实 EventBus 的小假引擎实现 EngineClient 接口，只测传输层。
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
from pathlib import Path

import pytest

from tradeterm.engine import Event, EventBus, EventKind
from tradeterm.engine.client import COMMANDS, InProcessClient
from tradeterm.engine.control import (ControlError, ControlServer, SocketClient, control_paths, read_token_file,
                                      write_token_file)
from tradeterm.errors import UserError

# 测试用令牌
TOKEN = "test-token-123"


class FakeEngine:
    """实现 EngineClient 接口的假引擎：快照固定，命令记录下来，事件来自真实的 EventBus。"""

    def __init__(self) -> None:
        """创建空总线与空命令记录。"""
        # 事件总线：测试往这里发布事件
        self.bus = EventBus()
        # 收到的命令：(名字, 参数)
        self.calls: list[tuple[str, dict]] = []
        # flatten 命令等待它置位才返回（模拟慢命令）
        self.release = asyncio.Event()

    async def snapshot(self) -> dict:
        """固定快照。"""
        return {"instances": {"ema": "running"}, "equity": 1000.5}

    async def command(self, name: str, **args) -> dict:
        """pause 未知实例 -> UserError；kill_switch -> 程序缺陷；flatten 等 release；其余回显。"""
        self.calls.append((name, args))
        if name == "pause" and args.get("instance") != "ema":
            raise UserError(f"unknown instance {args.get('instance')!r}; known instances: ema")
        if name == "kill_switch":
            raise RuntimeError("boom")
        if name == "flatten":
            await self.release.wait()
        return {"done": name, "args": args}

    async def events(self):
        """从总线订阅事件，结束时取消订阅。"""
        subscription = self.bus.subscribe()
        try:
            async for event in subscription:
                yield event
        finally:
            subscription.close()

    async def close(self) -> None:
        """无事可做。"""


@pytest.fixture
def sock_dir(tmp_path_factory) -> Path:
    """短路径的临时目录（Unix 套接字路径有约 107 字节的上限，测试名做目录名会太长）。"""
    return tmp_path_factory.mktemp("ctl")


@pytest.fixture
async def served(sock_dir):
    """启动在假引擎上的控制服务端；产出 (引擎, 服务端)。"""
    engine = FakeEngine()
    server = ControlServer(engine, sock_dir / "e.sock", TOKEN)
    async with server:
        yield engine, server


async def next_event(client: SocketClient, stream=None) -> Event:
    """等下一条事件（最多 2 秒）。"""
    return await asyncio.wait_for(anext(stream or client.events()), 2)


async def test_snapshot_and_command_results_round_trip(served):
    """快照与命令结果原样往返；命令参数到达引擎。"""
    engine, server = served
    async with await SocketClient.connect(server.socket_path, TOKEN) as client:
        assert await client.snapshot() == {"instances": {"ema": "running"}, "equity": 1000.5}
        result = await client.command("set_params", instance="ema", params={"fast": 8})
        assert result == {"done": "set_params", "args": {"instance": "ema", "params": {"fast": 8}}}
        assert engine.calls == [("set_params", {"instance": "ema", "params": {"fast": 8}})]


async def test_user_error_message_round_trips_and_internal_error_keeps_server_serving(served, caplog):
    """引擎的 UserError 在客户端以同样消息抛出；其他异常成为 internal 错误并记下 traceback，服务端继续服务。"""
    _, server = served
    async with await SocketClient.connect(server.socket_path, TOKEN) as client:
        with pytest.raises(UserError) as caught:
            await client.command("pause", instance="nope")
        assert type(caught.value) is UserError
        assert str(caught.value) == "unknown instance 'nope'; known instances: ema"
        with pytest.raises(ControlError, match="RuntimeError: boom") as internal:
            await client.command("kill_switch")
        assert internal.value.kind == "internal"
        assert any(r.exc_info and "name=kill_switch" in r.getMessage() for r in caplog.records)
        assert await client.ping() == "pong"


async def test_wrong_token_is_rejected_and_connection_closed(served):
    """错误令牌：connect 抛 auth 类 ControlError；原始连接收到 auth 应答后被断开。"""
    _, server = served
    with pytest.raises(ControlError, match="refused the control token") as caught:
        await SocketClient.connect(server.socket_path, "wrong")
    assert caught.value.kind == "auth"
    reader, writer = await asyncio.open_unix_connection(str(server.socket_path))
    writer.write(b'{"id": 7, "op": "snapshot"}\n')
    reply = json.loads(await asyncio.wait_for(reader.readline(), 2))
    assert reply["id"] == 7 and reply["ok"] is False and reply["type"] == "auth"
    assert await asyncio.wait_for(reader.read(), 2) == b""  # 服务端已断开
    writer.close()


async def test_unknown_command_is_rejected_listing_allowed_commands(served):
    """未知命令是 protocol 错误，消息列出全部允许的命令；引擎没有收到它。"""
    engine, server = served
    async with await SocketClient.connect(server.socket_path, TOKEN) as client:
        with pytest.raises(ControlError, match="unknown command 'explode'") as caught:
            await client.command("explode")
        assert caught.value.kind == "protocol"
        assert ", ".join(COMMANDS) in str(caught.value)
        assert engine.calls == []


async def test_two_clients_receive_events_and_one_disconnecting_leaves_the_other(served):
    """两个订阅者都收到发布的事件；一个断开后另一个照常收到，服务端的连接数减一。"""
    engine, server = served
    first = await SocketClient.connect(server.socket_path, TOKEN)
    second = await SocketClient.connect(server.socket_path, TOKEN)
    await first.subscribe()
    await second.subscribe()
    engine.bus.publish(Event(EventKind.FILL, 1, {"price": 27000.5, "amount": 0.01}))
    for client in (first, second):
        event = await next_event(client)
        assert event == Event(EventKind.FILL, 1, {"price": 27000.5, "amount": 0.01})
    await first.close()
    for _ in range(100):
        if server.connected == 1:
            break
        await asyncio.sleep(0.01)
    assert server.connected == 1
    engine.bus.publish(Event(EventKind.LOG, 2, {"message": "still here"}))
    assert (await next_event(second)).data == {"message": "still here"}
    await second.close()


async def test_stuck_reader_does_not_block_other_clients(sock_dir):
    """一个订阅了却从不读的连接：它的积压丢最旧的，另一个客户端仍按序收到全部事件。"""
    engine = FakeEngine()
    async with ControlServer(engine, sock_dir / "e.sock", TOKEN, event_backlog=200) as server:
        _, stuck = await asyncio.open_unix_connection(str(server.socket_path))
        stuck.write(json.dumps({"id": 1, "token": TOKEN, "op": "subscribe"}).encode() + b"\n")
        async with await SocketClient.connect(server.socket_path, TOKEN) as client:
            await client.subscribe()
            stream = client.events()
            # 40 轮 x 100 条 x 约 1 KB（约 4 MB），远超套接字缓冲区：卡住的连接早已写不动
            payload = "x" * 1000
            received = []
            for round_start in range(0, 4000, 100):
                for ts in range(round_start, round_start + 100):
                    engine.bus.publish(Event(EventKind.LOG, ts, {"message": payload}))
                received += [(await next_event(client, stream)).ts for _ in range(100)]
            assert received == list(range(4000))
            assert max(c.dropped for c in server._connections) > 0  # 卡住的连接丢了最旧的事件
        stuck.close()


async def test_lost_connection_fails_pending_request_and_ends_events(served):
    """服务端停止时：等待中的命令得到 ControlError，事件流结束，之后的请求也立即失败。"""
    engine, server = served
    client = await SocketClient.connect(server.socket_path, TOKEN)
    await client.subscribe()
    pending = asyncio.create_task(client.command("flatten", instance="ema"))
    while not engine.calls:
        await asyncio.sleep(0.01)
    await server.stop()
    with pytest.raises(ControlError, match="lost the connection"):
        await asyncio.wait_for(pending, 2)
    assert [e async for e in client.events()] == []
    with pytest.raises(ControlError, match="lost the connection"):
        await client.snapshot()
    await client.close()


async def test_socket_file_is_0600_replaces_stale_socket_and_is_removed_on_stop(sock_dir):
    """套接字文件权限 0600；启动时删掉上次留下的失效套接字；停止后文件被删除。"""
    path = sock_dir / "e.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()  # 绑定过却没人监听：失效的套接字文件
    server = ControlServer(FakeEngine(), path, TOKEN)
    await server.start()
    assert stat.S_ISSOCK(path.lstat().st_mode) and stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(UserError, match="another engine is already listening"):
        await ControlServer(FakeEngine(), path, TOKEN).start()
    await server.stop()
    assert not path.exists()


async def test_missing_socket_raises_control_error_with_hint(sock_dir):
    """没有引擎在听：ControlError 说明路径与启动方法。"""
    path = sock_dir / "none.sock"
    with pytest.raises(ControlError, match=f"no engine is listening on {path}; start one with "
                                           f"'tradeterm run --headless'"):
        await SocketClient.connect(path, TOKEN)


def test_token_file_is_0600_and_group_readable_file_is_refused(sock_dir):
    """令牌文件以 0600 创建且能读回；同组可读的文件被拒绝并给出 chmod 命令。"""
    path = sock_dir / "e.token"
    token = write_token_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(token) >= 32
    assert read_token_file(path) == token
    assert write_token_file(path) != token  # 重写得到新令牌（原子替换）
    os.chmod(path, 0o640)
    with pytest.raises(ControlError, match=f"permissions are 640.*chmod 600 {path}"):
        read_token_file(path)


def test_control_paths_sit_next_to_the_journal_and_long_paths_are_refused(tmp_path):
    """套接字与令牌文件在日志库旁边、同名不同后缀；超长的套接字路径报 UserError 并建议更短的路径。"""
    assert control_paths(Path("/var/lib/tt/live.sqlite")) == (Path("/var/lib/tt/live.sock"),
                                                              Path("/var/lib/tt/live.token"))
    long_journal = Path("/tmp") / ("d" * 120) / "journal.sqlite"
    with pytest.raises(UserError, match="use a shorter journal path"):
        control_paths(long_journal)


async def test_in_process_client_can_be_served(sock_dir):
    """服务端直接套在 InProcessClient 上（headless 引擎的接法）：快照、命令与事件都能经套接字到达。"""

    class StubEngine:
        """只有 InProcessClient 用到的那几样：bus、同步的 snapshot、异步的 command。"""

        def __init__(self) -> None:
            """空总线。"""
            # 事件总线
            self.bus = EventBus()

        def snapshot(self) -> dict:
            """固定快照。"""
            return {"status": "running"}

        async def command(self, name: str, **args) -> str:
            """回显命令名。"""
            return name

    engine = StubEngine()
    async with ControlServer(InProcessClient(engine), sock_dir / "e.sock", TOKEN) as server:
        async with await SocketClient.connect(server.socket_path, TOKEN) as client:
            assert await client.snapshot() == {"status": "running"}
            assert await client.command("cancel_all") == "cancel_all"
            await client.subscribe()
            engine.bus.publish(Event(EventKind.EQUITY, 5, {"equity": 1001.0}))
            assert (await next_event(client)).data == {"equity": 1001.0}
