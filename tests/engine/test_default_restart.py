"""默认配置的崩溃恢复：仓库自己的 config.yml（进程内沙盒、4 个内置策略、300 倍速），持仓开着时随机 SIGKILL 20 次。

这正是新用户走的路径：`tradeterm run --headless` 在同一个目录里一次次被杀、重启。进程内沙盒与引擎一起死掉，
它的账户、订单、成交、编号计数器与模拟时钟在自己的状态文件（tradeterm.sandbox.db）里，重启后接着走。要求：
- 每次重启之后：全部实例都在 running，对账没有问题（problems 为空）；
- 最后：日志库的持仓（按基础币种合计）等于沙盒余额减去基线，沙盒上的每笔成交都在日志库里（按客户端订单号 + 成交编号），
  日志库里没有沙盒不知道的成交，沙盒上的客户端订单号互不重复。
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import sqlite3
import tempfile
import time
from pathlib import Path

import pytest

from tests.engine.test_kill_restart import shutdown, start_process, wait_for_line, wait_until
from tradeterm.engine.control import SocketClient, control_paths, read_token_file

# 仓库根目录（默认 config.yml 在这里）
REPO = Path(__file__).resolve().parents[2]
# 杀掉重启的次数
KILLS = 20
# 每隔几次改为在启动途中就杀掉（导入、加载市场、恢复、对账、预热），其余在持仓开着时杀
STARTUP_KILL_EVERY = 5
# 启动途中被杀的随机时刻范围，秒（从进程启动算起）
KILL_DURING_STARTUP_S = (0.3, 2.5)
# 看到持仓之后到被杀的随机等待范围，秒
KILL_AFTER_POSITION_S = (0.0, 1.0)
# 随机杀点的种子（失败可复现）
SEED = 20261201


@pytest.fixture
def workdir():
    """短路径的工作目录（控制套接字在日志库旁，Unix 套接字路径有长度上限），放一份仓库的默认配置。"""
    path = Path(tempfile.mkdtemp(prefix="tt-def-", dir="/tmp"))
    shutil.copy(REPO / "config.yml", path / "config.yml")
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def _status(journal: Path) -> dict:
    """经控制套接字取一次快照。"""
    socket_path, token_path = control_paths(journal)
    client = await SocketClient.connect(socket_path, read_token_file(token_path))
    try:
        return await client.snapshot()
    finally:
        await client.close()


def check_restart(journal: Path, process, log: Path) -> dict:
    """重启后的检查：全部实例 running、没有对账问题。返回快照。"""
    snapshot = asyncio.run(_status(journal))
    statuses = {row["name"]: row["status"] for row in snapshot["instances"]}
    assert set(statuses.values()) == {"running"}, (statuses, log.read_text()[-3000:])
    assert snapshot["problems"] == [], (snapshot["problems"], log.read_text()[-3000:])
    return snapshot


def wait_for_position(journal: Path, process, log: Path) -> None:
    """等到引擎快照里有非零持仓（默认策略几秒内就会开仓）。"""
    holder: dict = {}

    def has_position() -> bool:
        """快照里是否有持仓。"""
        holder["snapshot"] = asyncio.run(_status(journal))
        if holder["snapshot"]["positions"]:
            return True
        time.sleep(0.2)  # 每次查询都要连一次套接字：别问得太勤
        return False

    wait_until(has_position, process, log, "an open position", timeout=90.0)


async def sandbox_state(state: Path) -> tuple[list[dict], list[dict], dict[str, float]]:
    """用同一个状态文件起一个沙盒，经原版 ccxt 读出账户的全部订单、全部成交与余额。"""
    from tradeterm.sandbox.server import SandboxExchange

    sandbox = SandboxExchange(port=0, symbols=("BTC/USDT", "ETH/USDT"), state_path=state)
    await sandbox.start()
    client = sandbox.client()
    try:
        await client.load_markets()
        orders, trades = [], []
        for symbol in ("BTC/USDT", "ETH/USDT"):
            orders += await client.fetch_orders(symbol, limit=1000)
            trades += await client.fetch_my_trades(symbol, limit=1000)
        balance = await client.fetch_balance()
        return orders, trades, {k: float(v) for k, v in balance["total"].items() if v}
    finally:
        await client.close()
        await sandbox.stop()


def test_default_config_survives_20_sigkills_with_positions_open(workdir):
    """默认配置 + 进程内沙盒：20 次随机 SIGKILL（多数在持仓开着时）之后，每次重启都干净，成交一笔不丢、订单号不重复。"""
    config, journal, state = workdir / "config.yml", workdir / "tradeterm.db", workdir / "tradeterm.sandbox.db"
    rng = random.Random(SEED)
    position_kills = 0
    for attempt in range(KILLS):
        log = workdir / f"engine-{attempt}.log"
        process = start_process(["run", "--headless", "--config", str(config)], log, workdir)
        if attempt % STARTUP_KILL_EVERY == STARTUP_KILL_EVERY - 1:
            time.sleep(rng.uniform(*KILL_DURING_STARTUP_S))
        else:
            wait_for_line(log, r"control socket:", process, timeout=60.0)
            check_restart(journal, process, log)
            wait_for_position(journal, process, log)
            time.sleep(rng.uniform(*KILL_AFTER_POSITION_S))
            position_kills += 1
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
        assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
    assert position_kills == KILLS - KILLS // STARTUP_KILL_EVERY

    # 最后一次正常启动：干净，然后优雅退出（持仓保持不动）
    log = workdir / "final.log"
    process = start_process(["run", "--headless", "--config", str(config)], log, workdir)
    wait_for_line(log, r"control socket:", process, timeout=60.0)
    check_restart(journal, process, log)
    asyncio.run(shutdown(journal))
    assert process.wait(30) == 0, log.read_text()[-3000:]

    orders, trades, totals = asyncio.run(sandbox_state(state))
    conn = sqlite3.connect(journal)
    try:
        journal_fills = set(conn.execute("SELECT client_order_id, trade_id FROM fills").fetchall())
        held = dict(conn.execute("SELECT symbol, SUM(amount) FROM positions GROUP BY symbol").fetchall())
        baseline = dict(conn.execute("SELECT asset, total FROM balances_baseline").fetchall())
    finally:
        conn.close()
    assert len(orders) < 1000 and len(trades) < 1000  # 一页读得完：下面的比较是完整的
    assert trades, "the default strategies traded"
    client_ids = {str(o["id"]): o["clientOrderId"] for o in orders}
    assert len(set(client_ids.values())) == len(orders)  # 沙盒上没有重复的客户端订单号
    exchange_fills = {(client_ids[str(t["order"])], str(t["id"])) for t in trades}
    assert exchange_fills == journal_fills  # 不丢、不多
    for base in ("BTC", "ETH"):
        position = held.get(f"{base}/USDT", 0.0)
        assert totals.get(base, 0.0) - baseline.get(base, 0.0) == pytest.approx(position, abs=1e-9), base
