"""默认配置的崩溃恢复：仓库自己的 config.yml（进程内沙盒、4 个内置策略、300 倍速），在选定的危险时刻 SIGKILL。

这正是新用户走的路径：`tradeterm run --headless` 在同一个目录里一次次被杀、重启。进程内沙盒与引擎一起死掉，
它的账户、订单、成交、编号计数器与模拟时钟在自己的状态文件（tradeterm.sandbox.db）里，重启后接着走。
杀点按条件触发（从外面看日志库与控制套接字），与机器快慢无关，每个覆盖一个不同的时刻（KILL_POINTS）：
第一张订单刚写进日志库（正在发往进程内沙盒）、重启后的恢复途中（运行已记下，正在恢复持仓、对账、预热）、
一笔成交刚提交、持仓开着时、持仓开着时又一张订单刚写进日志库。要求：
- 每次重启到就绪之后：全部实例都在 running，对账没有问题（problems 为空）；
- 最后：日志库的持仓（按基础币种合计）等于沙盒余额减去基线，沙盒上的每笔成交都在日志库里（按客户端订单号 + 成交编号），
  日志库里没有沙盒不知道的成交，沙盒上的客户端订单号互不重复。
引擎由预先导入好的母进程 fork 出来（tests/engine/launcher.py）。
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest

from tests.engine.processes import GUARD_S, assert_no_traceback, shutdown, wait_for_line, wait_until
from tradeterm.engine.control import SocketClient, control_paths, read_token_file

# 仓库根目录（默认 config.yml 在这里）
REPO = Path(__file__).resolve().parents[2]
# 按顺序执行的杀点：(名字, 触发条件：这张日志库表多了一行；None 表示只等持仓, 是否就绪之后才开始等, 是否先等到持仓)
KILL_POINTS = (
    ("first_order_in_flight", "orders", True, False),    # 第一张订单刚写进日志库：正在发往沙盒，回报还没处理
    ("recovering", "runs", False, False),                # 本次运行刚记下：正在恢复持仓、按客户端订单号对账、预热
    ("fill_journaled", "fills", True, False),            # 一笔成交刚提交
    ("position_open", None, True, True),                 # 持仓开着、引擎照常运行
    ("order_with_position_open", "orders", True, True),  # 持仓开着时又一张订单刚写进日志库（通常是平仓单）
    ("recovering_again", "runs", False, False),          # 上一张订单的恢复途中再被杀
)
# 问快照的间隔，秒（每次都要连一次控制套接字：别问得太勤）
SNAPSHOT_POLL_S = 0.2


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


def count_rows(journal: Path, table: str) -> int:
    """日志库某张表的行数（库或表还不存在时为 0）。"""
    if not journal.exists():
        return 0
    conn = sqlite3.connect(journal)
    try:
        return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    except sqlite3.OperationalError:  # 表还没建好（引擎正在迁移）
        return 0
    finally:
        conn.close()


def check_restart(journal: Path, log: Path) -> dict:
    """重启后的检查：全部实例 running、没有对账问题。返回快照。"""
    snapshot = asyncio.run(_status(journal))
    statuses = {row["name"]: row["status"] for row in snapshot["instances"]}
    assert set(statuses.values()) == {"running"}, (statuses, log.read_text()[-3000:])
    assert snapshot["problems"] == [], (snapshot["problems"], log.read_text()[-3000:])
    return snapshot


def has_position(journal: Path) -> bool:
    """引擎快照里是否有持仓。"""
    return bool(asyncio.run(_status(journal))["positions"])


def run_to_kill_point(launcher, point: tuple[str, str | None, bool, bool], config: Path, journal: Path,
                      log: Path) -> None:
    """启动引擎，等 point 的条件成立后立刻 SIGKILL（就绪之后的杀点先做重启检查）。"""
    name, table, after_ready, with_position = point
    process = launcher.start(["run", "--headless", "--config", str(config)], log, config.parent)
    if after_ready:
        wait_for_line(log, r"control socket:", process)
        check_restart(journal, log)
    if with_position:
        wait_until(lambda: has_position(journal), process, log, f"{name}: an open position", poll_s=SNAPSHOT_POLL_S)
    if table is not None:
        before = count_rows(journal, table)
        wait_until(lambda: count_rows(journal, table) > before, process, log, f"{name}: a new row in {table}")
    process.kill()
    assert process.wait(GUARD_S) is not None
    assert_no_traceback(log)


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


def test_default_config_survives_sigkills_at_each_dangerous_moment(workdir, launcher):
    """默认配置 + 进程内沙盒：在每个选定时刻 SIGKILL 之后，每次重启都干净，成交一笔不丢、订单号不重复。"""
    config, journal, state = workdir / "config.yml", workdir / "tradeterm.db", workdir / "tradeterm.sandbox.db"
    for attempt, point in enumerate(KILL_POINTS):
        run_to_kill_point(launcher, point, config, journal, workdir / f"engine-{attempt}.log")
    assert count_rows(journal, "runs") == len(KILL_POINTS)  # 每次启动都走到了“记下运行”，恢复途中的杀点真的在恢复途中

    # 最后一次正常启动：干净，然后优雅退出（持仓保持不动）
    log = workdir / "final.log"
    process = launcher.start(["run", "--headless", "--config", str(config)], log, workdir)
    wait_for_line(log, r"control socket:", process)
    check_restart(journal, log)
    asyncio.run(shutdown(journal))
    assert process.wait(GUARD_S) == 0, log.read_text()[-3000:]
    assert_no_traceback(log)

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
