"""日志库的表结构与迁移：真实的 SQLite 文件（tmp_path），WAL 模式，版本表，迁移只应用一次。"""

from __future__ import annotations

import sqlite3

import pytest

from tradeterm.journal import schema
from tradeterm.journal.schema import SCHEMA_VERSION, connect, migrate


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
