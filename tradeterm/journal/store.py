"""交易日志库（aiosqlite）：模拟盘/实盘引擎的订单、成交、持仓、实例状态、权益与事件。

持久化的约定（崩溃恢复依赖它们）：
- 订单在发往交易所之前以 new 状态写入并提交（`record_order`），所以被 kill -9 之后，重启时能按客户端订单号
  去交易所查它是否已经下成功——不会重复下单，也不会丢单。
- 一笔成交、它改变的持仓和订单在同一个事务里写入（`record_fill`）；(交易对, 成交编号) 是主键，
  同一笔成交无论从推送、轮询还是对账到达都只记一次。
- 库为 WAL 模式、synchronous=NORMAL：进程被杀时已提交的事务不会丢（只有操作系统崩溃才可能丢最后几个）。
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import aiosqlite

from tradeterm.journal.schema import connect
from tradeterm.models import Fill, Order, OrderStatus, OrderType, Position, Side

# orders 表的列（与 _order_row 的顺序一致）
ORDER_COLUMNS = ("client_order_id", "run_id", "instance", "symbol", "side", "type", "amount", "price", "stop_price",
                 "status", "filled", "average_price", "exchange_order_id", "reduce_only", "reason", "created_ts",
                 "updated_ts", "bar_ts")
# 非终态的订单状态（重启时要对账的订单）
OPEN_STATUSES = tuple(s.value for s in OrderStatus if not s.is_final)


def now_ms() -> int:
    """当前墙上时间，UTC 毫秒。"""
    return int(time.time() * 1000)


class TradeJournal:
    """一个日志库文件的异步读写。用 `await TradeJournal.open(path)` 打开。"""

    def __init__(self, path: Path, db: aiosqlite.Connection):
        """由 open() 调用。"""
        # 日志库文件路径
        self.path = path
        # aiosqlite 连接
        self.db = db
        # 当前运行的 runs.id（start_run 之后才有）
        self.run_id: int | None = None

    @classmethod
    async def open(cls, path: str | Path) -> "TradeJournal":
        """打开（必要时创建并迁移）日志库。迁移用同步连接做一次，之后的读写走 aiosqlite。"""
        path = Path(path)
        connect(path).close()
        db = await aiosqlite.connect(path)
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=NORMAL")
        await db.execute("PRAGMA busy_timeout=5000")
        return cls(path, db)

    async def close(self) -> None:
        """关闭连接。"""
        await self.db.close()

    # ---- 运行 ------------------------------------------------------------------------------------------

    async def start_run(self, kind: str, starting_cash: float, settings: dict[str, Any]) -> int:
        """记一次新运行（paper / live），返回 runs.id。"""
        cursor = await self.db.execute(
            "INSERT INTO runs (kind, started_ts, starting_cash, settings) VALUES (?, ?, ?, ?)",
            (kind, now_ms(), starting_cash, json.dumps(settings)))
        await self.db.commit()
        self.run_id = int(cursor.lastrowid)
        return self.run_id

    async def finish_run(self, final_equity: float | None) -> None:
        """记下当前运行的结束时间与期末权益。"""
        await self.db.execute("UPDATE runs SET finished_ts = ?, final_equity = ? WHERE id = ?",
                              (now_ms(), final_equity, self.run_id))
        await self.db.commit()

    # ---- 订单与成交 ------------------------------------------------------------------------------------

    def _order_row(self, order: Order) -> tuple:
        """Order -> orders 表的一行。"""
        return (order.client_order_id, self.run_id, order.instance, order.symbol, order.side.value, order.type.value,
                order.amount, order.price, order.stop_price, order.status.value, order.filled, order.average_price,
                order.exchange_order_id, int(order.reduce_only), order.reason, order.created_ts,
                order.updated_ts or order.created_ts, order.bar_ts)

    async def record_order(self, order: Order) -> None:
        """写入或更新一张订单并立即提交（下单前调用一次，之后每次状态变化再调用）。"""
        placeholders = ", ".join("?" * len(ORDER_COLUMNS))
        await self.db.execute(f"INSERT OR REPLACE INTO orders ({', '.join(ORDER_COLUMNS)}) VALUES ({placeholders})",
                              self._order_row(order))
        await self.db.commit()

    async def record_fill(self, fill: Fill, order: Order, position: Position, instance_key: str) -> bool:
        """在一个事务里写入成交、更新订单与持仓。成交已记过（主键冲突）时什么都不改并返回 False。"""
        cursor = await self.db.execute(
            "INSERT OR IGNORE INTO fills VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (fill.symbol, fill.trade_id, fill.client_order_id, self.run_id, fill.instance, fill.side.value, fill.price,
             fill.amount, fill.fee, fill.fee_currency, fill.ts))
        if cursor.rowcount == 0:
            await self.db.rollback()
            return False
        placeholders = ", ".join("?" * len(ORDER_COLUMNS))
        await self.db.execute(f"INSERT OR REPLACE INTO orders ({', '.join(ORDER_COLUMNS)}) VALUES ({placeholders})",
                              self._order_row(order))
        await self._write_position(instance_key, position, None, None, keep_exits=True)
        await self.db.commit()
        return True

    async def save_position(self, instance_key: str, position: Position, stop_loss: float | None,
                            take_profit: float | None) -> None:
        """保存持仓及其引擎管理的止损止盈价，并提交。"""
        await self._write_position(instance_key, position, stop_loss, take_profit, keep_exits=False)
        await self.db.commit()

    async def _write_position(self, instance_key: str, position: Position, stop_loss: float | None,
                              take_profit: float | None, *, keep_exits: bool) -> None:
        """写持仓行（不提交）；keep_exits 时保留表里已有的止损止盈价。"""
        if keep_exits:
            await self.db.execute(
                "INSERT INTO positions VALUES (?, ?, ?, ?, ?, ?, NULL, NULL, ?) ON CONFLICT (instance, symbol) DO "
                "UPDATE SET amount = excluded.amount, entry_price = excluded.entry_price, realized_pnl = "
                "excluded.realized_pnl, fees = excluded.fees, updated_ts = excluded.updated_ts",
                (instance_key, position.symbol, position.amount, position.entry_price, position.realized_pnl,
                 position.fees, now_ms()))
            return
        await self.db.execute("INSERT OR REPLACE INTO positions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                              (instance_key, position.symbol, position.amount, position.entry_price,
                               position.realized_pnl, position.fees, stop_loss, take_profit, now_ms()))

    # ---- 实例、事件、权益 ------------------------------------------------------------------------------

    async def save_instance(self, name: str, status: str, params: dict[str, Any], error: str = "") -> None:
        """保存实例状态与参数，并提交。"""
        await self.db.execute("INSERT OR REPLACE INTO instances VALUES (?, ?, ?, ?, ?)",
                              (name, status, json.dumps(params), error, now_ms()))
        await self.db.commit()

    async def record_event(self, ts: int, kind: str, data: dict[str, Any], *, commit: bool = True) -> None:
        """写一条事件（信号、拒绝、错误、对账报告）。"""
        await self.db.execute("INSERT INTO events (run_id, ts, kind, data) VALUES (?, ?, ?, ?)",
                              (self.run_id, ts, kind, json.dumps(data, default=str)))
        if commit:
            await self.db.commit()

    async def record_equity(self, instance: str, ts: int, equity: float) -> None:
        """写一个权益采样（instance 为空串表示账户）；同一时刻的重复采样以最后一次为准。"""
        await self.db.execute("INSERT OR REPLACE INTO equity VALUES (?, ?, ?, ?)", (self.run_id, instance, ts, equity))
        await self.db.commit()

    async def record_bars(self, symbol: str, timeframe: str, rows: list[list[float]], *, live: bool = False) -> None:
        """记下引擎看到的已收盘 K 线（[ts, o, h, l, c, v] 列表）；已有的同一根以新值为准。

        live 为 True（实时收盘的 K 线，不是预热历史）时，同一事务里把本次运行的 K 线时间范围（first_bar_ts、last_bar_ts，
        交易所时间）向后扩展：进程被杀时这个范围也已经在库里，replay-check 据此找出运行覆盖的行情。"""
        await self.db.executemany("INSERT OR REPLACE INTO bars VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                  [(symbol, timeframe, int(r[0]), *map(float, r[1:6])) for r in rows])
        if live and rows:
            first, last = int(min(r[0] for r in rows)), int(max(r[0] for r in rows))
            await self.db.execute("UPDATE runs SET first_bar_ts = COALESCE(first_bar_ts, ?), "
                                  "last_bar_ts = MAX(COALESCE(last_bar_ts, 0), ?), timeframe = COALESCE(timeframe, ?) "
                                  "WHERE id = ?", (first, last, timeframe, self.run_id))
        await self.db.commit()

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

    async def fill_keys(self) -> set[tuple[str, str]]:
        """已记账成交的 (交易对, 成交编号)。"""
        async with self.db.execute("SELECT symbol, trade_id FROM fills") as cursor:
            return {(r[0], r[1]) for r in await cursor.fetchall()}

    async def fills(self) -> list[Fill]:
        """全部成交（按时间）。"""
        async with self.db.execute("SELECT client_order_id, symbol, side, price, amount, fee, fee_currency, ts, "
                                   "trade_id, instance FROM fills ORDER BY ts, trade_id") as cursor:
            rows = await cursor.fetchall()
        return [Fill(r[0], r[1], Side(r[2]), r[3], r[4], r[5], r[6], r[7], r[8], instance=r[9]) for r in rows]

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
        await self.db.executemany("INSERT OR REPLACE INTO balances_baseline VALUES (?, ?, ?)",
                                  [(asset, total, ts) for asset, total in totals.items()])
        await self.db.commit()
