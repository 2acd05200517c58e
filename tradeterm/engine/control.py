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
坏输入（超长的行、非 UTF-8、非法 JSON、NaN 字面量、嵌套过深、未知字段、参数类型不对……）各得一条英文错误应答，
连接保持可用（只有令牌不对时答完就断开）：行的解码与信封校验见 tradeterm/engine/protocol.py，
命令参数的校验见 tradeterm/engine/arguments.py。客户端 `SocketClient` 在 tradeterm/engine/control_client.py。
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import stat
from collections import deque
from pathlib import Path
from typing import Any

from tradeterm.engine.arguments import check_args
from tradeterm.engine.client import EngineClient, event_to_dict
from tradeterm.engine.control_client import SocketClient
from tradeterm.engine.protocol import (EVENT_BACKLOG, MAX_REQUEST_BYTES, ControlError, Request, RequestError,
                                       check_envelope, check_socket_path, decode_request, discard_line, encode,
                                       error_line, request_id_of)
from tradeterm.errors import UserError

# 本模块的日志器
logger = logging.getLogger(__name__)

# 本模块对外的名字（SocketClient、ControlError、check_socket_path 定义在别处，从这里导出以兼容旧的导入）
__all__ = ["ControlError", "ControlServer", "SocketClient", "check_socket_path", "control_paths",
           "read_token_file", "write_token_file"]
# 断开连接时等待积压应答写完的最长时间，秒
FLUSH_TIMEOUT = 1.0
# 令牌不对时的应答
AUTH_MESSAGE = "token: invalid or missing control token; read it from the engine's .token file next to its journal"


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
        # 本连接上正在执行的请求任务（连接结束时等它们答完）
        self.tasks: set[asyncio.Task] = set()
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
                    line = encode({"event": event_to_dict(event)})
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
        """一个连接的读循环：逐行解析请求、校验令牌、交给请求任务执行。

        超长的行先答一条协议错误、再丢弃到行尾，之后的请求照常处理；连接结束（含半关闭）时先等本连接
        已接收的请求执行完、应答写完，再断开。"""
        self._handlers.add(asyncio.current_task())
        connection = _Connection(writer, self.event_backlog)
        self._connections.add(connection)
        logger.info("control client connected clients=%d", len(self._connections))
        try:
            while not connection.closing:
                try:
                    line = await reader.readuntil(b"\n")
                except asyncio.LimitOverrunError:
                    connection.reply(error_line(None, "protocol", f"request: line longer than {MAX_REQUEST_BYTES} "
                                                                  f"bytes; send one request of at most "
                                                                  f"{MAX_REQUEST_BYTES} bytes per line"))
                    await discard_line(reader)
                    continue
                except asyncio.IncompleteReadError as exc:  # 连接结束：最后一行可能没有换行
                    if exc.partial.strip():
                        self._accept(connection, exc.partial)
                    break
                except ConnectionError:
                    break
                self._accept(connection, line)
            if connection.tasks:
                await asyncio.wait(connection.tasks)
        finally:
            self._connections.discard(connection)
            await connection.finish()
            self._handlers.discard(asyncio.current_task())
            logger.info("control client disconnected clients=%d dropped_events=%d",
                        len(self._connections), connection.dropped)

    def _token_ok(self, token: Any) -> bool:
        """令牌是否与本引擎的相符（常数时间比较；非字符串一律不符）。"""
        if not isinstance(token, str):
            return False
        return secrets.compare_digest(token.encode("utf-8", "surrogatepass"), self.token.encode("utf-8"))

    def _accept(self, connection: _Connection, line: bytes) -> None:
        """解码一行请求并校验令牌与信封：不合协议的答 protocol 错误（连接保持可用），令牌不对的答 auth 错误后断开，
        合格的交给新任务执行。"""
        try:
            value = decode_request(line)
            if isinstance(value, dict) and not self._token_ok(value.get("token")):
                try:
                    request_id = request_id_of(value.get("id"))
                except RequestError:
                    request_id = None
                connection.reply(error_line(request_id, "auth", AUTH_MESSAGE))
                connection.closing = True
                return
            request = check_envelope(value)
        except RequestError as exc:
            connection.reply(error_line(exc.request_id, "protocol", str(exc)))
            return
        except Exception as exc:  # 程序缺陷：记下 traceback，仍给这一行一条应答，连接保持可用
            logger.exception("control request could not be parsed")
            connection.reply(error_line(None, "internal", f"internal engine error ({type(exc).__name__}); "
                                                          f"see the engine log"))
            return
        task = asyncio.create_task(self._serve(connection, request))
        self._requests.add(task)
        connection.tasks.add(task)
        task.add_done_callback(self._requests.discard)
        task.add_done_callback(connection.tasks.discard)

    async def _serve(self, connection: _Connection, request: Request) -> None:
        """执行一个已通过令牌与信封校验的请求，把结果或错误写回该连接。"""
        try:
            result = await self._dispatch(connection, request)
            line = encode({"id": request.request_id, "ok": True, "result": result})
        except UserError as exc:
            line = error_line(request.request_id, "user", str(exc))
        except Exception as exc:
            logger.exception("control request failed op=%s name=%s", request.op, request.name)
            line = error_line(request.request_id, "internal", f"internal engine error ({type(exc).__name__}: "
                                                              f"{exc}); see the engine log")
        connection.reply(line)

    async def _dispatch(self, connection: _Connection, request: Request) -> Any:
        """按 op 调用引擎客户端，返回结果；命令参数先按 arguments.check_args 校验（不合格抛 UserError）。"""
        if request.op == "ping":
            return "pong"
        if request.op == "snapshot":
            return await self.client.snapshot()
        if request.op == "subscribe":
            connection.subscribed = True
            return True
        check_args(request.name, request.args)
        async with connection.command_lock:
            return await self.client.command(request.name, **request.args)
