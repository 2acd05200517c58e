"""`tradeterm run --headless` 作为真实子进程，对着测试里的沙盒交易所（真实 HTTP/websocket）交易；
测试经真实的 Unix 控制套接字连上、断开、再连上，以及用 `tradeterm ctl` 子进程操作它。"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

import pytest

from tests.engine.conftest import engine_config, flip, wait_for
from tradeterm.engine.control import ControlError, SocketClient, control_paths, read_token_file
from tradeterm.engine.events import EventKind

# 仓库根目录（子进程的工作目录）
REPO = Path(__file__).resolve().parents[2]
# 两个实例：BTC 上的会被暂停，ETH 上的一直交易
INSTANCES = [flip("flip_btc", "BTC/USDT"), flip("flip_eth", "ETH/USDT")]
# 等引擎子进程打印控制套接字路径的上限，秒（含 Python 启动与导入 ccxt）
START_TIMEOUT_S = 20.0
# 等子进程退出的上限，秒
EXIT_TIMEOUT_S = 15.0


class EngineProcess:
    """一个 `tradeterm run --headless` 子进程：持续读走它的输出（否则管道写满会卡住引擎），按需等某一行。"""

    def __init__(self, proc: asyncio.subprocess.Process):
        """proc 为已启动的子进程（stdout 为管道，stderr 并入 stdout）。"""
        # 子进程
        self.proc = proc
        # 已读到的输出行（去掉行尾换行）
        self.lines: list[str] = []
        # 读输出的任务
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        """把子进程的输出逐行读进 lines，直到管道关闭。"""
        while line := await self.proc.stdout.readline():
            self.lines.append(line.decode(errors="replace").rstrip("\n"))

    def output(self) -> str:
        """到目前为止的全部输出（失败消息里用）。"""
        return "\n".join(self.lines)

    async def wait_line(self, text: str, timeout: float = START_TIMEOUT_S) -> str:
        """等到输出里出现含 text 的一行并返回它；进程先退出或超时则测试失败（附上输出）。"""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for line in self.lines:
                if text in line:
                    return line
            if self.proc.returncode is not None or self.reader.done():
                raise AssertionError(f"engine exited ({self.proc.returncode}) before printing {text!r}:\n"
                                     f"{self.output()}")
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no {text!r} line within {timeout}s:\n{self.output()}")
            await asyncio.sleep(0.05)

    async def wait_exit(self, timeout: float = EXIT_TIMEOUT_S) -> int:
        """等进程退出并读完输出，返回退出码。"""
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        await asyncio.wait_for(self.reader, timeout)
        return code


@pytest.fixture
def short_dir():
    """/tmp 下的短目录放配置与日志库：控制套接字建在日志库旁，路径不能超过 Unix 套接字约 107 字节的上限。"""
    path = Path(tempfile.mkdtemp(prefix="tt", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def headless(short_dir, sandbox):
    """启动 headless 引擎子进程（指向本测试的沙盒），等它打印控制套接字；测试结束时若还在运行就杀掉它。

    产出 (EngineProcess, 配置文件路径, 日志库路径)。"""
    config = engine_config(short_dir, sandbox.url, INSTANCES)
    config_path = short_dir / "config.yml"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tradeterm.cli.main", "run", "--headless", "--config", str(config_path),
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    engine = EngineProcess(proc)
    try:
        await engine.wait_line("control socket:")
        yield engine, config_path, config.journal_path()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        engine.reader.cancel()


async def connect(journal: Path) -> SocketClient:
    """按日志库路径找到控制套接字与令牌文件并连上。"""
    socket_path, token_path = control_paths(journal)
    return await SocketClient.connect(socket_path, read_token_file(token_path))


def journal_rows(journal: Path, sql: str, params: tuple = ()) -> list[tuple]:
    """用独立的只读连接读引擎子进程的日志库。"""
    conn = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def fills_of(journal: Path, instance: str) -> int:
    """日志库里某个实例的成交笔数。"""
    return journal_rows(journal, "SELECT COUNT(*) FROM fills WHERE instance = ?", (instance,))[0][0]


async def ctl(config_path: Path, *args: str) -> tuple[int, str]:
    """运行 `tradeterm ctl ... --config CFG` 子进程（异步：沙盒在本进程的事件循环里，不能阻塞它）；
    返回 (退出码, stdout+stderr)。"""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tradeterm.cli.main", "ctl", *args, "--config", str(config_path),
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode, out.decode(errors="replace")


async def next_fill(client: SocketClient, timeout: float = 10.0):
    """从订阅的事件流里等到下一条成交事件。"""
    async def first() -> object:
        """第一条 fill 事件。"""
        async for event in client.events():
            if event.kind is EventKind.FILL:
                return event
        raise AssertionError("event stream ended before a fill arrived")
    return await asyncio.wait_for(first(), timeout)


async def test_attach_detach_pause_and_shutdown(headless):
    """连上 -> 快照、事件里看到成交 -> 暂停一个实例 -> 断开：引擎照常运行、另一个实例继续交易；
    另一个客户端连上看到暂停状态仍在；shutdown 后进程以 0 退出，日志库里本次运行记下了结束时间。"""
    engine, config_path, journal = headless
    first = await connect(journal)
    snapshot = await first.snapshot()
    assert {row["name"]: row["status"] for row in snapshot["instances"]} == {"flip_btc": "running",
                                                                             "flip_eth": "running"}
    assert snapshot["mode"] == "paper" and snapshot["run_id"]
    fill = await next_fill(first)
    assert fill.data["instance"] in ("flip_btc", "flip_eth") and fill.data["trade_id"]
    paused = await first.command("pause", instance="flip_btc")
    assert paused["status"] == "paused"
    await first.close()

    # 没有客户端连着：进程还在，ETH 实例照常交易，暂停的 BTC 实例不再下单
    await wait_for(lambda: not journal_rows(journal, "SELECT 1 FROM orders WHERE instance = 'flip_btc' AND "
                                                     "status IN ('new', 'open', 'partially_filled')"),
                   10, "flip_btc has no open orders")
    btc_orders = journal_rows(journal, "SELECT COUNT(*) FROM orders WHERE instance = 'flip_btc' AND side = 'buy'")[0][0]
    eth_fills = fills_of(journal, "flip_eth")
    await wait_for(lambda: fills_of(journal, "flip_eth") >= eth_fills + 4, 10, "flip_eth keeps trading")
    assert engine.proc.returncode is None
    assert journal_rows(journal, "SELECT COUNT(*) FROM orders WHERE instance = 'flip_btc' AND side = 'buy'")[0][0] == btc_orders  # 暂停只挡开仓

    second = await connect(journal)
    snapshot = await second.snapshot()
    assert {row["name"]: row["status"] for row in snapshot["instances"]} == {"flip_btc": "paused",
                                                                             "flip_eth": "running"}
    try:
        assert await second.command("shutdown") == {"stopping": True}
    except ControlError as exc:  # 引擎关掉套接字的速度可能快过应答：连接断开也算 shutdown 成功
        assert "lost the connection" in str(exc)
    await second.close()
    assert await engine.wait_exit() == 0, engine.output()
    assert "engine stopped" in engine.output()
    runs = journal_rows(journal, "SELECT finished_ts FROM runs ORDER BY id DESC LIMIT 1")
    assert runs and runs[0][0] is not None
    socket_path, _ = control_paths(journal)
    assert not socket_path.exists()  # 退出时删掉了自己的套接字文件
    # 引擎走了、令牌文件还留着：ctl 说没有引擎在听
    code, out = await ctl(config_path, "status")
    assert code == 2 and "no engine is listening" in out, out


async def test_ctl_status_and_pause_against_a_running_engine(headless):
    """`tradeterm ctl status` 打印实例表；`tradeterm ctl pause NAME` 暂停实例（之后 status 里就是 paused）；
    都以 0 退出。引擎收到 SIGTERM 后优雅退出（退出码 0）。"""
    engine, config_path, journal = headless
    code, out = await ctl(config_path, "status")
    assert code == 0, out
    assert "instance" in out and "symbol" in out and "status" in out
    assert "flip_btc" in out and "flip_eth" in out and "BTC/USDT" in out and "running" in out
    code, out = await ctl(config_path, "pause", "flip_eth")
    assert code == 0, out
    assert '"status": "paused"' in out and '"name": "flip_eth"' in out
    code, out = await ctl(config_path, "status")
    assert code == 0, out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith("flip_")}
    assert rows["flip_eth"][3] == "paused" and rows["flip_btc"][3] == "running"
    code, out = await ctl(config_path, "pause", "nope")
    assert code == 2 and "unknown instance 'nope'" in out
    assert engine.proc.returncode is None
    engine.proc.terminate()
    assert await engine.wait_exit() == 0, engine.output()
    assert journal_rows(journal, "SELECT finished_ts FROM runs ORDER BY id DESC LIMIT 1")[0][0] is not None


async def test_ctl_without_an_engine_says_none_is_listening(short_dir):
    """从未启动过引擎（没有套接字、也没有令牌文件）：`tradeterm ctl status` 以 2 退出，说明没有引擎在听并提示如何启动。"""
    engine_config(short_dir, "http://127.0.0.1:9", INSTANCES)
    socket_path, _ = control_paths(short_dir / "journal.db")
    code, out = await ctl(short_dir / "config.yml", "status")
    assert code == 2, out
    assert f"no engine is listening on {socket_path}" in out and "tradeterm run --headless" in out
    assert "Traceback" not in out


async def start_headless(config_path: Path) -> EngineProcess:
    """再启动一个 headless 引擎子进程（同一份配置与日志库），等它打印控制套接字。"""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tradeterm.cli.main", "run", "--headless", "--config", str(config_path),
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    engine = EngineProcess(proc)
    await engine.wait_line("control socket:")
    return engine


async def test_ctl_order_and_a_kill_switch_that_survives_sigkill(headless, sandbox):
    """`ctl order` 先打印风控预览再下单；`ctl kill-switch --yes` 之后交易所零持仓，引擎被 SIGKILL、重启后
    `ctl status` 仍显示接合、`ctl start` 被拒，`ctl kill-switch --reset` 解除之后才能 start。"""
    engine, config_path, journal = headless
    code, out = await ctl(config_path, "order", "ETHUSDT", "buy", "--notional", "50", "--yes")
    assert code == 0, out
    assert "risk checks pass" in out and "ETH/USDT" in out and "-> filled" in out, out
    code, out = await ctl(config_path, "order", "BTC/USDT", "buy", "--notional", "999999", "--yes")
    assert code == 1 and "REFUSED by" in out and "order not sent" in out, out
    code, out = await ctl(config_path, "order", "BTC/USDT", "buy", "--amount", "0.01", "--notional", "5")
    assert code == 2 and "exactly one of --amount" in out, out
    code, out = await ctl(config_path, "kill-switch")  # 没有终端、没有 --yes：拒绝
    assert code == 2 and "add --yes" in out, out
    code, out = await ctl(config_path, "kill-switch", "--yes")
    assert code == 0, out
    assert "every position closed" in out, out
    account = sandbox.account()
    for asset in ("ETH", "BTC"):
        free, locked = account.balance(asset)
        assert abs(free) < 1e-12 and locked == 0.0, (asset, free, locked)  # 沙盒余额的浮点残差不到一个数量步长的亿分之一

    engine.proc.kill()
    await engine.wait_exit()
    again = await start_headless(config_path)
    try:
        code, out = await ctl(config_path, "status")
        assert code == 0 and "KILL SWITCH ENGAGED" in out, out
        assert all(line.split()[3] == "stopped" for line in out.splitlines() if line.startswith("flip_")), out
        code, out = await ctl(config_path, "start", "flip_btc")
        assert code == 2 and "kill switch is engaged" in out, out
        code, out = await ctl(config_path, "kill-switch", "--reset")
        assert code == 0 and "kill switch reset" in out, out
        code, out = await ctl(config_path, "start", "flip_btc")
        assert code == 0, out
        code, out = await ctl(config_path, "status")
        assert "KILL SWITCH" not in out, out
    finally:
        again.proc.kill()
        await again.wait_exit()
