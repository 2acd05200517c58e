"""崩溃恢复：引擎进程在交易中被 SIGKILL 杀掉 20 次、每次重启，最后核对日志库与交易所。

沙盒交易所是一个独立进程（`tradeterm sandbox`），它在引擎一次次死掉时一直活着，账户与订单都在它那里；
引擎是真实的 `tradeterm run --headless` 子进程。Flip(period=2) 每根 K 线都下单（每 0.1 秒一根），
所以随机的杀点会落在下单、回报、记账、对账的各个环节上。最后要求：
- 没有丢失的成交：交易所上本账户的每笔成交都在日志库里，日志库的每笔成交也都在交易所上；
- 没有重复订单：交易所上的客户端订单号互不相同且都在日志库里；成交的订单买卖严格交替（重复的开仓会出现连续两笔买）；
- 日志库的持仓等于交易所余额；最后一次启动的对账没有无法解释的问题。
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.engine.conftest import engine_config, flip
from tradeterm.engine.control import ControlError, SocketClient, control_paths, read_token_file
from tradeterm.exchange.client import make_client
from tradeterm.sandbox.defaults import DEFAULT_API_KEY, DEFAULT_SECRET

# 杀掉重启的次数
KILLS = 20
# 引擎就绪（控制套接字已打开）之后到被杀的随机等待范围，秒（每 0.1 秒一次下单）
KILL_AFTER_READY_S = (0.05, 1.5)
# 每隔几次改为在启动途中（导入、加载市场、恢复、对账、预热）就杀掉，落点是启动后的随机秒数
STARTUP_KILL_EVERY = 4
# 启动途中被杀的随机时刻范围，秒（从进程启动算起）
KILL_DURING_STARTUP_S = (0.3, 1.8)
# 随机杀点的种子（失败可复现）
SEED = 20261125


def start_process(args: list[str], log: Path, cwd: Path) -> subprocess.Popen:
    """以子进程运行 tradeterm，输出写到 log 文件（不用管道，免得没人读时阻塞）。"""
    return subprocess.Popen([sys.executable, "-m", "tradeterm.cli.main", *args], cwd=cwd, stdout=log.open("w"),
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def wait_for_line(log: Path, pattern: str, process: subprocess.Popen, timeout: float = 30.0) -> re.Match:
    """等 log 里出现匹配 pattern 的一行；进程先退出或超时则失败。"""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = re.search(pattern, log.read_text())
        if match:
            return match
        if process.poll() is not None:
            raise AssertionError(f"process exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {pattern!r}:\n{log.read_text()[-3000:]}")


def count_fills(journal: Path) -> int:
    """日志库里已提交的成交笔数（库还不存在时为 0）。"""
    if not journal.exists():
        return 0
    conn = sqlite3.connect(journal)
    try:
        return conn.execute("SELECT COUNT(*) FROM fills").fetchone()[0]
    except sqlite3.OperationalError:  # 表还没建好（引擎正在迁移）
        return 0
    finally:
        conn.close()


def wait_until(predicate, process: subprocess.Popen, log: Path, what: str, timeout: float = 60.0) -> None:
    """轮询直到 predicate() 为真；进程先退出或超时则失败（附上日志）。"""
    deadline = time.monotonic() + timeout
    while not predicate():
        if process.poll() is not None:
            raise AssertionError(f"process exited with {process.returncode} before {what}:\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}:\n{log.read_text()[-3000:]}")
        time.sleep(0.05)


@pytest.fixture
def workdir():
    """短路径的工作目录（Unix 套接字路径有长度上限）。"""
    path = Path(tempfile.mkdtemp(prefix="tt-kill-", dir="/tmp"))
    yield path
    for item in sorted(path.rglob("*"), reverse=True):
        item.unlink() if not item.is_dir() else item.rmdir()
    path.rmdir()


@pytest.fixture
def sandbox_process(workdir):
    """独立进程的沙盒交易所（快速回放），返回它的 URL。"""
    log = workdir / "sandbox.log"
    process = start_process(["sandbox", "--port", "0", "--speed", "600", "--symbols", "BTC/USDT"], log, workdir)
    try:
        yield wait_for_line(log, r"listening on (http://\S+)", process).group(1)
    finally:
        process.terminate()
        process.wait(10)


async def final_run_problems(config_path: Path, journal: Path, workdir: Path) -> list[str]:
    """最后一次正常启动：读对账问题、暂停实例等挂单结束，然后 shutdown。返回对账问题。"""
    log = workdir / "final.log"
    process = start_process(["run", "--headless", "--config", str(config_path)], log, workdir)
    wait_for_line(log, r"control socket:", process)
    socket_path, token_path = control_paths(journal)
    client = await SocketClient.connect(socket_path, read_token_file(token_path))
    try:
        problems = (await client.snapshot())["problems"]
        await client.command("pause", instance="flip_btc")
        for _ in range(100):
            if not (await client.snapshot())["orders"]:
                break
            await asyncio.sleep(0.1)
    finally:
        await client.close()
    await shutdown(journal)
    assert process.wait(30) == 0, log.read_text()[-3000:]
    return problems


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


async def exchange_state(url: str) -> tuple[list[dict], list[dict], float]:
    """交易所一侧：本账户在 BTC/USDT 上的全部订单、全部成交与 BTC 总额。"""
    client = make_client(url, api_key=DEFAULT_API_KEY, secret=DEFAULT_SECRET)
    try:
        await client.load_markets()
        orders = await client.fetch_orders("BTC/USDT", limit=1000)
        trades = await client.fetch_my_trades("BTC/USDT", limit=1000)
        balance = await client.fetch_balance()
        return orders, trades, float(balance["total"].get("BTC", 0.0))
    finally:
        await client.close()


def test_sigkill_at_random_points_loses_no_fill_and_duplicates_no_order(workdir, sandbox_process):
    """20 次随机 SIGKILL + 重启之后：成交不丢、订单不重、持仓等于余额、对账无问题。"""
    config = engine_config(workdir, sandbox_process, [flip("flip_btc", "BTC/USDT", 2)],
                           sizing={"method": "fixed_fraction", "fraction": 0.05})
    config_path, journal = workdir / "config.yml", config.journal_path()
    rng = random.Random(SEED)
    # 被杀时已经在交易的次数（其余的杀点落在启动、恢复与对账途中，同样要能挺过去）
    trading_kills = 0
    for attempt in range(KILLS):
        log = workdir / f"engine-{attempt}.log"
        fills_before = count_fills(journal)
        process = start_process(["run", "--headless", "--config", str(config_path)], log, workdir)
        if attempt % STARTUP_KILL_EVERY == STARTUP_KILL_EVERY - 1:
            time.sleep(rng.uniform(*KILL_DURING_STARTUP_S))
        else:
            wait_for_line(log, r"control socket:", process)
            # 等到这次运行真的记下了新成交再开始计时：杀点落在交易之中，而不取决于机器快慢
            wait_until(lambda: count_fills(journal) > fills_before, process, log, "a new fill")
            time.sleep(rng.uniform(*KILL_AFTER_READY_S))
        ready = "control socket:" in log.read_text()
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
        assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
        trading_kills += ready
    problems = asyncio.run(final_run_problems(config_path, journal, workdir))
    assert problems == []

    orders, trades, btc = asyncio.run(exchange_state(sandbox_process))
    conn = sqlite3.connect(journal)
    try:
        journal_orders = dict(conn.execute("SELECT client_order_id, status FROM orders").fetchall())
        journal_fills = {r[0] for r in conn.execute("SELECT trade_id FROM fills").fetchall()}
        position = conn.execute("SELECT COALESCE(SUM(amount), 0) FROM positions").fetchone()[0]
        runs = conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    finally:
        conn.close()
    assert trading_kills >= KILLS - KILLS // STARTUP_KILL_EVERY and runs >= trading_kills + 1
    assert len(trades) >= KILLS - KILLS // STARTUP_KILL_EVERY  # 真的一直在交易（每次交易中的杀点之前至少一笔）
    # 没有丢失、也没有凭空多出的成交
    assert {str(t["id"]) for t in trades} == journal_fills
    # 没有重复订单：客户端订单号唯一、都在日志库里，成交的订单买卖交替
    client_ids = [o["clientOrderId"] for o in orders]
    assert len(client_ids) == len(set(client_ids))
    assert set(client_ids) <= set(journal_orders)
    sides = [o["side"] for o in sorted(orders, key=lambda o: o["timestamp"]) if o["filled"]]
    assert all(a != b for a, b in zip(sides, sides[1:])), sides
    # 日志库里交易所不知道的订单只能是“发出之前就死了”的那些，且已标为 rejected
    for client_id, status in journal_orders.items():
        if client_id not in client_ids:
            assert status == "rejected"
    # 持仓等于交易所余额
    assert position == pytest.approx(btc, abs=1e-9)
