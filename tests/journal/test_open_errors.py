"""打开日志库时的坏路径：不是 SQLite 的文件、目录、没有权限、含 NUL 的名字——都变成写明路径与修正方法的
UserError（CLI 以退出码 2 打印一行），不是 sqlite3/OS 的 traceback；不是数据库的文件原样留着。"""

from __future__ import annotations

import sqlite3

import pytest

from tradeterm.cli.main import main
from tradeterm.errors import UserError
from tradeterm.journal.schema import connect
from tradeterm.journal.store import TradeJournal

# 只有 root 也无权在里面建文件的目录（sysfs）：用它造出“权限不够”，不依赖运行测试的用户
NO_PERMISSION_DIR = "/sys"


@pytest.fixture
def not_a_database(tmp_path):
    """一个已存在、不是 SQLite 库的文件（内容是几行文字）。"""
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n" * 10, encoding="utf-8")
    return path


async def test_open_refuses_a_file_that_is_not_a_database_and_leaves_it_untouched(not_a_database):
    """TradeJournal.open 一个文字文件：UserError 写明路径、“不是日志库”与修正方法；文件内容不变，也没有 -wal 文件。"""
    before = not_a_database.read_bytes()
    with pytest.raises(UserError) as caught:
        await TradeJournal.open(not_a_database)
    message = str(caught.value)
    assert f"journal '{not_a_database}' is not a tradeterm journal (sqlite: file is not a database)" in message
    assert "set journal.path (or --journal) to another file" in message
    assert not_a_database.read_bytes() == before
    assert not not_a_database.with_name(not_a_database.name + "-wal").exists()


def test_connect_refuses_a_directory(tmp_path):
    """路径是目录：UserError（Is a directory），不是 IsADirectoryError 的 traceback。"""
    with pytest.raises(UserError, match=f"journal file '{tmp_path}' cannot be opened or created: Is a directory"):
        connect(tmp_path)


def test_connect_reports_a_permission_error_with_the_path_and_the_fix():
    """在没有写权限的目录里建日志库：UserError 写明路径、Permission denied 与修正方法。"""
    path = f"{NO_PERMISSION_DIR}/tradeterm-test.db"
    with pytest.raises(UserError) as caught:
        connect(path)
    message = str(caught.value)
    assert f"journal file '{path}' cannot be opened or created: Permission denied" in message
    assert "a directory you can write" in message


def test_connect_refuses_a_nul_in_the_name(tmp_path):
    """名字里有 NUL：UserError（显示成 \\x00），不是 ValueError 的 traceback。"""
    with pytest.raises(UserError, match=r"j\\x00\.db' cannot be opened or created: embedded null byte"):
        connect(tmp_path / "j\0.db")


def test_open_problem_leaves_other_sqlite_errors_alone(tmp_path):
    """不是文件本身的问题（如 SQL 写错）不被改写成用户错误：程序缺陷照常抛出。"""
    from tradeterm.journal.schema import open_problem

    assert open_problem(tmp_path / "j.db", sqlite3.OperationalError("near \"SELEC\": syntax error")) is None


def test_backtest_into_a_journal_that_became_unreadable_is_a_clean_cli_error(tmp_path, capsys, monkeypatch):
    """config 模式的日志库（journal.path）是一个不是数据库的文件：回测之后写日志库时一行错误、退出码 2。"""
    from tradeterm.journal.paths import journal_path_problem

    monkeypatch.chdir(tmp_path)
    journal = tmp_path / "j.db"
    journal.write_text("not sqlite\n", encoding="utf-8")
    (tmp_path / "config.yml").write_text("journal:\n  path: j.db\nstrategies:\n"
                                         "  - {name: a, symbol: BTC/USDT, interval: 1m, class: MACross}\n",
                                         encoding="utf-8")
    code = main(["backtest", "--config", "config.yml", "--bars", "300", "--no-plot"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    # 配置校验（journal.path）先拒绝，或打开日志库时拒绝：两种都写明路径且说它不是 SQLite 库
    assert journal_path_problem(journal) is not None
    assert "j.db" in err and ("not a SQLite database" in err or "not a tradeterm journal" in err)
    assert journal.read_text(encoding="utf-8") == "not sqlite\n"
