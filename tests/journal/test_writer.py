"""日志库的唯一写者：并发写不丢不错、按组提交、成交去重、提交后才返回、背压、出错只影响出错的调用方、0600 文件。

全部用 tmp_path 里真实的 SQLite 文件；核对用另开的 sqlite3 连接读。不睡眠等待：写方法返回即已提交，
提交次数只取决于 asyncio 的调度顺序（排在一起的写落进同一个事务），与机器快慢无关。
"""

from __future__ import annotations

import asyncio
import sqlite3
import stat

import pytest

from tradeterm.journal.store import TradeJournal
from tradeterm.journal.writer import JournalClosed
from tradeterm.models import Fill, Order, OrderStatus, OrderType, Position, Side

# 并发写的任务数（对应 100 个实例）
TASKS = 100
# 每个任务循环的轮数（每轮写 K 线、权益、订单、成交各一次）
ROUNDS = 10
# 测试 K 线的起始开盘时间，UTC 毫秒
T0 = 1_700_000_000_000
# 1 分钟，毫秒
MINUTE = 60_000
# 测试用的交易所账户标识
ACCOUNT = "binance:spot:0123456789ab"


def count(path, sql: str, params: tuple = ()) -> int:
    """另开一个 sqlite3 连接数行（与写者无关的读者）。"""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchone()[0]
    finally:
        conn.close()


def filled_order(client_order_id: str, symbol: str, exchange_order_id: str) -> Order:
    """一张已成交的 1 个基础币的市价买单。"""
    return Order(symbol, Side.BUY, OrderType.MARKET, 1.0, client_order_id=client_order_id,
                 exchange_order_id=exchange_order_id, status=OrderStatus.FILLED, filled=1.0, average_price=100.0,
                 instance="bot", created_ts=1)


def fill_of(order: Order, trade_id: str, account: str = ACCOUNT) -> Fill:
    """订单 order 的一笔成交：100 USDT 成交 1 个，手续费 0.1 USDT。"""
    return Fill(order.client_order_id, order.symbol, Side.BUY, 100.0, 1.0, 0.1, "USDT", T0, trade_id,
                instance=order.instance, exchange_order_id=order.exchange_order_id or "", account=account)


@pytest.fixture
async def journal(tmp_path):
    """一个新日志库，已开始一次 paper 运行；测试结束时关闭。"""
    opened = await TradeJournal.open(tmp_path / "journal.db")
    await opened.start_run("paper", 10_000.0, {})
    yield opened
    await opened.close()


async def test_hundred_concurrent_writers_lose_nothing_and_share_commits(journal):
    """100 个任务各写 10 轮（K 线、权益、订单、成交）：没有错误，每行都在，提交次数远少于写次数（按组提交）。"""
    async def instance(n: int) -> None:
        """一个实例：每轮一根实时 K 线、一个权益采样、一张订单和它的成交。"""
        symbol = f"S{n:02d}/USDT"
        for k in range(ROUNDS):
            ts = T0 + k * MINUTE
            await journal.record_bars(symbol, "1m", [[ts, 100.0, 101.0, 99.0, 100.0, 5.0]], live=True)
            await journal.record_equity(f"bot{n}", ts, 1000.0 + k)
            order = filled_order(f"c{n}-{k}", symbol, f"o{n}-{k}")
            await journal.record_order(order)
            assert await journal.record_fill(fill_of(order, "1"), order, Position(symbol, 1.0, 100.0), f"bot{n}")

    before = journal.commits
    await asyncio.gather(*(instance(n) for n in range(TASKS)))
    path = journal.path
    assert count(path, "SELECT COUNT(*) FROM bars") == TASKS * ROUNDS
    assert count(path, "SELECT COUNT(*) FROM equity") == TASKS * ROUNDS
    assert count(path, "SELECT COUNT(*) FROM orders") == TASKS * ROUNDS
    # 每个订单的成交编号都是 "1"：订单不同就是不同的成交，一笔也不能被当成重复
    assert count(path, "SELECT COUNT(*) FROM fills") == TASKS * ROUNDS
    assert count(path, "SELECT COUNT(*) FROM positions") == TASKS
    assert count(path, "SELECT last_bar_ts FROM runs") == T0 + (ROUNDS - 1) * MINUTE
    writes = 4 * TASKS * ROUNDS
    commits = journal.commits - before
    assert commits <= writes // 20, f"{commits} commits for {writes} writes"


async def test_record_fill_dedupes_concurrent_arrivals_of_one_fill(journal):
    """同一笔成交（同账户、同订单、同编号）从 50 个任务同时到达：只记一次，其余返回 False。"""
    order = filled_order("c1", "BTC/USDT", "o1")
    await journal.record_order(order)
    fill = fill_of(order, "7")
    position = Position("BTC/USDT", 1.0, 100.0)
    results = await asyncio.gather(*(journal.record_fill(fill, order, position, "bot") for _ in range(50)))
    assert sorted(results) == [False] * 49 + [True]
    assert count(journal.path, "SELECT COUNT(*) FROM fills") == 1
    # 同一编号在另一个账户上是另一笔成交
    assert await journal.record_fill(fill_of(order, "7", account="binance:spot:ffffffffffff"), order, position, "bot")
    assert await journal.fill_keys() == {(ACCOUNT, "o1", "7"), ("binance:spot:ffffffffffff", "o1", "7")}


