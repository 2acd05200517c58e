"""沙盒的持久化状态：一个 SQLite 文件（WAL，synchronous=NORMAL），使沙盒像真实交易所一样在重启、甚至被 SIGKILL 后
接着原来的账户运行。

保存的内容：每个账户（现货与合约各一套）的凭证、余额（可用/冻结）、全部订单与成交；合约的持仓与杠杆（钱包即
合约账户的 USDT 余额）；订单号、成交号与公开成交编号的计数器；模拟时钟；以及重建同一段行情的锚点
（sources.MarketAnchor）。文件格式（表）：

- meta(key, value)：schema_version、行情锚点（market_kind、start_ts、history_bars、seed）、clock_ts（模拟时间）、
  last_tick_ts（上一个节拍）、<book>_next_order_id / <book>_next_trade_id（book 为 spot 或 futures）；
- markets(symbol, position, seed, next_tape_id)：交易对（按市场顺序）、合成行情的种子、下一笔公开成交的编号；
- accounts(book, api_key, secret)；balances(book, api_key, asset, free, locked)；
- orders(book, order_id, api_key, market_id, status, body)、trades(book, trade_id, api_key, order_id, body)：
  body 为 SandboxOrder / SandboxTrade 全部字段的 JSON；
- positions(api_key, market_id, symbol, amount, entry_price, realized_pnl, fees)、leverage(api_key, market_id, leverage)。

写入是增量的（见 SandboxStore.save）：只写新订单与上次保存时仍未结束、且有变化的订单，只追加新成交，余额、持仓、
杠杆与计数器只写变了的行。所以长时间运行不会越存越慢。
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from tradeterm.errors import UserError
from tradeterm.files import lock_private
from tradeterm.models import Position
from tradeterm.sandbox.accounts import Account, SandboxOrder, SandboxTrade
from tradeterm.sandbox.futures import FuturesAccount
from tradeterm.sandbox.matching import MatchingEngine
from tradeterm.sandbox.sources import MarketAnchor

# 状态文件格式的版本（表结构有不兼容的变化时加一）
SCHEMA_VERSION = 1
# 账户簿：现货与 USD-M 合约（同一个 API key 在两边各有一个账户）
BOOKS = ("spot", "futures")
# 状态文件旁 SQLite 自己的文件（WAL 日志与共享内存索引），重置时一并删除
SIDE_SUFFIXES = ("-wal", "-shm")

# 表结构；IF NOT EXISTS 使新文件与已有文件走同一条路径
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS markets (symbol TEXT PRIMARY KEY, position INTEGER NOT NULL, seed INTEGER,
                                    next_tape_id INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS accounts (book TEXT NOT NULL, api_key TEXT NOT NULL, secret TEXT NOT NULL,
                                     PRIMARY KEY (book, api_key));
CREATE TABLE IF NOT EXISTS balances (book TEXT NOT NULL, api_key TEXT NOT NULL, asset TEXT NOT NULL,
                                     free REAL NOT NULL, locked REAL NOT NULL, PRIMARY KEY (book, api_key, asset));
CREATE TABLE IF NOT EXISTS orders (book TEXT NOT NULL, order_id INTEGER NOT NULL, api_key TEXT NOT NULL,
                                   market_id TEXT NOT NULL, status TEXT NOT NULL, body TEXT NOT NULL,
                                   PRIMARY KEY (book, order_id));
CREATE TABLE IF NOT EXISTS trades (book TEXT NOT NULL, trade_id INTEGER NOT NULL, api_key TEXT NOT NULL,
                                   order_id INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (book, trade_id));
CREATE TABLE IF NOT EXISTS positions (api_key TEXT NOT NULL, market_id TEXT NOT NULL, symbol TEXT NOT NULL,
                                      amount REAL NOT NULL, entry_price REAL NOT NULL, realized_pnl REAL NOT NULL,
                                      fees REAL NOT NULL, PRIMARY KEY (api_key, market_id));
CREATE TABLE IF NOT EXISTS leverage (api_key TEXT NOT NULL, market_id TEXT NOT NULL, leverage INTEGER NOT NULL,
                                     PRIMARY KEY (api_key, market_id));
"""
# 状态文件里的表名（由 SCHEMA 读出）
TABLES = tuple(re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", SCHEMA))

# 按行比较、只写变化的表：表名 -> (键列, 值列)
SYNCED_TABLES = {
    "balances": (("book", "api_key", "asset"), ("free", "locked")),
    "positions": (("api_key", "market_id"), ("symbol", "amount", "entry_price", "realized_pnl", "fees")),
    "leverage": (("api_key", "market_id"), ("leverage",)),
    "meta": (("key",), ("value",)),
}


@dataclass(frozen=True)
class StateSummary:
    """状态文件里有什么（重置前打印给用户看）。"""

    path: Path          # 状态文件
    accounts: int       # 账户数（现货与合约分别计）
    orders: int         # 订单数（全部）
    open_orders: int    # 其中仍在订单簿上的
    trades: int         # 成交数
    clock_ts: int | None  # 保存的模拟时间，UTC 毫秒；文件里没有时为 None

    def describe(self) -> str:
        """一行英文摘要，如 '2 account(s), 14 order(s) (3 open), 9 trade(s), clock 2026-11-25 09:23 UTC'。"""
        clock = ("clock " + datetime.fromtimestamp(self.clock_ts / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
                 if self.clock_ts is not None else "no clock")
        return (f"{self.accounts} account(s), {self.orders} order(s) ({self.open_orders} open), "
                f"{self.trades} trade(s), {clock}")


def _lock_file(path: Path) -> int:
    """打开（没有时以 0600 新建）状态文件、把权限设为 0600 并加排他锁；返回文件描述符。

    用 flock 而不是 SQLite 的锁：同一个文件被两个沙盒同时写会让两边的订单号与余额互相覆盖，必须在打开时就拒绝；
    flock 在进程死亡（含 SIGKILL）时由操作系统释放，与 SQLite 自己的 fcntl 锁互不干扰。
    """
    # 先自己以 0600 建文件，SQLite 再打开它：它的 -wal/-shm 文件沿用数据库文件的权限
    return lock_private(path, f"sandbox state {path} is in use by another running sandbox or engine; stop that "
                              f"one first, or use another state file")


def reset_state_file(path: Path) -> StateSummary | None:
    """删除状态文件（及其 -wal/-shm）；返回删除前的摘要，文件本来就不存在时返回 None。正被使用时抛 UserError。"""
    path = Path(path)
    if not path.exists():
        return None
    fd = _lock_file(path)
    try:
        summary = summarize(path)
        for side in [path.with_name(path.name + suffix) for suffix in SIDE_SUFFIXES] + [path]:
            side.unlink(missing_ok=True)
        return summary
    finally:
        os.close(fd)


def summarize(path: Path) -> StateSummary:
    """读状态文件的摘要（调用方已持有锁或确认无人在写）；不是沙盒状态文件时抛 UserError。"""
    try:
        conn = sqlite3.connect(path)
        try:
            counts = [conn.execute(sql).fetchone()[0] for sql in (
                "SELECT COUNT(*) FROM accounts", "SELECT COUNT(*) FROM orders",
                "SELECT COUNT(*) FROM orders WHERE status IN ('NEW', 'PARTIALLY_FILLED')",
                "SELECT COUNT(*) FROM trades")]
            row = conn.execute("SELECT value FROM meta WHERE key = 'clock_ts'").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise UserError(f"{path}: not a sandbox state file ({exc}); pass the file a sandbox wrote "
                        f"(e.g. tradeterm.sandbox.db)") from None
    return StateSummary(path, *counts, int(row[0]) if row else None)


def _order_fingerprint(order: SandboxOrder) -> tuple:
    """挂单里会随撮合变化的字段；与上次保存时相同就不必重写这张订单。"""
    return (order.status, order.filled, order.cost, order.updated_ts, order.triggered, order.locked,
            order.bar_index, order.bar_filled, len(order.fills))


def _from_json(cls, body: str):
    """由 JSON 还原 SandboxOrder / SandboxTrade（忽略旧文件里已不存在的字段）。"""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in json.loads(body).items() if k in names})


