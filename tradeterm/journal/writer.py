"""日志库的唯一写者：全部写操作排进一个有界队列，由一个写任务（独占写连接）按组提交（group commit）。

为什么要唯一写者：引擎的几十个任务（每个交易对/周期一个行情任务、回报流、轮询、命令）同时写库。共用一个
aiosqlite 连接时，不同任务的 execute/executemany/commit 会交错（一个任务的 commit 提交了另一个任务写到一半的
事务，并发的 executemany 还会抛 `InterfaceError: bad parameter or other API misuse` 丢掉 K 线），而且每根 K 线
收盘要付好几次提交。这里的做法：
- 调用方把“要执行的 SQL”（一个在写线程里运行的函数，只执行、不提交）交给 `submit`，等它所在的事务提交后才返回
  （引擎依赖“订单在发出之前已经记下”）；
- 写任务取出队列里已有的全部操作（最多 `max_group` 个）写成一个事务：正在写一个事务时新到的操作排进下一个事务，
  100 个实例同时收盘时的 K 线、权益、成交、持仓与订单落在一两个事务里，而不是几十个；
- 每个操作包在自己的 SAVEPOINT 里：一条语句出错只回滚并报告这一个操作，同组的其他操作照常提交；错误严重到
  SQLite 回滚了整个事务时，去掉出错的操作重做其余的。写任务本身不会因为某个操作出错而退出；
- 队列有界：满了时调用方等待（背压），而不是报错；`close()` 先写完队列里的操作再关连接。
写连接是一个普通的 sqlite3 连接，只在一个专用线程里使用：一组操作只需一次线程往返（aiosqlite 每条语句一次）。
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# 队列默认容量，操作个数（满了时调用方等待）
DEFAULT_QUEUE_SIZE = 10_000
# 一个事务最多包含的操作个数（太大的事务让后到的调用方等得更久）
DEFAULT_MAX_GROUP = 2_000
# 写连接等待别的进程（如控制台里的回测）释放写锁的最长时间，毫秒
BUSY_TIMEOUT_MS = 5_000

# 在写线程里执行的一次写操作：拿到写连接，执行 SQL（不提交），返回值交给调用方
WriteFn = Callable[[sqlite3.Connection], Any]


class JournalClosed(RuntimeError):
    """日志库已关闭之后又提交了写操作（程序错误）。"""


@dataclass(slots=True)
class _Op:
    """队列里的一个写操作。"""

    run: WriteFn                         # 在写线程里执行的 SQL
    future: asyncio.Future | None        # 调用方等待的结果；None 表示调用方不等（出错只记日志）


@dataclass(frozen=True, slots=True)
class _Outcome:
    """一个写操作的结果。"""

    ok: bool       # 是否已随事务提交
    value: Any     # ok 时为写函数的返回值，否则为异常


class JournalWriter:
    """一个日志库文件的唯一写者。用 `await JournalWriter.start(path)` 创建。"""

    def __init__(self, path: Path, queue_size: int, max_group: int):
        """由 start() 调用。"""
        # 日志库文件路径
        self.path = path
        # 一个事务最多包含的操作个数
        self.max_group = max_group
        # 已提交的事务数（每组一次；测试与基准用它看合并的效果）
        self.commits = 0
        # 已提交的写操作数
        self.writes = 0
        # 因队列已满而等待过的 submit 次数（背压发生的次数）
        self.waits = 0
        # 待写的操作；None 是 close() 放进去的结束标记
        self._queue: asyncio.Queue[_Op | None] = asyncio.Queue(maxsize=queue_size)
        # 写连接所在的专用线程（只有一个线程，写连接只在它里面使用）
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal-writer")
        # 写连接（在写线程里创建）
        self._conn: sqlite3.Connection | None = None
        # 写任务
        self._task: asyncio.Task | None = None
        # close() 已开始：之后的 submit 报错
        self._closing = False

    @classmethod
    async def start(cls, path: str | Path, *, queue_size: int = DEFAULT_QUEUE_SIZE,
                    max_group: int = DEFAULT_MAX_GROUP) -> "JournalWriter":
        """打开写连接并启动写任务。库文件应已建好并迁移（schema.connect）。"""
        writer = cls(Path(path), queue_size, max_group)
        await asyncio.get_running_loop().run_in_executor(writer._thread, writer._open)
        writer._task = asyncio.create_task(writer._run(), name=f"journal writer {path}")
        return writer

    def _open(self) -> None:
        """（写线程）打开写连接：自己管理事务（isolation_level=None），WAL，synchronous=NORMAL。"""
        self._conn = sqlite3.connect(self.path, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")

    async def submit(self, run: WriteFn, *, wait: bool = True) -> Any:
        """排入一个写操作；wait 时等它所在的事务提交后返回它的结果（出错时抛出它的异常）。

        队列满时先等到有空位（背压）。wait=False 时排入即返回，出错只记日志。"""
        if self._closing:
            raise JournalClosed(f"journal {self.path} is closed; no more writes are accepted")
        future = asyncio.get_running_loop().create_future() if wait else None
        if self._queue.full():
            self.waits += 1
        await self._queue.put(_Op(run, future))
        return await future if future is not None else None

    async def close(self) -> None:
        """写完队列里已有的操作，然后关闭写连接（重复调用无害）。"""
        if self._closing:
            return
        self._closing = True
        await self._queue.put(None)
        if self._task is not None:
            await self._task
        await asyncio.get_running_loop().run_in_executor(self._thread, self._close_connection)
        self._thread.shutdown(wait=True)

    def _close_connection(self) -> None:
        """（写线程）关闭写连接。"""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # ---- 写任务 ------------------------------------------------------------------------------------

    async def _run(self) -> None:
        """写任务：取一组操作 -> 在写线程里写成一个事务 -> 把结果交给各调用方；直到取到结束标记。"""
        loop = asyncio.get_running_loop()
        stopping = False
        # 结束标记之后也可能还有操作（close() 之前就在等空位的调用方）：全部写完才退出
        while not (stopping and self._queue.empty()):
            first = await self._queue.get()
            if first is None:
                stopping = True
                continue
            group = [first]
            # 只取已经在队列里的：不为了凑大组而等待，正在写这一组时到的操作自然进入下一组
            while len(group) < self.max_group and not self._queue.empty():
                op = self._queue.get_nowait()
                if op is None:
                    stopping = True
                else:
                    group.append(op)
            try:
                outcomes, committed = await loop.run_in_executor(self._thread, self._write_group,
                                                                 [op.run for op in group])
            except Exception as exc:  # 写线程之外的意外（不应发生）：这一组失败，写任务继续
                log.exception("journal writer group failed path=%s ops=%s", self.path, len(group))
                outcomes, committed = [_Outcome(False, exc)] * len(group), False
            self.commits += int(committed)
            self.writes += sum(o.ok for o in outcomes) if committed else 0
            for op, outcome in zip(group, outcomes):
                self._settle(op, outcome)

    def _settle(self, op: _Op, outcome: _Outcome) -> None:
        """把一个操作的结果交给它的调用方（调用方已被取消时不再交；不等结果的操作出错时记日志）。"""
        if op.future is None:
            if not outcome.ok:
                log.error("journal write failed path=%s error=%r", self.path, outcome.value)
            return
        if op.future.done():
            return
        if outcome.ok:
            op.future.set_result(outcome.value)
        else:
            op.future.set_exception(outcome.value)

    def _write_group(self, runs: list[WriteFn]) -> tuple[list[_Outcome], bool]:
        """（写线程）把一组操作写成一个事务；返回 (每个操作的结果, 是否提交了事务)。"""
        conn = self._conn
        assert conn is not None, "the writer connection is open while the writer task runs"
        failed: dict[int, Exception] = {}
        while True:
            try:
                # IMMEDIATE：一开始就拿写锁（拿不到时按 busy_timeout 等），避免事务中途升级写锁时的 SQLITE_BUSY
                conn.execute("BEGIN IMMEDIATE")
                results, lost = self._run_ops(conn, runs, failed)
                if lost:
                    continue  # 整个事务被 SQLite 回滚了：去掉出错的操作，其余的重做一遍
                if len(failed) == len(runs):
                    conn.execute("ROLLBACK")
                    return [_Outcome(False, failed[i]) for i in range(len(runs))], False
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                # 拿不到写锁或提交失败：这一组里还没失败的操作都以这个错误失败
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                return [_Outcome(False, failed.get(i, exc)) for i in range(len(runs))], False
            return [_Outcome(False, failed[i]) if i in failed else _Outcome(True, results[i])
                    for i in range(len(runs))], True

    @staticmethod
    def _run_ops(conn: sqlite3.Connection, runs: list[WriteFn], failed: dict[int, Exception]
                 ) -> tuple[dict[int, Any], bool]:
        """（写线程）在已开始的事务里逐个执行操作，每个一个 SAVEPOINT；出错的记进 failed。

        返回 (成功操作的结果, 事务是否已被 SQLite 整个回滚)。"""
        results: dict[int, Any] = {}
        for index, run in enumerate(runs):
            if index in failed:
                continue
            conn.execute("SAVEPOINT op")
            try:
                results[index] = run(conn)
            except Exception as exc:  # 这个操作的错误只属于它的调用方
                failed[index] = exc
                if not conn.in_transaction:
                    return results, True
                conn.execute("ROLLBACK TO op")
            conn.execute("RELEASE op")
        return results, False