async def test_record_order_is_committed_when_the_await_returns(journal):
    """record_order 返回时订单已提交：另一个 sqlite3 连接马上读得到（别的任务同时在大量写 K 线）。"""
    stop = asyncio.Event()

    async def noise(n: int) -> None:
        """不停地写 K 线，让 record_order 落进一个多操作的事务。"""
        k = 0
        while not stop.is_set():
            await journal.record_bars(f"N{n}/USDT", "1m", [[T0 + k * MINUTE, 1.0, 1.0, 1.0, 1.0, 1.0]])
            k += 1

    writers = [asyncio.create_task(noise(n)) for n in range(20)]
    try:
        for k in range(20):
            order = filled_order(f"seen{k}", "BTC/USDT", f"x{k}")
            await journal.record_order(order)
            assert count(journal.path, "SELECT COUNT(*) FROM orders WHERE client_order_id = ?", (f"seen{k}",)) == 1
            assert f"seen{k}" in {o.client_order_id for o in await journal.orders()}, "reads see committed writes"
    finally:
        stop.set()
        await asyncio.gather(*writers)


async def test_a_tiny_queue_makes_callers_wait_instead_of_failing(tmp_path):
    """队列只能放 2 个操作、60 个任务同时写：调用方排队等待（背压），没有错误，每行都在。"""
    journal = await TradeJournal.open(tmp_path / "journal.db", queue_size=2)
    try:
        await journal.start_run("paper", 1.0, {})
        await asyncio.gather(*(journal.record_equity("bot", T0 + n, float(n)) for n in range(60)))
        assert journal.writer.waits > 0
        assert count(journal.path, "SELECT COUNT(*) FROM equity") == 60
    finally:
        await journal.close()


async def test_a_failing_write_fails_only_its_caller_and_the_writer_goes_on(journal):
    """同一组里一个操作出错：只有它的调用方收到异常，同组的其他写照常提交；出错把整个事务毁掉时其余的重做。"""
    def bad_statement(conn: sqlite3.Connection) -> None:
        """一条会失败的语句（没有这张表）。"""
        conn.execute("INSERT INTO no_such_table VALUES (1)")

    def kills_transaction(conn: sqlite3.Connection) -> None:
        """模拟让 SQLite 回滚整个事务的错误（如磁盘写满）：回滚后抛出。"""
        conn.execute("ROLLBACK")
        raise sqlite3.OperationalError("database or disk is full")

    for bad in (bad_statement, kills_transaction):
        good = [journal.record_equity(bad.__name__, T0 + n, float(n)) for n in range(10)]
        outcomes = await asyncio.gather(journal.writer.submit(bad), *good, return_exceptions=True)
        assert isinstance(outcomes[0], sqlite3.OperationalError)
        assert outcomes[1:] == [None] * 10
        assert count(journal.path, "SELECT COUNT(*) FROM equity WHERE instance = ?", (bad.__name__,)) == 10
    await journal.record_event(T0, "log", {"message": "still writing"})
    assert count(journal.path, "SELECT COUNT(*) FROM events") == 1


async def test_close_writes_everything_queued_then_refuses_writes(tmp_path):
    """不等提交的事件（commit=False）在 close() 时也写完；关闭后再写是程序错误。"""
    path = tmp_path / "journal.db"
    journal = await TradeJournal.open(path)
    await journal.start_run("paper", 1.0, {})
    for n in range(100):
        await journal.record_event(T0 + n, "log", {"n": n}, commit=False)
    await journal.close()
    assert count(path, "SELECT COUNT(*) FROM events") == 100
    with pytest.raises(JournalClosed):
        await journal.record_event(T0, "log", {})


def mode(path) -> int:
    """文件的权限位。"""
    return stat.S_IMODE(path.stat().st_mode)


async def test_journal_db_wal_and_shm_are_private(tmp_path):
    """新建的库、-wal、-shm 都是 0600；已有的 0644 库（及伴生文件）打开时改成 0600。"""
    path = tmp_path / "journal.db"
    journal = await TradeJournal.open(path)
    try:
        await journal.start_run("paper", 1.0, {})
        sidecars = [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")]
        assert all(p.exists() for p in sidecars), "WAL mode keeps -wal and -shm while the journal is open"
        assert [mode(p) for p in (path, *sidecars)] == [0o600] * 3
    finally:
        await journal.close()
    old = tmp_path / "old.db"
    conn = sqlite3.connect(old)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (x INTEGER)")
    old.chmod(0o644)
    wal = old.with_name(old.name + "-wal")
    wal.chmod(0o644)
    journal = await TradeJournal.open(old)
    try:
        assert mode(old) == 0o600 and mode(wal) == 0o600
    finally:
        await journal.close()
        conn.close()
