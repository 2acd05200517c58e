"""SQLite 文件路径的预先检查（tradeterm.journal.paths.journal_path_problem）：只检查、不创建，
日志库（journal.path、--journal）与沙盒状态文件共用。"""

from __future__ import annotations

import socket
import sqlite3

import pytest

from tradeterm.journal.paths import journal_path_problem


@pytest.mark.parametrize("path, fragment", [
    ("", "'' is empty"),
    ("   ", "'   ' is empty"),
    ("/", "'/' is not a file path (it names a directory)"),
    ("runs/", "'runs/' is not a file path (it names a directory)"),
    ("..", "'..' is not a file path (it names a directory)"),
    ("/tmp", "'/tmp' is a directory, not a file"),
    ("/dev/null", "'/dev/null' is not a regular file"),
    ("j\0.db", "'j\\x00.db' contains a NUL character"),
    ("x" * 5000, "(5000 characters) is 5000 bytes long, above the 4000-byte limit"),
    ("/tmp/" + "n" * 300 + ".db", "the file name is 303 bytes long, above the 200-byte limit"),
    ("/nonexistent/dir/x.db", "'/nonexistent/dir/x.db': directory '/nonexistent/dir' does not exist"),
    ("\udcff\ud800.db", "cannot be encoded as a file name"),
])
def test_unusable_paths_are_refused(path, fragment):
    """空、目录、设备、NUL、过长、父目录不存在、无法编码：各有一句说明，且都给出修正示例。"""
    problem = journal_path_problem(path)
    assert problem is not None and fragment in problem, problem
    assert "e.g. tradeterm.db" in problem


def test_existing_files_must_be_sqlite_or_empty(tmp_path):
    """已存在的文件：SQLite 库与空文件可以，别的内容拒绝（不覆盖用户的文件）。"""
    sqlite3.connect(tmp_path / "real.db").execute("CREATE TABLE t (x)").connection.close()
    (tmp_path / "empty.db").write_bytes(b"")
    (tmp_path / "text.db").write_text("hello", encoding="utf-8")
    assert journal_path_problem(tmp_path / "real.db") is None
    assert journal_path_problem(tmp_path / "empty.db") is None
    assert "exists and is not a SQLite database; refusing to overwrite it" in journal_path_problem(tmp_path / "text.db")


def test_a_socket_is_not_a_regular_file(tmp_path):
    """Unix 套接字（或管道、设备）不是普通文件。"""
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(tmp_path / "s.db"))
        assert "is not a regular file" in journal_path_problem(tmp_path / "s.db")
    finally:
        server.close()


def test_missing_directories_only_under_create_under(tmp_path):
    """父目录不存在：默认拒绝（--journal /nonexistent/dir/x.db 不再建出整棵目录树）；
    给了 create_under 且路径在它下面时可以（配置里的 runs/journal.db），但上级是普通文件时仍拒绝。"""
    nested = tmp_path / "runs" / "2024" / "j.db"
    assert "does not exist" in journal_path_problem(nested)
    assert journal_path_problem(nested, create_under=tmp_path) is None
    assert "does not exist" in journal_path_problem("/nonexistent/x.db", create_under=tmp_path)
    (tmp_path / "file").write_text("x", encoding="utf-8")
    assert "is not a directory" in journal_path_problem(tmp_path / "file" / "sub" / "j.db", create_under=tmp_path)


def test_checking_creates_nothing(tmp_path):
    """检查本身不创建任何文件或目录。"""
    for path in (tmp_path / "a.db", tmp_path / "d" / "a.db"):
        journal_path_problem(path, create_under=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_example_name_is_configurable():
    """沙盒状态文件用自己的示例文件名。"""
    assert journal_path_problem("", example="tradeterm.sandbox.db").endswith("e.g. tradeterm.sandbox.db")
