"""崩溃恢复：引擎进程（真实的 `tradeterm run --headless`）在一个个选定的危险时刻被 SIGKILL、每次重启，最后核对日志库与交易所。

沙盒交易所在测试进程里运行，整个测试只有这一个（账户与订单都在它那里），它的故障注入钩子（tests/engine/kill_points.py）
在某个请求到达的那一刻杀掉引擎。杀点按条件触发、与机器快慢无关，每个覆盖一个不同的危险时刻（KILL_POINTS）：
启动途中（加载市场、对账余额、预热）；买单与卖单各两次（已写进日志库但没到交易所；交易所成交了但回报没回来）；
重启对账途中（按客户端订单号查单时；查到的订单已改成 filled、成交还没记账时）；成交刚提交进日志库的那一刻。每个杀点之后先核对“引擎死时的日志库确实停在那个时刻”，最后一次正常启动之后要求：
- 没有丢失的成交：交易所上本账户的每笔成交都在日志库里，日志库的每笔成交也都在交易所上；
- 没有重复订单：交易所上的客户端订单号互不相同且都在日志库里；成交的订单买卖严格交替（重复的开仓会出现连续两笔买）；
- 没到交易所的订单在日志库里是 rejected；回报丢了的订单是 filled、成交记了恰好一次；
- 日志库的持仓等于交易所余额；最后一次启动的对账没有无法解释的问题。
引擎由预先导入好的母进程 fork 出来（tests/engine/launcher.py），每次启动不再付 2~3 秒的导入。
Flip(period=2) 每根 K 线都下单（沙盒 600 倍速，每 0.1 秒一根），交易中的杀点很快就会等到。
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest

from tests.engine.conftest import engine_config, flip
from tests.engine.kill_points import KillPoint, KillPoints
from tests.engine.processes import (GUARD_S, POLL_S, assert_no_traceback, count_fills, shutdown,  # noqa: F401
                                    start_process, wait_for_line, wait_until)
from tradeterm.engine.control import SocketClient, control_paths, read_token_file
from tradeterm.sandbox.server import SandboxExchange

# （start_process、wait_until 从这里再导出：tests/sandbox/test_durable.py 与 test_default_restart.py 从本模块导入）

# 下单请求
ORDER = ("POST", "/api/v3/order")
# 按客户端订单号查单（重启对账的第 1 步、轮询）
LOOKUP = ("GET", "/api/v3/order")
# 按顺序执行的杀点：每个覆盖一个不同的危险时刻
KILL_POINTS = (
    KillPoint("loading_markets", "startup: the first request (loading markets)", path="/api/v3/exchangeInfo"),
    KillPoint("reconciling_balances", "startup: reconciling balances", path="/api/v3/account"),
    KillPoint("warming_up", "startup: fetching the warm-up history", path="/api/v3/klines"),
    KillPoint("buy_not_sent", "a buy is journaled but never reaches the exchange", *ORDER, side="buy", drop=True),
    KillPoint("buy_reply_lost", "the exchange fills a buy, the engine never gets the reply", stage="placing",
              side="buy"),
    KillPoint("recovery_lookup", "recovery: looking the lost order up by client order id", *LOOKUP),
    KillPoint("sell_not_sent", "a sell is journaled but never reaches the exchange", *ORDER, side="sell", drop=True),
    KillPoint("sell_reply_lost", "the exchange fills a sell, the engine never gets the reply", stage="placing",
              side="sell"),
    # 查到的订单已按交易所改成 filled 并提交，它的成交还没记账（查单的回答里没有成交明细，要再取 myTrades）
    KillPoint("recovery_catch_up", "recovery: the found order is journaled as filled, its fill not booked yet",
              path="/api/v3/myTrades", after=LOOKUP),
    KillPoint("fill_journaled", "a fill was just committed to the journal"),
)


@pytest.fixture
def workdir():
    """短路径的工作目录（Unix 套接字路径有长度上限）。"""
    path = Path(tempfile.mkdtemp(prefix="tt-kill-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def kill_sandbox():
    """测试进程里的沙盒交易所（快速回放，只有 BTC/USDT），故障注入换成带杀点的 KillPoints。"""
    async with SandboxExchange(port=0, speed=600, symbols=("BTC/USDT",)) as exchange:
        exchange.faults = KillPoints()
        yield exchange


def journal_rows(journal: Path, sql: str, *args) -> list[tuple]:
    """在日志库上执行一条查询。"""
    conn = sqlite3.connect(journal)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def unbooked_filled_orders(journal: Path) -> list[str]:
    """日志库里是 filled、却一笔成交也没记账的订单。"""
    return [r[0] for r in journal_rows(journal, "SELECT client_order_id FROM orders o WHERE status = 'filled' AND "
                                                "NOT EXISTS (SELECT 1 FROM fills f WHERE f.client_order_id = "
                                                "o.client_order_id)")]


async def run_to_kill_point(launcher, faults: KillPoints, point: KillPoint, config_path: Path, journal: Path,
                            log: Path) -> None:
    """启动引擎，等它在 point 上被杀死（请求触发的由沙盒的钩子杀；fill_journaled 由这里在新成交提交后立刻杀）。"""
    process = launcher.start(["run", "--headless", "--config", str(config_path)], log, config_path.parent)
    faults.arm(point, process, journal)  # 与启动之间没有 await：引擎的第一个请求一定在这之后才被处理
    if not point.path and point.stage == "request":
        # 交易中的成交：等控制套接字（启动与对账已完成）之后的第一笔新成交，提交之后立刻杀
        await asyncio.to_thread(wait_for_line, log, r"control socket:", process)
        before = count_fills(journal)
        await asyncio.to_thread(wait_until, lambda: count_fills(journal) > before, process, log, "a new fill")
        process.kill()
        point.fired = True
    loop = asyncio.get_running_loop()
    deadline = loop.time() + GUARD_S
    while process.poll() is None:
        assert loop.time() < deadline, f"kill point {point.name} ({point.moment}) never reached:\n" \
                                       f"{log.read_text()[-3000:]}"
        await asyncio.sleep(POLL_S)
    assert point.fired, f"the engine exited with {process.returncode} before {point.name}:\n{log.read_text()[-3000:]}"
    assert_no_traceback(log)


def check_moment(point: KillPoint, journal: Path) -> None:
    """引擎死时日志库确实停在杀点的时刻上。"""
    if point.name.endswith(("_not_sent", "_reply_lost")):
        assert point.order is not None and point.order[1] == point.side, point
        assert journal_rows(journal, "SELECT status FROM orders WHERE client_order_id = ?", point.order[0]) == \
            [("new",)], point
    elif point.name == "recovery_lookup":
        assert journal_rows(journal, "SELECT COUNT(*) FROM orders WHERE status = 'new'") == [(1,)]
    elif point.name == "recovery_catch_up":
        assert unbooked_filled_orders(journal), f"{point.name}: no filled order is waiting for its fill"


async def final_run_problems(launcher, config_path: Path, journal: Path) -> list[str]:
    """最后一次正常启动：读对账问题、暂停实例、等挂单结束（条件），然后 shutdown。返回对账问题。"""
    log = config_path.parent / "final.log"
    process = launcher.start(["run", "--headless", "--config", str(config_path)], log, config_path.parent)
    await asyncio.to_thread(wait_for_line, log, r"control socket:", process)
    socket_path, token_path = control_paths(journal)
    client = await SocketClient.connect(socket_path, read_token_file(token_path))
    try:
        problems = (await client.snapshot())["problems"]
        await client.command("pause", instance="flip_btc")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + GUARD_S
        while (await client.snapshot())["orders"]:
            assert loop.time() < deadline, "orders still open after pausing"
            await asyncio.sleep(POLL_S)
    finally:
        await client.close()
    await shutdown(journal)
    assert await asyncio.to_thread(process.wait, GUARD_S) == 0, log.read_text()[-3000:]
    assert_no_traceback(log)
    return problems


async def exchange_state(sandbox: SandboxExchange) -> tuple[list[dict], list[dict], float]:
    """交易所一侧：本账户在 BTC/USDT 上的全部订单、全部成交与 BTC 总额。"""
    client = sandbox.client()
    try:
        await client.load_markets()
        orders = await client.fetch_orders("BTC/USDT", limit=1000)
        trades = await client.fetch_my_trades("BTC/USDT", limit=1000)
        balance = await client.fetch_balance()
        return orders, trades, float(balance["total"].get("BTC", 0.0))
    finally:
        await client.close()


async def test_sigkill_at_each_dangerous_moment_loses_no_fill_and_duplicates_no_order(workdir, kill_sandbox,
                                                                                     launcher):
    """在每个危险时刻 SIGKILL 一次并重启：引擎每次都停在那个时刻；最后成交不丢、订单不重、持仓等于余额、对账无问题。"""
    config = engine_config(workdir, kill_sandbox.url, [flip("flip_btc", "BTC/USDT", 2)],
                           sizing={"method": "fixed_fraction", "fraction": 0.05})
    config_path, journal = workdir / "config.yml", config.journal_path()
    faults: KillPoints = kill_sandbox.faults
    points = [KillPoint(**{**vars(p), "fired": False, "order": None}) for p in KILL_POINTS]  # 每次运行一份新的
    for attempt, point in enumerate(points):
        await run_to_kill_point(launcher, faults, point, config_path, journal, workdir / f"engine-{attempt}.log")
        check_moment(point, journal)
    faults.point = faults.victim = None
    problems = await final_run_problems(launcher, config_path, journal)
    assert problems == []

    orders, trades, btc = await exchange_state(kill_sandbox)
    journal_orders = dict(journal_rows(journal, "SELECT client_order_id, status FROM orders"))
    journal_fills = {r[0] for r in journal_rows(journal, "SELECT trade_id FROM fills")}
    position = journal_rows(journal, "SELECT COALESCE(SUM(amount), 0) FROM positions")[0][0]
    assert len(trades) >= 3  # 真的在交易：两个回报丢失的订单（一买一卖），加上 fill_journaled 的那笔
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
            assert status == "rejected", (client_id, status)
    by_point = {p.name: p.order[0] for p in points if p.order is not None and p.side is not None}
    for side in ("buy", "sell"):
        # 没到交易所的那张：交易所不知道它，日志库里是 rejected（重启没有把它再发一遍）
        assert by_point[f"{side}_not_sent"] not in client_ids
        assert journal_orders[by_point[f"{side}_not_sent"]] == "rejected"
        # 回报丢了的那张：交易所上恰好一张，日志库里是 filled，成交记了
        assert client_ids.count(by_point[f"{side}_reply_lost"]) == 1
        assert journal_orders[by_point[f"{side}_reply_lost"]] == "filled"
    assert unbooked_filled_orders(journal) == []
    # 持仓等于交易所余额
    assert position == pytest.approx(btc, abs=1e-9)
