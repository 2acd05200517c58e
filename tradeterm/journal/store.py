"""交易日志库：模拟盘/实盘引擎的订单、成交、持仓、实例状态、权益与事件。

写与读分开：全部写操作经唯一写者（`JournalWriter`，一个写任务、一个写连接、按组提交），读经另一个 aiosqlite
连接（WAL 模式下读不挡写，每次读都看到已提交的最新数据）。每个写方法在它的写入所在的事务提交之后才返回。

持久化的约定（崩溃恢复依赖它们）：
- 订单在发往交易所之前以 new 状态写入并提交（`record_order`），所以被 kill -9 之后，重启时能按客户端订单号
  去交易所查它是否已经下成功——不会重复下单，也不会丢单。
- 一笔成交、它改变的持仓和订单在同一个事务里写入（`record_fill`）；(交易所账户, 交易所订单号, 成交编号) 唯一，
  同一笔成交无论从推送、轮询还是对账到达都只记一次。第 5 版之前记的成交账户为空串，与任何账户匹配。
- 库为 WAL 模式、synchronous=NORMAL：进程被杀时已提交的事务不会丢（只有操作系统崩溃才可能丢最后几个）。
- 库文件及 -wal、-shm 只给所有者读写（0600，见 schema.create_private）。
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import aiosqlite

from tradeterm.journal.schema import connect
from tradeterm.journal.writer import DEFAULT_QUEUE_SIZE, JournalWriter
from tradeterm.models import Fill, Order, OrderStatus, OrderType, Position, Side
from tradeterm.models.fill import LEGACY_ACCOUNT

# orders 表的列（与 _order_row 的顺序一致）
ORDER_COLUMNS = ("client_order_id", "run_id", "instance", "symbol", "side", "type", "amount", "price", "stop_price",
                 "status", "filled", "average_price", "exchange_order_id", "reduce_only", "reason", "created_ts",
                 "updated_ts", "bar_ts")
# 非终态的订单状态（重启时要对账的订单）
OPEN_STATUSES = tuple(s.value for s in OrderStatus if not s.is_final)
# fills 表的列（与 _fill_row 的顺序一致）
FILL_COLUMNS = ("account", "exchange_order_id", "trade_id", "symbol", "client_order_id", "run_id", "instance", "side",
                "price", "amount", "fee", "fee_currency", "ts")
# 写一张订单（新建或整行替换）
UPSERT_ORDER = (f"INSERT OR REPLACE INTO orders ({', '.join(ORDER_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(ORDER_COLUMNS))})")
# 写一笔成交
INSERT_FILL = f"INSERT INTO fills ({', '.join(FILL_COLUMNS)}) VALUES ({', '.join('?' * len(FILL_COLUMNS))})"
# 这笔成交是否已记过：同一账户，或第 5 版之前的旧行（账户为空串）
FILL_EXISTS = "SELECT 1 FROM fills WHERE account IN (?, ?) AND exchange_order_id = ? AND trade_id = ? LIMIT 1"
# 成交改变的持仓：保留表里已有的止损止盈价
UPDATE_POSITION_KEEP_EXITS = (
    "INSERT INTO positions VALUES (?, ?, ?, ?, ?, ?, NULL, NULL, ?) ON CONFLICT (instance, symbol) DO "
    "UPDATE SET amount = excluded.amount, entry_price = excluded.entry_price, realized_pnl = "
    "excluded.realized_pnl, fees = excluded.fees, updated_ts = excluded.updated_ts")
# 持仓及其止损止盈价（整行替换）
REPLACE_POSITION = "INSERT OR REPLACE INTO positions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"


def now_ms() -> int:
    """当前墙上时间，UTC 毫秒。"""
    return int(time.time() * 1000)


class TradeJournal:
    """一个日志库文件的异步读写。用 `await TradeJournal.open(path)` 打开，用完 `await close()`。"""

    def __init__(self, path: Path, db: aiosqlite.Connection, writer: JournalWriter):
        """由 open() 调用。"""
        # 日志库文件路径
        self.path = path
        # 读连接（aiosqlite）；写操作不走它
        self.db = db
        # 唯一写者：全部写操作经它按组提交
        self.writer = writer
        # 当前运行的 runs.id（start_run 之后才有）
        self.run_id: int | None = None

    @classmethod
    async def open(cls, path: str | Path, *, queue_size: int = DEFAULT_QUEUE_SIZE) -> "TradeJournal":
        """打开（必要时以 0600 创建并迁移）日志库。迁移用同步连接做一次；之后写经唯一写者，读经 aiosqlite。

        queue_size 为写队列的容量（操作个数；满了时写方法等待）。"""
        path = Path(path)
        connect(path).close()
        writer = await JournalWriter.start(path, queue_size=queue_size)
        try:
            db = await aiosqlite.connect(path)
            await db.execute("PRAGMA busy_timeout=5000")
        except BaseException:
            await writer.close()
            raise
        return cls(path, db, writer)

    @property
    def commits(self) -> int:
        """到目前为止提交的写事务数（一个事务里可能有很多个写操作）。"""
        return self.writer.commits

    async def close(self) -> None:
        """写完已排队的写操作，然后关闭写连接与读连接。"""
        await self.writer.close()
        await self.db.close()

    # ---- 运行 ------------------------------------------------------------------------------------------

    async def start_run(self, kind: str, starting_cash: float, settings: dict[str, Any]) -> int:
        """记一次新运行（paper / live），返回 runs.id。"""
        row = (kind, now_ms(), starting_cash, json.dumps(settings))

        def write(conn: sqlite3.Connection) -> int:
            """插入运行行，返回它的 id。"""
            return int(conn.execute("INSERT INTO runs (kind, started_ts, starting_cash, settings) "
                                    "VALUES (?, ?, ?, ?)", row).lastrowid)

        self.run_id = await self.writer.submit(write)
        return self.run_id

    async def finish_run(self, final_equity: float | None) -> None:
        """记下当前运行的结束时间与期末权益。"""
        await self._execute("UPDATE runs SET finished_ts = ?, final_equity = ? WHERE id = ?",
                            (now_ms(), final_equity, self.run_id))

    async def _execute(self, sql: str, params: tuple, *, wait: bool = True) -> None:
        """经写者执行一条语句；wait 时等它提交。"""
        def write(conn: sqlite3.Connection) -> None:
            """执行这条语句（不提交）。"""
            conn.execute(sql, params)

        await self.writer.submit(write, wait=wait)

    async def _execute_many(self, sql: str, rows: list[tuple]) -> None:
        """经写者对多行执行同一条语句，等它提交。"""
        def write(conn: sqlite3.Connection) -> None:
            """执行这条语句（不提交）。"""
            conn.executemany(sql, rows)

        await self.writer.submit(write)

    # ---- 订单与成交 ------------------------------------------------------------------------------------

    def _order_row(self, order: Order) -> tuple:
        """Order -> orders 表的一行。"""
        return (order.client_order_id, self.run_id, order.instance, order.symbol, order.side.value, order.type.value,
                order.amount, order.price, order.stop_price, order.status.value, order.filled, order.average_price,
                order.exchange_order_id, int(order.reduce_only), order.reason, order.created_ts,
                order.updated_ts or order.created_ts, order.bar_ts)

    def _fill_row(self, fill: Fill) -> tuple:
        """Fill -> fills 表的一行。"""
        return (fill.account, fill.exchange_order_id, fill.trade_id, fill.symbol, fill.client_order_id, self.run_id,
                fill.instance, fill.side.value, fill.price, fill.amount, fill.fee, fill.fee_currency, fill.ts)

    async def record_order(self, order: Order) -> None:
        """写入或更新一张订单，提交后返回（下单前调用一次，之后每次状态变化再调用）。"""
        await self._execute(UPSERT_ORDER, self._order_row(order))

    async def record_fill(self, fill: Fill, order: Order, position: Position, instance_key: str) -> bool:
        """在一个事务里写入成交、更新订单与持仓。成交已记过时什么都不改并返回 False。

        已记过：同一 (账户, 交易所订单号, 成交编号)；第 5 版之前的旧成交（账户为空串）与任何账户匹配。"""
        key = (fill.account, LEGACY_ACCOUNT, fill.exchange_order_id, fill.trade_id)
        fill_row, order_row = self._fill_row(fill), self._order_row(order)
        position_row = (instance_key, position.symbol, position.amount, position.entry_price, position.realized_pnl,
                        position.fees, now_ms())

        def write(conn: sqlite3.Connection) -> bool:
            """查重，然后写成交、订单与持仓。"""
            if conn.execute(FILL_EXISTS, key).fetchone() is not None:
                return False
            conn.execute(INSERT_FILL, fill_row)
            conn.execute(UPSERT_ORDER, order_row)
            conn.execute(UPDATE_POSITION_KEEP_EXITS, position_row)
            return True

        return await self.writer.submit(write)

    async def save_position(self, instance_key: str, position: Position, stop_loss: float | None,
                            take_profit: float | None) -> None:
        """保存持仓及其引擎管理的止损止盈价，提交后返回。"""
        await self._execute(REPLACE_POSITION, (instance_key, position.symbol, position.amount, position.entry_price,
                                               position.realized_pnl, position.fees, stop_loss, take_profit, now_ms()))

    # ---- 实例、事件、权益 ------------------------------------------------------------------------------

    async def save_instance(self, name: str, status: str, params: dict[str, Any], error: str = "") -> None:
        """保存实例状态与参数，提交后返回。"""
        await self._execute("INSERT OR REPLACE INTO instances VALUES (?, ?, ?, ?, ?)",
                            (name, status, json.dumps(params), error, now_ms()))

    async def record_event(self, ts: int, kind: str, data: dict[str, Any], *, commit: bool = True) -> None:
        """写一条事件（信号、拒绝、错误、对账报告）。commit 为 False 时排进写队列即返回，不等提交（出错只记日志）。"""
        await self._execute("INSERT INTO events (run_id, ts, kind, data) VALUES (?, ?, ?, ?)",
                            (self.run_id, ts, kind, json.dumps(data, default=str)), wait=commit)

    async def record_equity(self, instance: str, ts: int, equity: float) -> None:
        """写一个权益采样（instance 为空串表示账户）；同一时刻的重复采样以最后一次为准。"""
        await self._execute("INSERT OR REPLACE INTO equity VALUES (?, ?, ?, ?)", (self.run_id, instance, ts, equity))

    async def record_bars(self, symbol: str, timeframe: str, rows: list[list[float]], *, live: bool = False) -> None:
        """记下引擎看到的已收盘 K 线（[ts, o, h, l, c, v] 列表）；已有的同一根以新值为准。

        live 为 True（实时收盘的 K 线，不是预热历史）时，同一事务里把本次运行的 K 线时间范围（first_bar_ts、last_bar_ts，
        交易所时间）向后扩展：进程被杀时这个范围也已经在库里，replay-check 据此找出运行覆盖的行情。"""
        bars = [(symbol, timeframe, int(r[0]), *map(float, r[1:6])) for r in rows]
        span = (int(min(r[0] for r in rows)), int(max(r[0] for r in rows)), timeframe, self.run_id) \
            if live and rows else None

        def write(conn: sqlite3.Connection) -> None:
            """写 K 线，必要时扩展运行的 K 线时间范围。"""
            conn.executemany("INSERT OR REPLACE INTO bars VALUES (?, ?, ?, ?, ?, ?, ?, ?)", bars)
            if span is not None:
                conn.execute("UPDATE runs SET first_bar_ts = COALESCE(first_bar_ts, ?), last_bar_ts = "
                             "MAX(COALESCE(last_bar_ts, 0), ?), timeframe = COALESCE(timeframe, ?) WHERE id = ?", span)

        await self.writer.submit(write)

    # ---- 载入（重启恢复） ------------------------------------------------------------------------------

    @staticmethod
    def _order_from_row(row: tuple) -> Order:
        """orders 表的一行 -> Order。"""
        values = dict(zip(ORDER_COLUMNS, row))
        return Order(symbol=values["symbol"], side=Side(values["side"]), type=OrderType(values["type"]),
                     amount=values["amount"], price=values["price"], stop_price=values["stop_price"],
                     client_order_id=values["client_order_id"], exchange_order_id=values["exchange_order_id"],
                     status=OrderStatus(values["status"]), filled=values["filled"],
                     average_price=values["average_price"], instance=values["instance"],
                     reduce_only=bool(values["reduce_only"]), created_ts=values["created_ts"],
                     updated_ts=values["updated_ts"], reason=values["reason"], bar_ts=values["bar_ts"])

    async def open_orders(self) -> list[Order]:
        """全部非终态订单（按创建时间）。"""
        marks = ", ".join("?" * len(OPEN_STATUSES))
        async with self.db.execute(f"SELECT {', '.join(ORDER_COLUMNS)} FROM orders WHERE status IN ({marks}) "
                                   "ORDER BY created_ts", OPEN_STATUSES) as cursor:
            return [self._order_from_row(row) for row in await cursor.fetchall()]

    async def orders(self) -> list[Order]:
        """全部订单（按创建时间）。"""
        async with self.db.execute(f"SELECT {', '.join(ORDER_COLUMNS)} FROM orders ORDER BY created_ts") as cursor:
            return [self._order_from_row(row) for row in await cursor.fetchall()]

    async def positions(self) -> dict[tuple[str, str], tuple[Position, float | None, float | None]]:
        """全部持仓：(实例, 交易对) -> (持仓, 止损价, 止盈价)。"""
        async with self.db.execute("SELECT instance, symbol, amount, entry_price, realized_pnl, fees, stop_loss, "
                                   "take_profit FROM positions") as cursor:
            rows = await cursor.fetchall()
        return {(r[0], r[1]): (Position(r[1], r[2], r[3], r[4], r[5], r[0] or None), r[6], r[7]) for r in rows}

    async def instances(self) -> dict[str, tuple[str, dict[str, Any], str]]:
        """实例名 -> (状态, 参数, 错误)。"""
        async with self.db.execute("SELECT name, status, params, error FROM instances") as cursor:
            return {r[0]: (r[1], json.loads(r[2]), r[3]) for r in await cursor.fetchall()}

    async def fill_keys(self) -> set[tuple[str, str, str]]:
        """已记账成交的 (账户, 交易所订单号, 成交编号)；第 5 版之前的成交账户为空串。"""
        async with self.db.execute("SELECT account, exchange_order_id, trade_id FROM fills") as cursor:
            return {(r[0], r[1], r[2]) for r in await cursor.fetchall()}

    async def fills(self) -> list[Fill]:
        """全部成交（按时间），带交易所订单号与账户。"""
        async with self.db.execute("SELECT client_order_id, symbol, side, price, amount, fee, fee_currency, ts, "
                                   "trade_id, instance, exchange_order_id, account FROM fills "
                                   "ORDER BY ts, trade_id") as cursor:
            rows = await cursor.fetchall()
        return [Fill(r[0], r[1], Side(r[2]), r[3], r[4], r[5], r[6], r[7], r[8], instance=r[9],
                     exchange_order_id=r[10], account=r[11]) for r in rows]

    async def last_fill_ts(self) -> int | None:
        """最近一笔已记账成交的时间，UTC 毫秒；没有成交时为 None。"""
        async with self.db.execute("SELECT MAX(ts) FROM fills") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row and row[0] is not None else None

    async def baseline(self) -> dict[str, float] | None:
        """第一次运行时记下的账户余额基线；还没记过时为 None。"""
        async with self.db.execute("SELECT asset, total FROM balances_baseline") as cursor:
            rows = await cursor.fetchall()
        return {r[0]: r[1] for r in rows} if rows else None

    async def set_baseline(self, totals: dict[str, float]) -> None:
        """记下余额基线（只在第一次运行、机器人还没有任何成交时调用）。"""
        ts = now_ms()
        await self._execute_many("INSERT OR REPLACE INTO balances_baseline VALUES (?, ?, ?)",
                                 [(asset, total, ts) for asset, total in totals.items()])

    # ---- 引擎的持久状态（一键停止等） ------------------------------------------------------------------

    async def save_state(self, key: str, value: dict[str, Any]) -> None:
        """记下引擎的一项持久状态（如一键停止是否接合）：写成 events 表里一条 kind 为 state:<key> 的事件并提交，
        历史变化因此也都留档。"""
        await self.record_event(now_ms(), f"state:{key}", value)

    async def load_state(self, key: str) -> dict[str, Any] | None:
        """一项持久状态的最新值；从未记过时为 None。"""
        async with self.db.execute("SELECT data FROM events WHERE kind = ? ORDER BY id DESC LIMIT 1",
                                   (f"state:{key}",)) as cursor:
            row = await cursor.fetchone()
        return json.loads(row[0]) if row else None
