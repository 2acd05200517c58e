"""自动重连的引擎客户端：包住 SocketClient，连接断了就每隔 retry_s 秒重连一次（`tradeterm attach` 用）。

界面照常调用 snapshot / command / events：
- 连着时原样转发；
- 断开后 snapshot / command 立刻抛 ControlError（说明原因，界面据此在横幅上显示失联），到了重试时刻再尝试连接；
- events() 永不结束：断开时等待并重连，连上后继续产出新连接的事件（断开期间的事件不补发，快照会补上状态）。
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from tradeterm.engine.control import ControlError
from tradeterm.engine.events import Event

# 默认的重连间隔，秒
RETRY_S = 2.0


class ReconnectingClient:
    """EngineClient 的自动重连包装；connect 为“建立一个新连接”的协程函数（如 SocketClient.connect 的偏函数）。"""

    def __init__(self, connect: Callable[[], Awaitable[Any]], retry_s: float = RETRY_S):
        """connect() 返回一个已连上的 EngineClient，连不上时抛 ControlError；retry_s 为重连间隔，秒。"""
        # 建立新连接的协程函数
        self._connect = connect
        # 重连间隔，秒
        self.retry_s = retry_s
        # 当前连接；None 表示未连上
        self._client: Any = None
        # 最近一次失联或连接失败的原因（连着时为空串）
        self.error = ""
        # 下一次允许尝试连接的时刻（time.monotonic() 秒）
        self._next_attempt = 0.0
        # 串行化连接尝试（快照轮询与事件流可能同时发现断开）
        self._lock = asyncio.Lock()
        # 已成功连接的次数（第一次连上也算）
        self.connections = 0

    @property
    def connected(self) -> bool:
        """是否连着。"""
        return self._client is not None

    async def _ensure(self) -> Any:
        """返回当前连接；未连上且到了重试时刻就连一次；连不上抛 ControlError。"""
        async with self._lock:
            if self._client is not None:
                return self._client
            if time.monotonic() < self._next_attempt:
                raise ControlError(self.error or "not connected to the engine")
            try:
                self._client = await self._connect()
            except (ControlError, OSError) as exc:
                self._lost(str(exc))
                raise ControlError(self.error) from None
            self.error = ""
            self.connections += 1
            return self._client

    def _lost(self, reason: str) -> None:
        """记下失联原因，retry_s 秒后再试。"""
        self.error = reason
        self._next_attempt = time.monotonic() + self.retry_s

    async def _drop(self, client: Any, reason: str) -> None:
        """放弃一个已断开的连接。"""
        if self._client is client:
            self._client = None
            self._lost(reason)
        await client.close()

    async def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """在当前连接上调用方法；连接层面的错误（失联）时丢弃该连接再抛出。"""
        client = await self._ensure()
        try:
            return await getattr(client, method)(*args, **kwargs)
        except ControlError as exc:
            if exc.kind == "connection":
                await self._drop(client, str(exc))
            raise
        except OSError as exc:
            await self._drop(client, f"lost the connection to the engine: {exc}")
            raise ControlError(self.error) from None

    async def snapshot(self) -> dict[str, Any]:
        """见 EngineClient.snapshot。"""
        return await self._call("snapshot")

    async def command(self, name: str, **args: Any) -> Any:
        """见 EngineClient.command（不会自动重发：失联时抛错，由用户决定是否再试）。"""
        return await self._call("command", name, **args)

    async def events(self) -> AsyncIterator[Event]:
        """见 EngineClient.events；跨越重连，永不结束。"""
        while True:
            try:
                client = await self._ensure()
            except ControlError:
                await asyncio.sleep(max(0.05, self._next_attempt - time.monotonic()))
                continue
            try:
                async for event in client.events():
                    yield event
            except (ControlError, OSError):
                pass
            await self._drop(client, "lost the connection to the engine")

    async def close(self) -> None:
        """断开（不停止引擎）。"""
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()
