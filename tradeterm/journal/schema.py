"""日志库的表结构与迁移。

版本记录在 `schema_version` 表（每应用一个迁移写一行）；`MIGRATIONS` 是按版本号排列的迁移列表，
只追加、不修改已发布的迁移。打开库时（`connect`）自动应用尚未应用的迁移，每个迁移在一个事务里完成。
库以 WAL 模式打开，读者（TUI、报表）与写者（引擎）互不阻塞。

第 1 版的表（时间均为 UTC 毫秒，金额为计价货币，数量为基础货币）：
- runs：一次运行（回测/模拟/实盘）：类型、开始/结束时间、初始资金、期末权益、周期、设置与组合指标（JSON）；
- run_instances：运行里的每个策略实例：名称、策略描述、交易对、周期、分到的资金、实例指标（JSON）；
- trades：每笔交易（开仓到平仓；未平仓的 is_open=1，按标记价估值）；
- equity：权益采样（每根 K 线收盘）；instance 为空串表示组合（账户）权益。

第 2 版（模拟盘/实盘的交易引擎）：
- orders：每张订单，下单前以 new 写入（客户端订单号为主键），之后随交易所回报更新；
- fills：每笔成交，(交易对, 成交编号) 唯一，重复到达的成交不会记两次；
- positions：每个实例在每个交易对上的持仓（与 fills 在同一事务里更新）；
- instances：实例的状态与当前参数（重启后恢复）；
- events：事件与日志（信号、拒绝、错误、对账报告）；
- balances_baseline：第一次运行开始时账户里已有的余额，对账时“交易所余额 = 基线 + 机器人持仓”。

第 3 版：bars：引擎看到的每根已收盘 K 线（预热的历史与实时收盘的），`tradeterm replay-check` 用它们按同样的行情回测一次运行。

第 4 版：orders.bar_ts：决定下这张单时本实例最后一根已收盘 K 线（交易所时间），replay-check 据此把实盘订单与回测信号逐根对上
（不受下单延迟影响）。

第 5 版：一笔成交的身份是 (交易所账户, 交易所订单号, 成交编号)，不再是 (交易对, 成交编号)——交易所账户换成新的
（成交编号从 1 重新开始）时，新成交曾与旧成交撞号而被当作重复丢掉。fills 加 account 与 exchange_order_id 两列，
主键改为 (account, exchange_order_id, trade_id)。旧行的 exchange_order_id 由 orders 表按客户端订单号补上，
account 为空串（第 5 版之前记的，不知道是哪个账户）：去重时空串账户与任何账户匹配，升级后的库不会把旧成交再记一次。

第 6 版：run_series：回测的逐根序列（组合与每个实例的权益曲线）每条一行，时间与数值各一个压缩块（编码见
tradeterm/journal/series.py），不再一根 K 线一行写进 equity（一百万根时 1.8 秒、29 MB）。equity 表照旧给模拟盘/实盘
逐行追加；第 6 版之前记的回测仍在 equity 表里，读的时候退回那里。

日志库文件只给所有者读写（0600）：库文件先以 0600 建好再连接（SQLite 建 -wal、-shm 时沿用库文件的权限），
已有的文件在打开时改成 0600（`create_private`）。
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from tradeterm.errors import UserError

# 日志库文件（及 SQLite 的 -wal、-shm 伴生文件）的权限：只有所有者可读写
FILE_MODE = 0o600
# WAL 模式下 SQLite 在库文件旁建的伴生文件的后缀
SIDECAR_SUFFIXES = ("-wal", "-shm")

# 迁移列表：(版本号, 说明, SQL 脚本)；只追加
MIGRATIONS: list[tuple[int, str, str]] = [
    (1, "runs, run_instances, trades, equity", """
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,              -- backtest / paper / live
            started_ts INTEGER NOT NULL,     -- 运行开始，UTC 毫秒（墙钟）
            finished_ts INTEGER,             -- 运行结束，UTC 毫秒（墙钟）
            first_bar_ts INTEGER,            -- 第一根 K 线开盘时间，UTC 毫秒
            last_bar_ts INTEGER,             -- 最后一根 K 线开盘时间，UTC 毫秒
            timeframe TEXT,                  -- K 线周期
            starting_cash REAL NOT NULL,     -- 初始资金，计价货币
            final_equity REAL,               -- 期末权益，计价货币
            settings TEXT NOT NULL,          -- 运行设置（JSON）：费率、滑点、数据来源等
            metrics TEXT                     -- 组合指标（JSON）
        );
        CREATE TABLE run_instances (
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            name TEXT NOT NULL,              -- 策略实例名
            strategy TEXT NOT NULL,          -- 策略描述，如 MACross(fast=10, slow=30)
            symbol TEXT NOT NULL,            -- 交易对
            timeframe TEXT NOT NULL,         -- K 线周期
            budget REAL NOT NULL,            -- 分到的资金，计价货币
            path TEXT NOT NULL,              -- 回测路径：fast 或 event
            metrics TEXT,                    -- 实例指标（JSON）
            PRIMARY KEY (run_id, name)
        );
        CREATE TABLE trades (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            instance TEXT NOT NULL,          -- 策略实例名
            symbol TEXT NOT NULL,            -- 交易对
            side TEXT NOT NULL,              -- long / short
            entry_ts INTEGER NOT NULL,       -- 开仓成交时间，UTC 毫秒
            exit_ts INTEGER,                 -- 平仓成交时间，UTC 毫秒；未平仓为 NULL
            entry_price REAL NOT NULL,       -- 开仓价，计价货币
            exit_price REAL NOT NULL,        -- 平仓价（未平仓为标记价），计价货币
            amount REAL NOT NULL,            -- 数量，基础货币
            pnl REAL NOT NULL,               -- 净盈亏（扣手续费），计价货币
            fees REAL NOT NULL,              -- 手续费合计，计价货币
            exit_reason TEXT NOT NULL,       -- signal / stop_loss / take_profit / trailing_stop / open
            is_open INTEGER NOT NULL         -- 1 表示回测结束时仍持有
        );
        CREATE INDEX trades_run ON trades(run_id, instance, entry_ts);
        CREATE TABLE equity (
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            instance TEXT NOT NULL,          -- 策略实例名；空串为组合（账户）权益
            ts INTEGER NOT NULL,             -- K 线开盘时间，UTC 毫秒（值为该 K 线收盘时的权益）
            equity REAL NOT NULL,            -- 权益，计价货币
            PRIMARY KEY (run_id, instance, ts)
        ) WITHOUT ROWID;
    """),
    (2, "orders, fills, positions, instances, events, balances for paper/live trading", """
        CREATE TABLE orders (
            client_order_id TEXT PRIMARY KEY,  -- 客户端订单号，下单前写入
            run_id INTEGER NOT NULL REFERENCES runs(id),
            instance TEXT,                   -- 策略实例名；手动订单为 NULL
            symbol TEXT NOT NULL,            -- 交易对
            side TEXT NOT NULL,              -- buy / sell
            type TEXT NOT NULL,              -- market / limit / ...
            amount REAL NOT NULL,            -- 下单数量，基础货币
            price REAL,                      -- 限价，计价货币
            stop_price REAL,                 -- 触发价，计价货币
            status TEXT NOT NULL,            -- new / open / partially_filled / filled / cancelled / rejected / expired
            filled REAL NOT NULL,            -- 已成交数量，基础货币
            average_price REAL,              -- 成交均价，计价货币
            exchange_order_id TEXT,          -- 交易所订单号
            reduce_only INTEGER NOT NULL,    -- 1 表示只减仓
            reason TEXT NOT NULL,            -- 原因标签（信号、止损、手动、拒绝原因）
            created_ts INTEGER NOT NULL,     -- 创建时间，UTC 毫秒
            updated_ts INTEGER NOT NULL      -- 最后更新时间，UTC 毫秒
        );
        CREATE INDEX orders_open ON orders(status);
        CREATE TABLE fills (
            symbol TEXT NOT NULL,            -- 交易对
            trade_id TEXT NOT NULL,          -- 交易所成交编号（与交易对一起唯一）
            client_order_id TEXT NOT NULL,   -- 所属订单的客户端订单号
            run_id INTEGER NOT NULL,         -- 记账时的运行
            instance TEXT,                   -- 策略实例名
            side TEXT NOT NULL,              -- buy / sell
            price REAL NOT NULL,             -- 成交价，计价货币
            amount REAL NOT NULL,            -- 成交数量，基础货币
            fee REAL NOT NULL,               -- 手续费，单位见 fee_currency
            fee_currency TEXT NOT NULL,      -- 手续费币种
            ts INTEGER NOT NULL,             -- 成交时间，UTC 毫秒
            PRIMARY KEY (symbol, trade_id)
        ) WITHOUT ROWID;
        CREATE TABLE positions (
            instance TEXT NOT NULL,          -- 策略实例名；手动订单记在 '' 下
            symbol TEXT NOT NULL,            -- 交易对
            amount REAL NOT NULL,            -- 带符号持仓，基础货币
            entry_price REAL NOT NULL,       -- 开仓均价，计价货币
            realized_pnl REAL NOT NULL,      -- 已实现盈亏（未扣费），计价货币
            fees REAL NOT NULL,              -- 累计手续费，计价货币
            stop_loss REAL,                  -- 引擎管理的止损价，计价货币
            take_profit REAL,                -- 引擎管理的止盈价，计价货币
            updated_ts INTEGER NOT NULL,     -- 最后更新时间，UTC 毫秒
            PRIMARY KEY (instance, symbol)
        ) WITHOUT ROWID;
        CREATE TABLE instances (
            name TEXT PRIMARY KEY,           -- 策略实例名
            status TEXT NOT NULL,            -- running / paused / stopped / error
            params TEXT NOT NULL,            -- 当前参数（JSON）
            error TEXT NOT NULL,             -- 最近一次错误
            updated_ts INTEGER NOT NULL      -- 最后更新时间，UTC 毫秒
        );
        CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id INTEGER,                  -- 所属运行
            ts INTEGER NOT NULL,             -- 事件时间，UTC 毫秒
            kind TEXT NOT NULL,              -- 事件种类（EventKind）
            data TEXT NOT NULL               -- 负载（JSON）
        );
        CREATE TABLE balances_baseline (
            asset TEXT PRIMARY KEY,          -- 币种
            total REAL NOT NULL,             -- 第一次运行开始时交易所账户里的该币种总额（不属于机器人的部分）
            ts INTEGER NOT NULL              -- 记录时间，UTC 毫秒
        );
    """),
    (3, "bars seen by the trading engine", """
        CREATE TABLE bars (
            symbol TEXT NOT NULL,            -- 交易对
            timeframe TEXT NOT NULL,         -- K 线周期
            ts INTEGER NOT NULL,             -- 开盘时间，UTC 毫秒
            open REAL NOT NULL,              -- 开盘价，计价货币
            high REAL NOT NULL,              -- 最高价，计价货币
            low REAL NOT NULL,               -- 最低价，计价货币
            close REAL NOT NULL,             -- 收盘价，计价货币
            volume REAL NOT NULL,            -- 成交量，基础货币
            PRIMARY KEY (symbol, timeframe, ts)
        ) WITHOUT ROWID;
    """),
    (4, "the bar each order was decided on", """
        -- 决定下单时本实例最后一根已收盘 K 线的开盘时间，UTC 毫秒（交易所时间）；手动单与旧订单为 NULL
        ALTER TABLE orders ADD COLUMN bar_ts INTEGER;
    """),
    (5, "a fill is identified by (account, exchange order id, trade id)", """
        CREATE TABLE fills_v5 (
            account TEXT NOT NULL,           -- 交易所账户标识（经纪商的 account_id，不含密钥）；'' 为第 5 版之前的成交
            exchange_order_id TEXT NOT NULL, -- 所属订单的交易所订单号
            trade_id TEXT NOT NULL,          -- 交易所成交编号（与账户、交易所订单号一起唯一）
            symbol TEXT NOT NULL,            -- 交易对
            client_order_id TEXT NOT NULL,   -- 所属订单的客户端订单号
            run_id INTEGER NOT NULL,         -- 记账时的运行
            instance TEXT,                   -- 策略实例名
            side TEXT NOT NULL,              -- buy / sell
            price REAL NOT NULL,             -- 成交价，计价货币
            amount REAL NOT NULL,            -- 成交数量，基础货币
            fee REAL NOT NULL,               -- 手续费，单位见 fee_currency
            fee_currency TEXT NOT NULL,      -- 手续费币种
            ts INTEGER NOT NULL,             -- 成交时间，UTC 毫秒
            PRIMARY KEY (account, exchange_order_id, trade_id)
        ) WITHOUT ROWID;
        INSERT INTO fills_v5 SELECT '', COALESCE((SELECT o.exchange_order_id FROM orders o
                                                  WHERE o.client_order_id = f.client_order_id), ''),
               f.trade_id, f.symbol, f.client_order_id, f.run_id, f.instance, f.side, f.price, f.amount, f.fee,
               f.fee_currency, f.ts FROM fills f;
        DROP TABLE fills;
        ALTER TABLE fills_v5 RENAME TO fills;
        -- 最近一笔成交的时间（对账的起点）与按时间列出成交
        CREATE INDEX fills_ts ON fills(ts);
    """),
    (6, "backtest per-bar series as compressed blobs", """
        -- 普通的 rowid 表而不是 WITHOUT ROWID：一行有几 MB 的块，WITHOUT ROWID 只适合小行
        CREATE TABLE run_series (
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            instance TEXT NOT NULL,          -- 策略实例名；空串为组合（账户）
            name TEXT NOT NULL,              -- 序列名：equity（每根 K 线收盘时的权益，计价货币）
            points INTEGER NOT NULL,         -- 点数（K 线根数）
            codec TEXT NOT NULL,             -- 两个块的编码，见 tradeterm/journal/series.py 的 CODEC
            ts BLOB NOT NULL,                -- K 线开盘时间，UTC 毫秒：差分后的小端 int64，zlib 压缩
            value BLOB NOT NULL,             -- 数值：小端 float64，zlib 压缩
            UNIQUE (run_id, instance, name)
        );
    """),
]
# 代码所知的最新表结构版本
SCHEMA_VERSION = MIGRATIONS[-1][0]


def has_table(conn: sqlite3.Connection, name: str) -> bool:
    """库里有没有这张表（只读打开、还没迁移到最新版本的旧库可能缺后来的表）。"""
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None


def current_version(conn: sqlite3.Connection) -> int:
    """库里已应用的最高版本；新库为 0。"""
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
                 "description TEXT NOT NULL, applied_ts INTEGER NOT NULL)")
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def migrate(conn: sqlite3.Connection) -> int:
    """应用尚未应用的迁移（每个一个事务），返回迁移后的版本。库比代码新时报错（避免旧代码写坏新库）。"""
    version = current_version(conn)
    conn.commit()
    if version > SCHEMA_VERSION:
        raise RuntimeError(f"journal schema version {version} is newer than this tradeterm ({SCHEMA_VERSION}); "
                           f"upgrade tradeterm")
    for number, description, script in MIGRATIONS:
        if number <= version:
            continue
        # executescript 会先提交，所以把整段脚本包在显式事务里，迁移要么全做要么全不做
        conn.executescript(f"BEGIN;\n{script}\nINSERT INTO schema_version VALUES ({number}, "
                           f"'{description}', {int(time.time() * 1000)});\nCOMMIT;")
        version = number
    return version


def create_private(path: str | Path) -> Path:
    """确保日志库文件存在且只有所有者可读写（0600），已有的 -wal、-shm 也改成 0600；返回路径。

    SQLite 建 -wal、-shm 时沿用库文件的权限，所以库文件由这里以 0600 建好（O_CREAT 的权限只会被 umask 收紧，
    不会放宽），之后的伴生文件自然也是 0600。改不了权限（文件属于别的用户）时抛 UserError。"""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE))
    except (OSError, ValueError) as exc:  # 目录、权限、只读文件系统、过长或含 NUL 的名字
        raise UserError(f"journal file {str(path)!r} cannot be opened or created: {_os_reason(exc)}; set journal.path "
                        f"(or --journal) to a file in a directory you can write, e.g. tradeterm.db") from None
    for file in (path, *(path.with_name(path.name + suffix) for suffix in SIDECAR_SUFFIXES)):
        try:
            if file.exists() and file.stat().st_mode & 0o777 != FILE_MODE:
                os.chmod(file, FILE_MODE)
        except PermissionError as exc:
            raise UserError(f"journal file '{file}' cannot be made private (mode 0600): {exc.strerror}; "
                            f"run 'chmod 600 {file}' as its owner or set journal.path to another file") from None
    return path


def connect(path: str | Path) -> sqlite3.Connection:
    """打开（必要时以 0600 创建）日志库：WAL 模式、外键约束、应用迁移。"""
    path = create_private(path)
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=NORMAL")
        migrate(conn)
    except sqlite3.DatabaseError as exc:  # 含 OperationalError：打不开、只读、被锁
        conn.close()
        problem = open_problem(path, exc)
        if problem is None:
            raise
        raise problem from None
    return conn


def open_problem(path: Path, exc: BaseException) -> UserError | None:
    """打开日志库时 SQLite 报的错 -> 一行用户错误（路径、原因、修正方法）；不是文件本身的问题时返回 None。

    “不是数据库”（别的文件、损坏或加密的库）不去碰它；打不开、只读、磁盘 I/O 错误、被锁说明文件或目录的问题。"""
    text = str(exc)
    if "file is not a database" in text or "malformed" in text:
        return UserError(f"journal {str(path)!r} is not a tradeterm journal (sqlite: {text}); it was left untouched; "
                         f"move it away or set journal.path (or --journal) to another file, e.g. tradeterm.db")
    if any(part in text for part in ("unable to open", "readonly", "disk I/O", "locked", "access permission")):
        return UserError(f"journal {str(path)!r} cannot be opened (sqlite: {text}); check the file's and its "
                         f"directory's permissions and free space, or set journal.path (or --journal) to "
                         f"another file")
    return None


def _os_reason(exc: BaseException) -> str:
    """OSError/ValueError 的简短原因：'Permission denied'、'Is a directory'、'embedded null byte' ..."""
    return getattr(exc, "strerror", None) or str(exc)
