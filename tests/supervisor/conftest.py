"""守护进程测试的夹具与帮手：进程内沙盒交易所、/tmp 下的短目录（控制套接字路径有长度上限）、记下请求体的假 webhook，
以及写配置、启动 `tradeterm run --headless --supervise` 子进程、读通知的帮手。"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.engine.conftest import engine_config, flip, sandbox, wait_for  # noqa: F401  sandbox 是夹具
from tests.engine.test_headless import REPO, EngineProcess, short_dir  # noqa: F401  short_dir 是夹具
from tests.notify.fakes import FakeHook

# 等守护进程或引擎子进程打印某一行的上限，秒（防挂死的上限，不是对速度的断言：含新解释器的导入）
LINE_TIMEOUT_S = 90.0
# 等守护进程退出的上限，秒（它要先停引擎、再把通知发完）
EXIT_TIMEOUT_S = 90.0
# 守护进程每启动一个引擎子进程打印的那一行的开头
STARTED_LINE = "supervisor: engine started pid="


@pytest.fixture
async def hook():
    """假的通用 webhook 接收端（127.0.0.1 随机端口），记下每个请求体。"""
    server = FakeHook()
    await server.start()
    yield server
    await server.stop()


def supervised_config(directory: Path, sandbox_url: str, hook_url: str, **supervisor: Any) -> Path:
    """写一份 paper 配置（一个 Flip 实例，指向沙盒），通知只发 supervisor 类别到 hook_url，supervisor 块按参数；
    返回配置文件路径。"""
    notify = {"webhooks": [{"url": hook_url, "coalesce_window": 0, "min_interval": 0, "events": ["supervisor"]}]}
    engine_config(directory, sandbox_url, [flip()], notify=notify, supervisor=supervisor)
    return directory / "config.yml"


async def start_supervisor(config_path: Path) -> EngineProcess:
    """启动 `tradeterm run --headless --supervise --config CFG` 子进程（输出持续读走）。"""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tradeterm.cli.main", "run", "--headless", "--supervise", "--config", str(config_path),
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return EngineProcess(proc)


@pytest.fixture
async def supervisors():
    """启动守护进程的工厂：await supervisors(配置路径)；测试结束时还在运行的守护进程及其引擎子进程都被杀掉。"""
    started: list[EngineProcess] = []

    async def start(config_path: Path) -> EngineProcess:
        """启动一个守护进程。"""
        process = await start_supervisor(config_path)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.proc.returncode is None:
            for pid in engine_pids(process):  # 守护进程被 SIGKILL 时不会替我们停掉引擎
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
            process.proc.kill()
            await process.proc.wait()
        process.reader.cancel()


def engine_pids(process: EngineProcess) -> list[int]:
    """守护进程到目前为止启动过的引擎子进程号，按启动顺序。"""
    return [int(line[len(STARTED_LINE):].split()[0]) for line in list(process.lines) if line.startswith(STARTED_LINE)]


async def wait_until(predicate, what: str, process: EngineProcess | None = None,
                     timeout: float = LINE_TIMEOUT_S) -> None:
    """tests/engine/conftest.py 的 wait_for（轮询、防挂死的上限），失败时附上守护进程的输出。"""
    try:
        await wait_for(predicate, timeout, what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{process.output() if process is not None else ''}") from None


async def nth_engine(process: EngineProcess, n: int) -> int:
    """等守护进程启动第 n 个引擎子进程（从 1 数）、且它打印了控制套接字那一行，返回它的进程号。"""
    await wait_until(lambda: len(engine_pids(process)) >= n
                     and sum("control socket:" in line for line in process.lines) >= n,
                     f"engine #{n} to serve its control socket", process)
    return engine_pids(process)[n - 1]


def notices(server: FakeHook) -> list[dict[str, Any]]:
    """收到的 supervisor 通知，合并消息展开成各自的标题（合并消息里只有标题，没有各自的正文行）。"""
    found = []
    for body in server.bodies():
        if body.get("count", 1) > 1:
            found += [{"title": title, "lines": [], "severity": None, "category": "supervisor"}
                      for title in body["lines"]]
        elif body.get("category") == "supervisor":
            found.append(body)
    return found


def titled(server: FakeHook, text: str, start: int = 0) -> list[dict[str, Any]]:
    """从第 start 条起，标题含 text 的 supervisor 通知。"""
    return [body for body in notices(server)[start:] if text in body["title"]]
