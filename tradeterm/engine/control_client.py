"""控制套接字的客户端：`SocketClient` 经本地 Unix 套接字连到 `tradeterm run --headless` 的引擎，实现 EngineClient。

协议见 tradeterm/engine/protocol.py；服务端见 tradeterm/engine/control.py（`SocketClient` 也从那里导出）。
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from tradeterm.engine.client import event_from_dict
from tradeterm.engine.events import Event
from tradeterm.engine.protocol import EVENT_BACKLOG, MAX_REPLY_BYTES, ControlError, check_socket_path, encode
from tradeterm.errors import UserError

# 本模块的日志器
logger = logging.getLogger(__name__)


class SocketClient:
    """经控制套接字连到引擎的 EngineClient；用 `await SocketClient.connect(path, token)` 创建。"""

    def __init__(self, socket_path: Path, token: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        """由 connect 调用：reader/writer 为已连上的套接字两端。"""
        # 引擎的套接字文件路径（用于错误消息）
        self.socket_path = Path(socket_path)
        # 每个请求带上的令牌
        self.token = token
        # 套接字读端
        self._reader = reader
        # 套接字写端
        self._writer = writer
        # 请求编号发生器
        self._ids = itertools.count(1)
        # 等待应答的请求：编号 -> future（值为应答字典）
        self._pending: dict[int, asyncio.Future] = {}
        # 收到的事件；None 表示事件流结束。满了丢最旧的
        self._events: asyncio.Queue[Event | None] = asyncio.Queue(EVENT_BACKLOG)
        # 因本地队列满而丢弃的事件数，条
        self.dropped = 0
        # 是否已向服务端订阅事件
        self._subscribed = False
        # 连接结束的原因（None 表示仍连着）
        self._lost: str | None = None
        # 是否由本端主动关闭
        self._closed = False
        # 串行化写入，避免多条请求交错
        self._send_lock = asyncio.Lock()
        # 读任务：把应答按编号交给 future，把事件放进队列
        self._reader_task = asyncio.create_task(self._read_loop())

    @classmethod
    async def connect(cls, socket_path: Path, token: str) -> "SocketClient":
        """连上引擎并用 ping 验证令牌；没有引擎在听时抛 ControlError（附启动方法）。"""
        path = check_socket_path(Path(socket_path))
        try:
            reader, writer = await asyncio.open_unix_connection(str(path), limit=MAX_REPLY_BYTES)
        except (FileNotFoundError, ConnectionRefusedError):
            raise ControlError(f"no engine is listening on {path}; start one with 'tradeterm run --headless'") \
                from None
        except OSError as exc:
            raise ControlError(f"cannot connect to the engine at {path}: {exc.strerror or exc}") from None
        client = cls(path, token, reader, writer)
        try:
            await client.ping()
        except BaseException:
            await client.close()
            raise
        return client

    async def ping(self) -> str:
        """往返一次，确认连接与令牌可用；返回 "pong"。"""
        return await self._request("ping")

    async def snapshot(self) -> dict[str, Any]:
        """见 EngineClient.snapshot。"""
        return await self._request("snapshot")

    async def command(self, name: str, /, **args: Any) -> Any:
        """见 EngineClient.command；引擎的用户错误原样抛 UserError。"""
        return await self._request("command", name=name, args=args)

    async def subscribe(self) -> None:
        """向服务端订阅事件（events() 首次迭代时会自动调用）；返回后发布的事件都会收到。"""
        if not self._subscribed:
            await self._request("subscribe")
            self._subscribed = True

    async def events(self) -> AsyncIterator[Event]:
        """见 EngineClient.events；连接断开或关闭后迭代结束。"""
        await self.subscribe()
        while True:
            event = await self._events.get()
            if event is None:
                self._events.put_nowait(None)  # 留给其他迭代者，让它们也结束
                return
            yield event

    async def close(self) -> None:
        """断开连接（不停止引擎）。"""
        if self._closed:
            return
        self._closed = True
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()
        self._reader_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader_task

    async def __aenter__(self) -> "SocketClient":
        """async with：返回自身（连接已由 connect 建立）。"""
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        """async with：退出时 close。"""
        await self.close()

    async def _request(self, op: str, **fields: Any) -> Any:
        """发一条请求并等待同编号的应答；返回 result，错误按种类转成异常。"""
        if self._lost is not None:
            raise ControlError(self._lost)
        request_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            try:
                line = encode({"id": request_id, "token": self.token, "op": op, **fields})
            except (TypeError, ValueError) as exc:
                raise UserError(f"{fields.get('name') or op}: the arguments cannot be sent as JSON ({exc}); "
                                f"use numbers, text, true/false, lists and objects only") from None
            async with self._send_lock:
                self._writer.write(line)
                await self._writer.drain()
            reply = await future
        except ConnectionError:
            raise ControlError(f"lost the connection to the engine at {self.socket_path}") from None
        finally:
            self._pending.pop(request_id, None)
        if reply.get("ok"):
            return reply.get("result")
        raise self._reply_error(reply)

    def _reply_error(self, reply: dict[str, Any]) -> Exception:
        """错误应答 -> 异常：user -> UserError（原消息），其余 -> ControlError。"""
        kind, message = reply.get("type"), str(reply.get("error"))
        if kind == "user":
            return UserError(message)
        if kind == "auth":
            return ControlError(f"the engine at {self.socket_path} refused the control token ({message})",
                                kind="auth")
        if kind == "protocol":
            return ControlError(message, kind="protocol")
        return ControlError(f"the engine at {self.socket_path} failed: {message}", kind="internal")

    async def _read_loop(self) -> None:
        """读应答与事件直到连接结束；结束时让所有等待者得到 ControlError，事件流结束。"""
        try:
            while True:
                line = await self._reader.readline()
                if not line:
                    break
                message = json.loads(line)
                if not isinstance(message, dict):
                    continue
                if "event" in message:
                    self._offer(event_from_dict(message["event"]))
                    continue
                future = self._pending.get(message.get("id"))
                if future is not None and not future.done():
                    future.set_result(message)
        except (ConnectionError, ValueError, KeyError) as exc:
            logger.warning("control connection failed path=%s error=%s", self.socket_path, exc)
        finally:
            self._lost = (f"the control client for {self.socket_path} is closed" if self._closed
                          else f"lost the connection to the engine at {self.socket_path}")
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(ControlError(self._lost))
            self._offer(None)

    def _offer(self, event: Event | None) -> None:
        """放入一条事件（或结束标记）；队列满时丢最旧的一条。"""
        if self._events.full():
            self._events.get_nowait()
            self.dropped += 1
        self._events.put_nowait(event)
