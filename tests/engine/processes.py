"""崩溃恢复测试共用的进程与日志库小工具：起 tradeterm 子进程、按条件等待（日志里的一行、谓词为真）、数日志库里的成交、
经控制套接字让 headless 引擎优雅退出。

等待都是“等条件”：超时只是防止挂死的上限（GUARD_S，足够宽，繁忙的机器上也不会误报），不是对速度的断言。
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tradeterm.engine.control import ControlError, SocketClient, control_paths, read_token_file

# 等条件的防挂死上限，秒：只在真的卡住时才触发（机器再忙，正常的启动与交易也远用不了这么久）
GUARD_S = 180.0
# 轮询间隔，秒
POLL_S = 0.02


def start_process(args: list[str], log: Path, cwd: Path) -> subprocess.Popen:
    """以新的解释器子进程运行 tradeterm，输出写到 log 文件（不用管道，免得没人读时阻塞）。"""
    return subprocess.Popen([sys.executable, "-m", "tradeterm.cli.main", *args], cwd=cwd, stdout=log.open("w"),
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def wait_for_line(log: Path, pattern: str, process, timeout: float = GUARD_S) -> re.Match:
    """等 log 里出现匹配 pattern 的一行；进程先退出则失败，超过防挂死上限 timeout 秒也失败。"""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = re.search(pattern, log.read_text())
        if match:
            return match
        if process.poll() is not None:
            raise AssertionError(f"process exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        time.sleep(POLL_S)
    raise AssertionError(f"timed out waiting for {pattern!r}:\n{log.read_text()[-3000:]}")


def wait_until(predicate, process, log: Path, what: str, timeout: float = GUARD_S, poll_s: float = POLL_S) -> None:
    """每 poll_s 秒检查一次，直到 predicate() 为真；进程先退出则失败，超过防挂死上限 timeout 秒也失败（附上日志）。"""
    deadline = time.monotonic() + timeout
    while not predicate():
        if process.poll() is not None:
            raise AssertionError(f"process exited with {process.returncode} before {what}:\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}:\n{log.read_text()[-3000:]}")
        time.sleep(poll_s)


def count_fills(journal: Path) -> int:
    """日志库里已提交的成交笔数（库还不存在、表还没建好时为 0）。"""
    if not journal.exists():
        return 0
    conn = sqlite3.connect(journal)
    try:
        return conn.execute("SELECT COUNT(*) FROM fills").fetchone()[0]
    except sqlite3.OperationalError:  # 表还没建好（引擎正在迁移）
        return 0
    finally:
        conn.close()


def assert_no_traceback(log: Path) -> None:
    """被杀的进程在死前没有打印过 traceback（每个杀点都必须是干净的“突然死亡”，而不是先出了错）。"""
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]


async def shutdown(journal: Path) -> None:
    """经控制套接字让 headless 引擎优雅退出（引擎退出时连接断开视为成功）。"""
    socket_path, token_path = control_paths(journal)
    client = await SocketClient.connect(socket_path, read_token_file(token_path))
    try:
        await client.command("shutdown")
    except ControlError:
        pass  # 引擎退出时连接断开：视为成功
    finally:
        await client.close()
