"""本地控制套接字：让界面与命令行经 Unix 套接字控制 `tradeterm run --headless` 的引擎。

协议：每行一个 JSON 对象（换行分隔）。
- 请求：`{"id": n, "token": "...", "op": "snapshot"|"command"|"subscribe"|"ping", "name": "...", "args": {...}}`
- 应答：`{"id": n, "ok": true, "result": ...}` 或
  `{"id": n, "ok": false, "error": "message", "type": "user"|"auth"|"protocol"|"internal"}`
- 订阅后服务端推送：`{"event": {...event_to_dict...}}`

设计：服务端只向引擎订阅一次事件（`client.events()`），编码一次，再分发给每个已订阅的连接；
每个连接有自己的写任务与有界事件积压（满了丢最旧的），所以卡住的读者既拖不慢引擎，也挡不住别的连接。
同一连接上的命令按到达顺序逐个执行；快照与 ping 不排在命令后面。
令牌放在 0600 文件里，套接字文件也是 0600：只有运行引擎的用户能连上，且还要出示令牌。
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import secrets
import socket
import stat
import sys
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from tradeterm.engine.client import COMMANDS, EngineClient, event_from_dict, event_to_dict
from tradeterm.engine.events import Event
from tradeterm.errors import UserError

# 本模块的日志器
logger = logging.getLogger(__name__)

# 允许的请求种类
OPS = ("snapshot", "command", "subscribe", "ping")
# Unix 套接字路径的最大长度，字节（Linux 的 sun_path 为 108 字节含结尾 NUL；macOS 为 104）
MAX_SOCKET_PATH = 103 if sys.platform == "darwin" else 107
# 每个连接未写出的事件上限，条；超过时丢最旧的（与事件总线的默认容量一致）
EVENT_BACKLOG = 10_000
# 服务端单行请求的最大长度，字节
MAX_REQUEST_BYTES = 1 << 20
# 客户端单行应答或事件的最大长度，字节（快照可能较大）
MAX_REPLY_BYTES = 64 << 20
# 断开连接时等待积压应答写完的最长时间，秒
FLUSH_TIMEOUT = 1.0


class ControlError(UserError):
    """控制套接字的错误：连不上引擎、令牌不对、协议错误、引擎内部错误或连接中断。"""

    def __init__(self, message: str, kind: str = "connection"):
        """message 为英文说明（含修正方法）；kind 为错误种类。"""
        super().__init__(message)
        # 错误种类："connection"、"auth"、"protocol"、"internal" 或 "token"
        self.kind = kind


class _ProtocolError(Exception):
    """请求不合协议（未知 op、未知命令、字段类型不对）；只在服务端内部使用。"""


def check_socket_path(path: Path) -> Path:
    """检查 Unix 套接字路径不超过系统上限；超长时抛 UserError 并建议更短的日志库路径。"""
    path = Path(path)
    size = len(os.fsencode(str(path)))
    if size > MAX_SOCKET_PATH:
        raise UserError(f"control socket path {path} is {size} bytes, longer than the {MAX_SOCKET_PATH}-byte limit "
                        f"for Unix sockets; use a shorter journal path (the socket is created next to the journal)")
    return path


def control_paths(journal_path: Path) -> tuple[Path, Path]:
    """日志库旁边的控制套接字与令牌文件路径：(`<stem>.sock`, `<stem>.token`)。"""
    journal_path = Path(journal_path)
    socket_path = journal_path.parent / f"{journal_path.stem}.sock"
    return check_socket_path(socket_path), journal_path.parent / f"{journal_path.stem}.token"


def write_token_file(path: Path) -> str:
    """生成随机令牌，写入权限 0600 的文件（先写临时文件再原子替换），返回令牌。"""
    path = Path(path)
    token = secrets.token_urlsafe(32)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    # 创建时就是 0600，令牌从不以更宽的权限落盘
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    os.replace(temporary, path)
    return token


def read_token_file(path: Path) -> str:
    """读令牌文件；文件不存在、为空、或同组/其他用户可读时抛 ControlError。"""
    path = Path(path)
    if not path.is_file():
        raise ControlError(f"control token file {path} not found; is an engine running? "
                           f"start one with 'tradeterm run --headless'", kind="token")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ControlError(f"control token file {path}: permissions are {mode:o}, other users can read it; "
                           f"run: chmod 600 {path}", kind="token")
    token = path.read_text(encoding="utf-8").strip()
    if not token:
        raise ControlError(f"control token file {path} is empty; restart the engine to write a new one",
                           kind="token")
    return token


def _encode(message: dict[str, Any]) -> bytes:
    """一条消息 -> 一行 JSON 字节（不可序列化时抛 TypeError/ValueError）。"""
    return json.dumps(message, separators=(",", ":")).encode("utf-8") + b"\n"


def _error(request_id: Any, kind: str, message: str) -> bytes:
    """一条错误应答。"""
    return _encode({"id": request_id, "ok": False, "error": message, "type": kind})


class _Connection:
    """服务端的一个客户端连接：应答队列、有界事件积压与专属写任务。"""

    def __init__(self, writer: asyncio.StreamWriter, event_backlog: int):
        """writer 为该连接的写端；event_backlog 为事件积压上限（条）。"""
        # 套接字写端
        self.writer = writer
        # 待写出的应答（不丢弃：每条都有客户端在等）
        self.replies: deque[bytes] = deque()
        # 待写出的事件；满了自动丢最旧的
        self.events: deque[bytes] = deque(maxlen=event_backlog)
        # 因积压满而丢弃的事件数，条
        self.dropped = 0
        # 是否订阅了事件
        self.subscribed = False
        # 不再接收请求：写完剩余应答后断开
        self.closing = False
        # 有新内容待写时置位，唤醒写任务
        self.wake = asyncio.Event()
        # 同一连接上的命令按到达顺序逐个执行
        self.command_lock = asyncio.Lock()
        # 专属写任务：一个连接写得慢不影响别的连接
        self.writer_task = asyncio.create_task(self._write_loop())

    def reply(self, line: bytes) -> None:
        """排队一条应答（连接已断时丢弃）。"""
        if not self.writer_task.done():
            self.replies.append(line)
            self.wake.set()

    def push_event(self, line: bytes) -> None:
        """排队一条事件；积压满时丢最旧的一条。"""
        if self.closing:
            return
        if len(self.events) == self.events.maxlen:
            self.dropped += 1
        self.events.append(line)
        self.wake.set()

    async def _write_loop(self) -> None:
        """按序写出应答（优先）与事件；closing 且写完后结束。"""
        try:
            while True:
                if not self.replies and not self.events:
                    if self.closing:
                        return
                    self.wake.clear()
                    await self.wake.wait()
                    continue
                self.writer.write(self.replies.popleft() if self.replies else self.events.popleft())
                await self.writer.drain()
        except ConnectionError:
            self.closing = True

    async def finish(self) -> None:
        """停止接收、丢掉未写出的事件、尽量写完应答，然后关闭连接。"""
        self.closing = True
        self.events.clear()
        self.wake.set()
        try:
            await asyncio.wait_for(self.writer_task, FLUSH_TIMEOUT)
        except asyncio.TimeoutError:
            pass  # 对端不读：放弃剩余应答（wait_for 已取消写任务）
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


class ControlServer:
    """控制套接字服务端：把 EngineClient 暴露在本地 Unix 套接字上，可同时服务多个客户端。

    client 应为服务端专用的客户端（例如新建的 `InProcessClient(engine)`）：服务端会消费它的 `events()`。
    """

    def __init__(self, client: EngineClient, socket_path: Path, token: str, event_backlog: int = EVENT_BACKLOG):
        """client 为被暴露的引擎客户端；socket_path 为套接字文件；token 为客户端须出示的令牌。"""
        # 被暴露的引擎客户端（服务端独占其事件流）
        self.client = client
        # 套接字文件路径
        self.socket_path = check_socket_path(Path(socket_path))
        # 客户端须出示的令牌
        self.token = token
        # 每个连接的事件积压上限，条
        self.event_backlog = event_backlog
        # asyncio 服务端对象（start 之后才有）
        self._server: asyncio.AbstractServer | None = None
        # 从引擎读事件并分发给各连接的任务
        self._pump: asyncio.Task | None = None
        # 当前全部连接
        self._connections: set[_Connection] = set()
        # 各连接的读请求任务（停止时等它们结束）
        self._handlers: set[asyncio.Task] = set()
        # 正在执行的请求任务（持有引用，防止被回收）
        self._requests: set[asyncio.Task] = set()
        # 我们创建的套接字文件的 inode（停止时只删自己的文件）
        self._inode: int | None = None

    @property
    def connected(self) -> int:
        """当前连接数。"""
        return len(self._connections)

    async def start(self) -> None:
        """绑定套接字（0600）、开始接受连接并分发事件；已有引擎在听时抛 UserError。"""
        self._remove_stale_socket()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # umask 让套接字文件一出生就是 0600；umask 是进程级的，所以只在 bind 这一瞬间改
        old_umask = os.umask(0o177)
        try:
            sock.bind(str(self.socket_path))
        except OSError:
            sock.close()
            raise
        finally:
            os.umask(old_umask)
        os.chmod(self.socket_path, 0o600)
        self._inode = self.socket_path.stat().st_ino
        self._server = await asyncio.start_unix_server(self._handle, sock=sock, limit=MAX_REQUEST_BYTES)
        self._pump = asyncio.create_task(self._pump_events())
        await asyncio.sleep(0)  # 让分发任务先跑到第一次等待，即向引擎订阅事件
        logger.info("control socket listening path=%s", self.socket_path)

    async def stop(self) -> None:
        """停止服务：断开全部连接、删除套接字文件；引擎本身不受影响。"""
        if self._server is None:
            return
        server, self._server = self._server, None
        server.close()
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        for connection in list(self._connections):
            connection.closing = True
            connection.writer.close()
        # 不取消当前任务：stop 可能正由某个请求（如 shutdown 命令）调用
        for task in self._requests - {asyncio.current_task()}:
            task.cancel()
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=FLUSH_TIMEOUT * 2)
        await server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            if self.socket_path.stat().st_ino == self._inode:
                self.socket_path.unlink()
        logger.info("control socket closed path=%s", self.socket_path)

    async def __aenter__(self) -> "ControlServer":
        """async with：进入时 start。"""
        await self.start()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        """async with：退出时 stop。"""
        await self.stop()

    def _remove_stale_socket(self) -> None:
        """删除上次留下的套接字文件；若有引擎正在上面监听、或那不是套接字，抛 UserError 而不删。"""
        path = self.socket_path
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(mode):
            raise UserError(f"control socket path {path} exists and is not a socket; move it away or choose "
                            f"another journal path")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(path))
        except (ConnectionRefusedError, FileNotFoundError):
            path.unlink(missing_ok=True)
            return
        finally:
            probe.close()
        raise UserError(f"another engine is already listening on {path}; stop it first or use another journal")

    async def _pump_events(self) -> None:
        """从引擎读事件，编码一次，交给每个已订阅的连接。"""
        try:
            async for event in self.client.events():
                targets = [c for c in self._connections if c.subscribed]
                if not targets:
                    continue
                try:
                    line = _encode({"event": event_to_dict(event)})
                except (TypeError, ValueError):
                    logger.exception("control event not JSON-serializable kind=%s", event.kind.value)
                    continue
                for connection in targets:
                    connection.push_event(line)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("control event stream failed path=%s", self.socket_path)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """一个连接的读循环：逐行解析请求、校验令牌、交给请求任务执行。"""
        self._handlers.add(asyncio.current_task())
        connection = _Connection(writer, self.event_backlog)
        self._connections.add(connection)
        logger.info("control client connected clients=%d", len(self._connections))
        try:
            while not connection.closing:
                try:
                    line = await reader.readline()
                except ValueError:  # 行超过 MAX_REQUEST_BYTES；流已无法按行对齐，只能断开
                    connection.reply(_error(None, "protocol", f"request longer than {MAX_REQUEST_BYTES} bytes"))
                    break
                except ConnectionError:
                    break
                if not line:
                    break
                self._accept(connection, line)
        finally:
            self._connections.discard(connection)
            await connection.finish()
            self._handlers.discard(asyncio.current_task())
            logger.info("control client disconnected clients=%d dropped_events=%d",
                        len(self._connections), connection.dropped)

    def _accept(self, connection: _Connection, line: bytes) -> None:
        """解析一行请求并校验令牌；合格的请求交给新任务执行，令牌不对则应答后断开。"""
        try:
            request = json.loads(line)
        except ValueError:
            connection.reply(_error(None, "protocol", "request is not valid JSON; send one JSON object a line"))
            return
        if not isinstance(request, dict):
            connection.reply(_error(None, "protocol", "request must be a JSON object"))
            return
        request_id = request.get("id")
        token = request.get("token")
        if not isinstance(token, str) or not secrets.compare_digest(token.encode(), self.token.encode()):
            connection.reply(_error(request_id, "auth", "invalid or missing control token; read it from the "
                                                        "engine's .token file next to its journal"))
            connection.closing = True
            return
        task = asyncio.create_task(self._serve(connection, request_id, request))
        self._requests.add(task)
        task.add_done_callback(self._requests.discard)

    async def _serve(self, connection: _Connection, request_id: Any, request: dict[str, Any]) -> None:
        """执行一个已通过令牌校验的请求，把结果或错误写回该连接。"""
        op = request.get("op")
        try:
            result = await self._dispatch(connection, op, request)
            line = _encode({"id": request_id, "ok": True, "result": result})
        except _ProtocolError as exc:
            line = _error(request_id, "protocol", str(exc))
        except UserError as exc:
            line = _error(request_id, "user", str(exc))
        except Exception as exc:
            logger.exception("control request failed op=%s name=%s", op, request.get("name"))
            line = _error(request_id, "internal", f"internal engine error ({type(exc).__name__}: {exc}); "
                                                  f"see the engine log")
        connection.reply(line)

    async def _dispatch(self, connection: _Connection, op: Any, request: dict[str, Any]) -> Any:
        """按 op 调用引擎客户端，返回结果。"""
        if op == "ping":
            return "pong"
        if op == "snapshot":
            return await self.client.snapshot()
        if op == "subscribe":
            connection.subscribed = True
            return True
        if op == "command":
            name, args = request.get("name"), request.get("args") or {}
            if name not in COMMANDS:
                raise _ProtocolError(f"unknown command {name!r}; allowed: {', '.join(COMMANDS)}")
            if not isinstance(args, dict):
                raise _ProtocolError(f"command args must be a JSON object, got {type(args).__name__}")
            async with connection.command_lock:
                return await self.client.command(name, **args)
        raise _ProtocolError(f"unknown op {op!r}; allowed: {', '.join(OPS)}")


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

    async def command(self, name: str, **args: Any) -> Any:
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
            line = _encode({"id": request_id, "token": self.token, "op": op, **fields})
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