class SandboxStore:
    """一个沙盒的状态文件：打开（加锁）、读出恢复、增量保存、关闭。"""

    def __init__(self, path: Path | str):
        """打开（没有时新建，权限 0600）path 并加排他锁；文件是更新版本写的时抛 UserError。"""
        # 状态文件路径
        self.path = Path(path)
        # 排他锁所在的文件描述符（关闭时释放锁）
        self._lock_fd: int | None = _lock_file(self.path)
        # SQLite 连接（close() 之后为 None）
        self._conn: sqlite3.Connection | None = None
        try:
            # 沙盒只在一个事件循环里访问连接，但构造与运行可能在不同线程，所以不限定线程
            self._conn = sqlite3.connect(self.path, check_same_thread=False)
            self._check_foreign()
            self._conn.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL：已提交的事务在进程被杀（SIGKILL）后仍在，只有掉电才可能丢最后几个
            self._conn.execute("PRAGMA synchronous=NORMAL")
            with self._conn:
                self._conn.executescript(SCHEMA)
            self._check_version()
        except sqlite3.DatabaseError as exc:
            self.close()
            raise UserError(f"sandbox state {self.path}: not a sandbox state file ({exc}); point it at another "
                            f"file (e.g. tradeterm.sandbox.db)") from None
        except BaseException:
            self.close()
            raise
        # 上次保存时各表的行：表名 -> {键: 值}（只写与之不同的行）
        self._saved: dict[str, dict[tuple, tuple]] = {table: {} for table in SYNCED_TABLES}
        # 上次保存时见到的账户对象：(book, api_key) -> 账户（对象换了说明账户被重置，旧记录要删掉）
        self._accounts: dict[tuple[str, str], Account] = {}
        # 已保存的成交条数：(book, api_key) -> 账户 trades 列表里已写入的前缀长度
        self._trade_counts: dict[tuple[str, str], int] = {}
        # 上次保存时仍未结束的订单：(book, 订单号) -> (API key, 订单, 当时的指纹)
        self._open: dict[tuple[str, int], tuple[str, SandboxOrder, tuple]] = {}
        # 已保存的下一个订单号：book -> 订单号（之后的订单都是新的）
        self._next_order_ids: dict[str, int] = {}
        # 公开成交编号上次保存的值：交易对 -> 下一笔编号
        self._tape_ids: dict[str, int] = {}

    def _check_foreign(self) -> None:
        """已有的 SQLite 文件里有别的表（比如误把日志库当成状态文件）时拒绝，免得往里面建表、写数据。"""
        tables = {name for (name,) in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        foreign = tables - set(TABLES)
        if foreign:
            raise UserError(f"sandbox state {self.path}: not a sandbox state file (it has the tables "
                            f"{', '.join(sorted(foreign))}); point it at another file (e.g. tradeterm.sandbox.db)")

    def _check_version(self) -> None:
        """新文件写入 schema_version；已有文件的版本比本程序新时拒绝打开。"""
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None:
            with self._conn:
                self._conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        elif int(row[0]) > SCHEMA_VERSION:
            raise UserError(f"sandbox state {self.path}: written by a newer tradeterm (format {row[0]}, this one "
                            f"reads up to {SCHEMA_VERSION}); upgrade tradeterm, or reset the file "
                            f"(tradeterm sandbox --reset --state {self.path})")

    @property
    def is_open(self) -> bool:
        """连接是否还开着（close() 之后为 False）。"""
        return self._conn is not None

    def close(self) -> None:
        """关闭连接并释放锁（重复调用无害）。"""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # ---- 读 ----------------------------------------------------------------------------------------------

    def _meta(self) -> dict[str, str]:
        """meta 表的全部键值。"""
        return dict(self._conn.execute("SELECT key, value FROM meta"))

    def market_anchor(self) -> MarketAnchor | None:
        """保存的行情锚点；新文件（还没有保存过行情）返回 None。"""
        meta = self._meta()
        if "market_kind" not in meta:
            return None
        rows = self._conn.execute("SELECT symbol, seed FROM markets ORDER BY position").fetchall()
        seeds = {symbol: seed for symbol, seed in rows if seed is not None}
        return MarketAnchor(meta["market_kind"], int(meta["start_ts"]), int(meta["history_bars"]),
                            int(meta["seed"]), seeds, tuple(symbol for symbol, _ in rows))

    def save_anchor(self, anchor: MarketAnchor) -> None:
        """保存行情锚点（启动时调用；恢复时新增的交易对随之写入）。"""
        with self._conn:
            self._conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", [
                ("market_kind", anchor.kind), ("start_ts", str(anchor.start_ts)),
                ("history_bars", str(anchor.history_bars)), ("seed", str(anchor.seed))])
            for position, symbol in enumerate(anchor.symbols):
                self._conn.execute("INSERT INTO markets (symbol, position, seed) VALUES (?, ?, ?) ON CONFLICT(symbol) "
                                   "DO UPDATE SET position = excluded.position, seed = excluded.seed",
                                   (symbol, position, anchor.seeds.get(symbol)))

    def restore(self, engines: dict[str, MatchingEngine]) -> tuple[int, int] | None:
        """把保存的账户、订单、成交、持仓、杠杆与计数器装回 engines（book -> 引擎），未结束的订单放回订单簿。

        返回（模拟时间, 上一个节拍的模拟时间），UTC 毫秒；文件里还没有账户（新文件）时不改动并返回 None。
        """
        meta = self._meta()
        if "clock_ts" not in meta:
            return None
        for book, engine in engines.items():
            self._restore_book(book, engine, meta)
        for symbol, next_tape_id in self._conn.execute("SELECT symbol, next_tape_id FROM markets"):
            market = engines["spot"].markets.get(symbol.replace("/", ""))
            if market is not None:
                market.next_trade_id = next_tape_id
                self._tape_ids[market.spec.market_id] = next_tape_id
        self._saved["meta"] = {(k,): (v,) for k, v in meta.items()}
        return int(meta["clock_ts"]), int(meta.get("last_tick_ts", meta["clock_ts"]))

    def _restore_book(self, book: str, engine: MatchingEngine, meta: dict[str, str]) -> None:
        """恢复一个账户簿（spot 或 futures）。"""
        make = FuturesAccount if book == "futures" else Account
        for api_key, secret in self._conn.execute("SELECT api_key, secret FROM accounts WHERE book = ?", (book,)):
            account = make(api_key, secret)
            account.free, account.locked = {}, {}
            engine.accounts[api_key] = account
            self._accounts[(book, api_key)] = account
        for api_key, asset, free, locked in self._conn.execute(
                "SELECT api_key, asset, free, locked FROM balances WHERE book = ?", (book,)):
            account = engine.accounts[api_key]
            account.free[asset] = free
            if locked:
                account.locked[asset] = locked
            self._saved["balances"][(book, api_key, asset)] = (free, locked)
        for api_key, body in self._conn.execute("SELECT api_key, body FROM orders WHERE book = ? ORDER BY order_id",
                                                (book,)):
            order = _from_json(SandboxOrder, body)
            engine.accounts[api_key].orders[order.order_id] = order
            if order.is_open:
                engine.open_orders[order.market_id][order.order_id] = (engine.accounts[api_key], order)
                self._open[(book, order.order_id)] = (api_key, order, _order_fingerprint(order))
        for api_key, body in self._conn.execute("SELECT api_key, body FROM trades WHERE book = ? ORDER BY trade_id",
                                                (book,)):
            engine.accounts[api_key].trades.append(_from_json(SandboxTrade, body))
        for key, account in engine.accounts.items():
            self._trade_counts[(book, key)] = len(account.trades)
        if book == "futures":
            self._restore_futures(engine)
        # 计数器取保存的值与已有编号 + 1 中较大的：编号永不重复使用
        engine.next_order_id = max([int(meta.get(f"{book}_next_order_id", 1))]
                                   + [o + 1 for a in engine.accounts.values() for o in a.orders])
        engine.next_trade_id = max([int(meta.get(f"{book}_next_trade_id", 1))]
                                   + [t.trade_id + 1 for a in engine.accounts.values() for t in a.trades])
        self._next_order_ids[book] = engine.next_order_id

    def _restore_futures(self, engine: MatchingEngine) -> None:
        """恢复合约账户的持仓与杠杆。"""
        for row in self._conn.execute("SELECT api_key, market_id, symbol, amount, entry_price, realized_pnl, fees "
                                      "FROM positions"):
            api_key, market_id, symbol, amount, entry_price, realized_pnl, fees = row
            engine.accounts[api_key].positions[market_id] = Position(symbol, amount, entry_price, realized_pnl, fees)
            self._saved["positions"][(api_key, market_id)] = tuple(row[2:])
        for api_key, market_id, value in self._conn.execute("SELECT api_key, market_id, leverage FROM leverage"):
            engine.accounts[api_key].leverage[market_id] = value
            self._saved["leverage"][(api_key, market_id)] = (value,)

    # ---- 写 ----------------------------------------------------------------------------------------------

    def save(self, engines: dict[str, MatchingEngine], clock_ts: int, last_tick_ts: int) -> None:
        """在一个事务里写入自上次保存以来的全部变化（见模块说明），并记下模拟时钟。"""
        rows: dict[str, dict[tuple, tuple]] = {"balances": {}, "positions": {}, "leverage": {}}
        meta = {("clock_ts",): (str(clock_ts),), ("last_tick_ts",): (str(last_tick_ts),)}
        with self._conn:
            for book, engine in engines.items():
                self._save_accounts(book, engine, rows)
                self._save_orders(book, engine)
                meta[(f"{book}_next_order_id",)] = (str(engine.next_order_id),)
                meta[(f"{book}_next_trade_id",)] = (str(engine.next_trade_id),)
            for table, current in rows.items():
                self._sync(table, current)
            self._sync("meta", meta, delete_missing=False)
            self._save_tape(engines["spot"])

    def _save_accounts(self, book: str, engine: MatchingEngine, rows: dict[str, dict[tuple, tuple]]) -> None:
        """账户：新的（或被重置的）账户写凭证，追加新成交，收集余额（合约再收集持仓与杠杆）的当前值。"""
        for key, account in engine.accounts.items():
            if self._accounts.get((book, key)) is not account:
                self._forget_account(book, key)
                self._conn.execute("INSERT OR REPLACE INTO accounts VALUES (?, ?, ?)", (book, key, account.secret))
                self._accounts[(book, key)] = account
            count = self._trade_counts.get((book, key), 0)
            self._conn.executemany("INSERT OR REPLACE INTO trades VALUES (?, ?, ?, ?, ?)", [
                (book, t.trade_id, key, t.order_id, json.dumps(dataclasses.asdict(t))) for t in account.trades[count:]])
            self._trade_counts[(book, key)] = len(account.trades)
            for asset in set(account.free) | set(account.locked):
                rows["balances"][(book, key, asset)] = account.balance(asset)
            if isinstance(account, FuturesAccount):
                for market_id, p in account.positions.items():
                    rows["positions"][(key, market_id)] = (p.symbol, p.amount, p.entry_price, p.realized_pnl, p.fees)
                for market_id, value in account.leverage.items():
                    rows["leverage"][(key, market_id)] = (value,)

    def _forget_account(self, book: str, key: str) -> None:
        """账户对象被替换（add_account 重置了它）：删掉旧账户的订单与成交（余额等由 _sync 按当前值重写）。"""
        self._conn.execute("DELETE FROM orders WHERE book = ? AND api_key = ?", (book, key))
        self._conn.execute("DELETE FROM trades WHERE book = ? AND api_key = ?", (book, key))
        old = self._accounts.pop((book, key), None)
        if old is not None:
            for order_id in old.orders:
                self._open.pop((book, order_id), None)
        self._trade_counts.pop((book, key), None)

    def _save_orders(self, book: str, engine: MatchingEngine) -> None:
        """订单：上次保存后新下的订单，以及上次仍未结束、此后有变化的订单（已结束的订单不会再变，不再重写）。"""
        changed: list[tuple[str, SandboxOrder]] = []
        for order_id in range(self._next_order_ids.get(book, 1), engine.next_order_id):
            for key, account in engine.accounts.items():
                order = account.orders.get(order_id)
                if order is not None:
                    changed.append((key, order))
                    break
        for (order_book, _order_id), (key, order, fingerprint) in self._open.items():
            if order_book == book and _order_fingerprint(order) != fingerprint:
                changed.append((key, order))
        self._conn.executemany("INSERT OR REPLACE INTO orders VALUES (?, ?, ?, ?, ?, ?)", [
            (book, o.order_id, key, o.market_id, o.status, json.dumps(dataclasses.asdict(o))) for key, o in changed])
        for key, order in changed:
            if order.is_open:
                self._open[(book, order.order_id)] = (key, order, _order_fingerprint(order))
            else:
                self._open.pop((book, order.order_id), None)
        self._next_order_ids[book] = engine.next_order_id

    def _save_tape(self, engine: MatchingEngine) -> None:
        """公开成交的下一笔编号（每个节拍都会变：只写变了的交易对，一条 UPDATE 一个）。"""
        for market in engine.markets.values():
            if self._tape_ids.get(market.spec.market_id) != market.next_trade_id:
                self._conn.execute("UPDATE markets SET next_tape_id = ? WHERE symbol = ?",
                                   (market.next_trade_id, market.spec.symbol))
                self._tape_ids[market.spec.market_id] = market.next_trade_id

    def _sync(self, table: str, current: dict[tuple, tuple], delete_missing: bool = True) -> None:
        """把 table 写成 current（键 -> 值）：只写与上次保存不同的行；delete_missing 时删除已不存在的键。"""
        keys, values = SYNCED_TABLES[table]
        saved = self._saved[table]
        changed = [key + value for key, value in current.items() if saved.get(key) != value]
        if changed:
            columns = ", ".join(keys + values)
            marks = ", ".join("?" * (len(keys) + len(values)))
            self._conn.executemany(f"INSERT OR REPLACE INTO {table} ({columns}) VALUES ({marks})", changed)
        gone: Iterable[tuple] = [key for key in saved if key not in current] if delete_missing else ()
        where = " AND ".join(f"{k} = ?" for k in keys)
        self._conn.executemany(f"DELETE FROM {table} WHERE {where}", list(gone))
        for key in gone:
            del saved[key]
        saved.update(current)
