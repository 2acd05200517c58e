"""日志库的表结构与迁移：真实的 SQLite 文件（tmp_path），WAL 模式，版本表，迁移只应用一次，0600 文件，
第 5 版把成交的身份改为 (账户, 交易所订单号, 成交编号)。"""

from __future__ import annotations

import sqlite3
import stat

import pytest

from tradeterm.journal import schema
from tradeterm.journal.schema import SCHEMA_VERSION, connect, current_version, migrate

# 第 4 版的 orders 表的一行（已有同号订单时不写）：(客户端订单号, 交易对, 交易所订单号)，其余列取固定值
V4_ORDER = ("INSERT OR IGNORE INTO orders (client_order_id, run_id, instance, symbol, side, type, amount, status, filled, "
            "exchange_order_id, reduce_only, reason, created_ts, updated_ts) "
            "VALUES (?, 1, 'bot', ?, 'buy', 'market', 1.0, 'filled', 1.0, ?, 0, 'signal', 1, 1)")
# 第 4 版的 fills 表的一行（主键为交易对 + 成交编号）：(交易对, 成交编号, 客户端订单号)
V4_FILL = "INSERT INTO fills VALUES (?, ?, ?, 1, 'bot', 'buy', 100.0, 1.0, 0.1, 'USDT', 1000)"


def build_v4_journal(path, fills: list[tuple[str, str, str, str | None]]) -> None:
    """只用第 1-4 版的迁移建一个旧库：一次 paper 运行，fills 为 (交易对, 成交编号, 客户端订单号, 交易所订单号)，
    每个客户端订单号一张订单（交易所订单号可以是 None，即订单从未拿到交易所订单号）。"""
    conn = sqlite3.connect(path)
    try:
        current_version(conn)
        for number, description, script in schema.MIGRATIONS[:4]:
            conn.executescript(script)
            conn.execute("INSERT INTO schema_version VALUES (?, ?, 0)", (number, description))
        conn.execute("INSERT INTO runs (kind, started_ts, starting_cash, settings) VALUES ('paper', 1, 100, '{}')")
        for symbol, trade_id, client_id, exchange_id in fills:
            conn.execute(V4_ORDER, (client_id, symbol, exchange_id))
            conn.execute(V4_FILL, (symbol, trade_id, client_id))
        conn.commit()
    finally:
        conn.close()


def test_new_journal_gets_all_tables_wal_mode_and_version(tmp_path):
    """新库：WAL 模式，schema_version 记录最新版本，runs/run_instances/trades/equity 表都在。"""
    conn = connect(tmp_path / "j.db")
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == SCHEMA_VERSION
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"schema_version", "runs", "run_instances", "trades", "equity"} <= tables
    finally:
        conn.close()


def test_reopening_does_not_reapply_migrations(tmp_path):
    """第二次打开不重复迁移：schema_version 里每个版本只有一行。"""
    connect(tmp_path / "j.db").close()
    conn = connect(tmp_path / "j.db")
    try:
        rows = conn.execute("SELECT version FROM schema_version").fetchall()
        assert [r[0] for r in rows] == [v for v, _, _ in schema.MIGRATIONS]
    finally:
        conn.close()


def test_a_new_migration_is_applied_to_an_existing_journal(tmp_path, monkeypatch):
    """旧库 + 代码里新增一个迁移：打开时只应用新的那个，旧数据保留。"""
    path = tmp_path / "j.db"
    conn = connect(path)
    conn.execute("INSERT INTO runs (kind, started_ts, starting_cash, settings) VALUES ('backtest', 1, 100, '{}')")
    conn.commit()
    conn.close()
    extra = (SCHEMA_VERSION + 1, "notes table", "CREATE TABLE notes (ts INTEGER, message TEXT);")
    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, extra])
    monkeypatch.setattr(schema, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    conn = sqlite3.connect(path)
    try:
        assert migrate(conn) == SCHEMA_VERSION + 1
        assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1
        conn.execute("INSERT INTO notes VALUES (1, 'x')")
    finally:
        conn.close()


def test_failed_migration_leaves_the_journal_at_the_old_version(tmp_path, monkeypatch):
    """迁移脚本出错：整个迁移回滚，版本不变（不会留下半个迁移）。"""
    path = tmp_path / "j.db"
    connect(path).close()
    broken = (SCHEMA_VERSION + 1, "broken", "CREATE TABLE half (x INTEGER); THIS IS NOT SQL;")
    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, broken])
    monkeypatch.setattr(schema, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    conn = sqlite3.connect(path)
    try:
        with pytest.raises(sqlite3.OperationalError):
            migrate(conn)
        conn.rollback()
        assert conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE name='half'").fetchone()[0] == 0
    finally:
        conn.close()


def test_journal_newer_than_the_code_is_refused(tmp_path):
    """库的版本比代码新：拒绝打开（旧代码不能写新库）。"""
    path = tmp_path / "j.db"
    conn = connect(path)
    conn.execute("INSERT INTO schema_version VALUES (?, 'future', 0)", (SCHEMA_VERSION + 5,))
    conn.commit()
    conn.close()
    with pytest.raises(RuntimeError, match="newer"):
        connect(path)


def test_v5_identifies_fills_by_account_exchange_order_and_trade_id(tmp_path):
    """第 4 版的库升级：每笔旧成交都在，交易所订单号由订单表补上（订单没有时为空串），账户为空串（旧的）；
    之后同一成交编号在另一张订单上可以再记一笔，同一 (账户, 订单, 编号) 不行。"""
    path = tmp_path / "j.db"
    build_v4_journal(path, [("BTC/USDT", "1", "c1", "1001"), ("ETH/USDT", "1", "c2", "2001"),
                            ("BTC/USDT", "2", "c3", None)])
    conn = connect(path)
    try:
        assert current_version(conn) == SCHEMA_VERSION  # 第 5 版及之后的迁移都已应用
        rows = conn.execute("SELECT account, exchange_order_id, trade_id, symbol, client_order_id FROM fills "
                            "ORDER BY client_order_id").fetchall()
        assert rows == [("", "1001", "1", "BTC/USDT", "c1"), ("", "2001", "1", "ETH/USDT", "c2"),
                        ("", "", "2", "BTC/USDT", "c3")]
        insert = ("INSERT INTO fills (account, exchange_order_id, trade_id, symbol, client_order_id, run_id, side, "
                  "price, amount, fee, fee_currency, ts) VALUES (?, ?, ?, 'BTC/USDT', 'c9', 1, 'buy', 1, 1, 0, 'USDT', 2)")
        conn.execute(insert, ("binance:spot:abc", "1002", "1"))
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute(insert, ("binance:spot:abc", "1002", "1"))
    finally:
        conn.close()


def mode(path) -> int:
    """文件的权限位。"""
    return stat.S_IMODE(path.stat().st_mode)


def test_connect_creates_private_files_and_makes_existing_ones_private(tmp_path):
    """connect（回测记录、引擎迁移都用它）建的库与 -wal、-shm 是 0600；已有的 0644 库打开后是 0600。"""
    path = tmp_path / "runs" / "j.db"
    conn = connect(path)
    try:
        conn.execute("INSERT INTO runs (kind, started_ts, starting_cash, settings) VALUES ('backtest', 1, 1, '{}')")
        conn.commit()
        files = [path, path.with_name("j.db-wal"), path.with_name("j.db-shm")]
        assert [mode(f) for f in files] == [0o600] * 3
    finally:
        conn.close()
    path.chmod(0o644)
    connect(path).close()
    assert mode(path) == 0o600
