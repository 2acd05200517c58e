"""测试用的进程启动器：一个预先导入好 tradeterm 及其重依赖（pandas、numba、ccxt、aiohttp……）的“母进程”，
之后每次启动都 fork 出一个真正的子进程来运行一条 `tradeterm` 命令（与 `python -m tradeterm.cli.main ARGS` 相同的入口）。

为什么：崩溃恢复测试要把引擎启动、SIGKILL、再启动很多次；每次新起解释器光导入就要 2~3 秒（机器繁忙时更久），
而测试要证明的是磁盘上的状态（日志库、沙盒状态文件）挺得过 SIGKILL，与解释器怎么启动无关。fork 出来的子进程有自己的
进程号、自己的文件描述符与内存，被 SIGKILL 时和普通进程一样当场死掉；命令的全部运行期工作（读配置、加载策略插件、
打开日志库、连交易所、对账、预热）都在子进程里照常进行。

协议（母进程的标准输入/输出，每行一个 JSON）：
- {"op": "spawn", "args": [...], "log": 路径, "cwd": 目录} -> {"pid": 子进程号}；子进程的标准输出与标准错误追加到 log，
  标准输入为 /dev/null；
- {"op": "poll", "pid": n} -> {"returncode": 退出码或 null（还在运行）}；被信号杀死时为负的信号编号（同 Popen）。
母进程读到标准输入结束就退出。测试一侧用 `Launcher`（下面）驱动它，得到与 subprocess.Popen 用法相同的进程对象。
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

# 仓库根目录（母进程在这里运行，才能导入 tradeterm 与 tests）
REPO = Path(__file__).resolve().parents[2]
# 母进程预先导入的模块：子进程不必再付这些导入的时间（没列上的照常在子进程里导入，只是慢一些）
# （子命令模块的顶层不再导入配置校验与引擎，所以 tradeterm.config.loader 要单独列上）
PRELOAD = ("tradeterm.cli.main", "tradeterm.cli.run", "tradeterm.cli.sandbox", "tradeterm.config.loader",
           "tradeterm.engine.factory", "tradeterm.engine.trader", "tradeterm.engine.control",
           "tradeterm.engine.client", "tradeterm.sandbox.server", "tradeterm.strategy.loader",
           "ccxt.async_support", "ccxt.pro", "aiosqlite", "aiohttp")
# 母进程就绪时在标准输出上打印的一行
READY = "launcher ready"
# 轮询子进程是否结束的间隔，秒
POLL_S = 0.02


# ---- 母进程一侧 ------------------------------------------------------------------------------------------


def run_child(args: list[str], log: str, cwd: str, channels: tuple[int, int]) -> None:
    """（fork 出的子进程）把标准输出/错误接到 log、标准输入接到 /dev/null，运行 tradeterm 命令，以它的退出码结束。

    用 os._exit 结束：绝不回到母进程的请求循环里；退出前把标准输出、标准错误与日志处理器都冲刷掉。"""
    code = 1
    try:
        for fd in channels:
            os.close(fd)
        out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(out)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.chdir(cwd)
        sys.argv = ["tradeterm", *args]
        from tradeterm.cli.main import main

        code = main(args)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # 与普通进程一样：未处理的异常打印 traceback（测试会在日志里找它）
        traceback.print_exc()
        code = 1
    finally:
        import logging

        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def prewarm() -> None:
    """预先导入 PRELOAD 与全部子命令模块，fork 出的子进程直接继承。

    引擎下单路径上的成交规则与仓位计算是纯 Python（tradeterm/jit.py 的 jitable），不再需要预热 numba。"""
    for name in PRELOAD:
        importlib.import_module(name)
    from tradeterm.cli.main import build_parser

    build_parser()  # 顺带导入全部子命令模块


def serve() -> None:
    """母进程：预先导入与预热，然后按请求 fork 子进程、报告它们的退出码，直到标准输入结束。"""
    prewarm()
    # 请求与回答走标准输入/输出的副本；0、1 两个描述符留给子进程改接（母进程自己不再用它们）
    requests = os.fdopen(os.dup(0), "r")
    replies = os.fdopen(os.dup(1), "w")
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(2, 1)
    os.close(null)
    # 已结束子进程的退出码（waitpid 对同一个子进程只能成功一次）
    finished: dict[int, int] = {}
    replies.write(READY + "\n")
    replies.flush()
    for line in requests:
        request = json.loads(line)
        if request["op"] == "spawn":
            # fork 前不能有别的线程（子进程里只会剩下调用 fork 的这一个）
            assert threading.active_count() == 1, threading.enumerate()
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                run_child(request["args"], request["log"], request["cwd"], (requests.fileno(), replies.fileno()))
            answer: dict = {"pid": pid}
        else:
            pid = request["pid"]
            if pid not in finished:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    finished[pid] = os.waitstatus_to_exitcode(status)
            answer = {"returncode": finished.get(pid)}
        replies.write(json.dumps(answer) + "\n")
        replies.flush()
    # 标准输入结束：直接退出，不做解释器的收尾（几十万个已导入对象的清理在繁忙的机器上要好几秒）
    replies.close()
    os._exit(0)


# ---- 测试一侧 --------------------------------------------------------------------------------------------


class LaunchedProcess:
    """由母进程 fork 出的一个 tradeterm 进程；接口与 subprocess.Popen 的常用部分相同（pid、poll、wait、returncode）。"""

    def __init__(self, launcher: "Launcher", pid: int):
        """launcher 为创建它的启动器，pid 为子进程号。"""
        # 创建它的启动器（查询退出码要经母进程）
        self.launcher = launcher
        # 子进程号
        self.pid = pid
        # 退出码；还在运行时为 None，被信号杀死时为负的信号编号
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """子进程已结束则返回（并记下）退出码，否则返回 None。"""
        if self.returncode is None:
            self.returncode = self.launcher.request({"op": "poll", "pid": self.pid})["returncode"]
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """等子进程结束并返回退出码；timeout（秒）是防止挂死的上限，超过时抛 subprocess.TimeoutExpired。"""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"tradeterm pid {self.pid}", timeout)
            time.sleep(POLL_S)
        return self.returncode

    def kill(self) -> None:
        """SIGKILL 这个子进程（已结束时什么也不做）。"""
        if self.poll() is None:
            os.kill(self.pid, signal.SIGKILL)


class Launcher:
    """测试一侧：起母进程、请它 fork 子进程；close() 杀掉仍在运行的子进程并结束母进程。"""

    def __init__(self) -> None:
        """起母进程并等它导入完毕。"""
        # 母进程（标准输入/输出是请求与回答的通道，标准错误照常输出）
        self.process = subprocess.Popen([sys.executable, "-m", "tests.engine.launcher"], cwd=REPO,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        # 串行化请求（同一时刻只有一个请求在通道上）
        self._lock = threading.Lock()
        # 经本启动器起的全部子进程
        self.children: list[LaunchedProcess] = []
        ready = self.process.stdout.readline().strip()
        if ready != READY:
            self.process.kill()
            raise RuntimeError(f"the test launcher did not start (said {ready!r}; see stderr above)")

    def request(self, message: dict) -> dict:
        """发一个请求，返回回答。"""
        with self._lock:
            self.process.stdin.write(json.dumps(message) + "\n")
            self.process.stdin.flush()
            answer = self.process.stdout.readline()
        if not answer:
            raise RuntimeError(f"the test launcher exited with {self.process.poll()}")
        return json.loads(answer)

    def start(self, args: list[str], log: Path, cwd: Path) -> LaunchedProcess:
        """运行 `tradeterm ARGS`（工作目录 cwd，输出写进 log），返回进程对象。

        log 在这里就建好（清空）：返回之后测试马上就能读它，不必等子进程打开它。"""
        Path(log).write_text("")
        child = LaunchedProcess(self, self.request({"op": "spawn", "args": list(args), "log": str(log),
                                                    "cwd": str(cwd)})["pid"])
        self.children.append(child)
        return child

    def close(self) -> None:
        """杀掉经本启动器起、仍在运行的子进程（按进程号），关闭通道，等母进程退出。"""
        for child in self.children:
            child.kill()
            child.wait(30)
        self.process.stdin.close()
        self.process.wait(30)
        self.process.stdout.close()


if __name__ == "__main__":
    serve()
