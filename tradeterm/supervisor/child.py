"""守护进程里的一个引擎子进程：启动、逐行读它的输出（原样回显，并留下最后几行给崩溃通知）、等它退出、温和地停止它。

子进程的标准输入是 /dev/null，标准输出与标准错误并进同一个管道（日志与打印的先后顺序不乱）。输出必须一直有人读：
管道写满时引擎的 print 与日志会卡住整个引擎。
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections import deque
from typing import Callable, Sequence

# 引擎开始在控制套接字上服务时打印的那一行的开头（见 tradeterm/cli/run.py 的 serve）；看到它之后才开始心跳
CONTROL_SOCKET_LINE = "control socket:"
# 一行输出的最大字节数；更长的行被丢掉并注明（不让一行巨大的输出撑爆内存）
LINE_LIMIT = 1 << 20
# 子进程退出后等管道里剩余输出读完的上限，秒（万一有孙进程还握着管道，不能一直等）
DRAIN_TIMEOUT_S = 5.0
# 超长行的替代文字
LONG_LINE_NOTE = f"(supervisor: an engine output line longer than {LINE_LIMIT} bytes was dropped)"


class EngineChild:
    """一个正在运行（或刚退出）的引擎子进程。用 `await EngineChild.start(...)` 创建。"""

    def __init__(self, proc: asyncio.subprocess.Process, log_lines: int, echo: Callable[[str], None]):
        """proc 为已启动的子进程；log_lines 为留下的最后几行，行；echo 为每行输出的回显函数。"""
        # 子进程
        self.proc = proc
        # 最后 log_lines 行输出（崩溃通知里附上）
        self.tail: deque[str] = deque(maxlen=log_lines)
        # 回显函数：守护进程把引擎日志原样转到自己的标准输出（systemd 的日志里就能看到引擎日志）
        self.echo = echo
        # 引擎打印了控制套接字那一行时置位（心跳从这之后开始）
        self.socket_ready = asyncio.Event()
        # 读输出的任务
        self.reader = asyncio.create_task(self._pump(), name=f"engine {proc.pid} output")

    @classmethod
    async def start(cls, argv: Sequence[str], env: dict[str, str] | None, log_lines: int,
                    echo: Callable[[str], None]) -> "EngineChild":
        """启动子进程 argv（环境 env，None 为继承），返回 EngineChild。"""
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, env=env, limit=LINE_LIMIT)
        return cls(proc, log_lines, echo)

    @property
    def pid(self) -> int:
        """子进程号。"""
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        """退出码；还在运行时为 None；被信号杀死时为负的信号编号。"""
        return self.proc.returncode

    async def _pump(self) -> None:
        """逐行读输出直到管道关闭：回显、留尾，并在看到控制套接字那一行时置位 socket_ready。"""
        while True:
            try:
                raw = await self.proc.stdout.readline()
            except ValueError:  # 超过 LINE_LIMIT 的一行：asyncio 已丢掉它，接着读下一行
                self._take(LONG_LINE_NOTE)
                continue
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            self._take(line)
            if line.startswith(CONTROL_SOCKET_LINE):
                self.socket_ready.set()

    def _take(self, line: str) -> None:
        """收下一行输出：留尾并回显。"""
        self.tail.append(line)
        self.echo(line)

    async def wait(self) -> int:
        """等子进程退出并（最多 DRAIN_TIMEOUT_S 秒）读完剩余输出，返回退出码。"""
        code = await self.proc.wait()
        try:
            await asyncio.wait_for(asyncio.shield(self.reader), DRAIN_TIMEOUT_S)
        except asyncio.TimeoutError:
            self.reader.cancel()
        return code

    def send(self, signum: int) -> None:
        """给子进程发信号；它已经退出时什么也不做。"""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signum)

    async def stop(self, grace_s: float) -> int:
        """SIGTERM（引擎据此优雅退出），grace_s 秒内没退出就 SIGKILL；返回退出码。

        同时发 SIGCONT：被 SIGSTOP 停住的进程收不到 SIGTERM 的处理机会，先让它继续运行。"""
        self.send(signal.SIGTERM)
        self.send(signal.SIGCONT)
        waiter = asyncio.ensure_future(self.wait())
        done, _ = await asyncio.wait({waiter}, timeout=grace_s)
        if not done:
            self.send(signal.SIGKILL)
        return await waiter

    async def close(self) -> None:
        """放弃读输出（子进程已退出之后调用，或出错时清理）。"""
        if not self.reader.done():
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.reader
