"""SQLite 文件路径（日志库、沙盒状态文件）的预先检查：在打开或创建任何东西之前说清楚路径为什么不能用。

只做检查，不创建、不写入任何文件或目录（只在文件已存在时读它开头的 16 个字节，判断是不是 SQLite 库）。
调用方（config.yml 的 journal.path 与 exchange.sandbox_state、命令行的 --journal）把返回的说明接在
自己的键名后面，例如 `journal.path: '/' is a directory; ...`。
"""

from __future__ import annotations

import os
from pathlib import Path

# SQLite 库文件开头的 16 字节魔数
SQLITE_HEADER = b"SQLite format 3\x00"
# 文件名（最后一段）的最大长度，字节：Linux 的 NAME_MAX 是 255，SQLite 与引擎还要在旁边建
# 名字更长的伴生文件（-journal、-wal、.lock、.sandbox.db），所以留出余量
MAX_NAME_BYTES = 200
# 整个路径的最大长度，字节（Linux 的 PATH_MAX 是 4096，同样留出伴生文件的余量）
MAX_PATH_BYTES = 4000
# 错误说明里完整显示的路径的最大字符数；更长的只显示开头 60 个字符与总长度
SHOWN_CHARS = 200
# 错误说明里的修正建议；{example} 为示例文件名
FIX = "give a file path in an existing directory, e.g. {example}"


def path_text_problem(text: str, *, example: str = "tradeterm.db") -> str | None:
    """只看路径文字本身（不碰文件系统）的问题：空、含 NUL、过长、以 / 结尾或不是文件名；没问题返回 None。
    example 为修正建议里的示例文件名。"""
    shown, fix = _shown(text), FIX.format(example=example)
    if not text.strip():
        return f"{shown} is empty; {fix}"
    if "\0" in text:
        return f"{shown} contains a NUL character; {fix}"
    encoded = os.fsencode(text) if _encodable(text) else None
    if encoded is None:
        return f"{shown} cannot be encoded as a file name on this system; {fix}"
    if len(encoded) > MAX_PATH_BYTES:
        return f"{shown} is {len(encoded)} bytes long, above the {MAX_PATH_BYTES}-byte limit; {fix}"
    name = os.fsencode(Path(text).name)
    if len(name) > MAX_NAME_BYTES:
        return (f"{shown}: the file name is {len(name)} bytes long, above the {MAX_NAME_BYTES}-byte limit; "
                f"use a shorter name, e.g. {example}")
    if text.rstrip().endswith("/") or Path(text).name in ("", ".", ".."):
        return f"{shown} is not a file path (it names a directory); {fix}"
    return None


def journal_path_problem(path: str | Path, *, create_under: Path | None = None,
                         example: str = "tradeterm.db") -> str | None:
    """日志库（或任何 SQLite 状态文件）路径能否使用；能用返回 None，否则返回一行说明（不含键名）。

    拒绝：空路径、含 NUL、过长、目录、已存在但不是普通文件（如 /dev/null）、父目录不存在或不是目录、
    已存在但不是 SQLite 库的文件（空文件可以：SQLite 把它当作新库）。不创建任何东西。

    create_under：给出时，位于这个目录之下、父目录还不存在的路径也可以（打开时会建出缺的子目录，config.yml 里
    相对配置目录的 journal.path: runs/journal.db 就是这样），只要最近的已存在的上级是目录。
    example 为修正建议里的示例文件名（沙盒状态文件用 tradeterm.sandbox.db）。
    """
    text = str(path) if not isinstance(path, str) else path
    problem = path_text_problem(text, example=example)
    if problem:
        return problem
    shown, fix = _shown(text), FIX.format(example=example)
    target = Path(text)
    try:
        if target.is_dir():
            return f"{shown} is a directory, not a file; {fix}"
        if target.exists():
            return _existing_file_problem(target, shown, example)
        parent = target.parent
        if not parent.exists() and not _inside(target, create_under):
            return f"{shown}: directory '{parent}' does not exist; create it first or {fix}"
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not parent.is_dir():
            return f"{shown}: '{parent}' is not a directory; {fix}"
    except OSError as exc:
        return f"{shown} cannot be used ({exc.strerror or exc}); {fix}"
    return None


def _existing_file_problem(target: Path, shown: str, example: str) -> str | None:
    """已存在的路径：须是普通文件，且为空或以 SQLite 魔数开头。example 为修正建议里的示例文件名。"""
    if not target.is_file():
        fix = FIX.format(example=example)
        return f"{shown} is not a regular file (a device, socket or pipe); {fix}"
    try:
        with target.open("rb") as handle:
            head = handle.read(len(SQLITE_HEADER))
    except OSError as exc:
        return f"{shown} cannot be read ({exc.strerror or exc}); fix its permissions or {FIX.format(example=example)}"
    if head and head != SQLITE_HEADER:
        return (f"{shown} exists and is not a SQLite database; refusing to overwrite it; "
                f"move it away or give another path, e.g. {example}")
    return None


def _inside(target: Path, directory: Path | None) -> bool:
    """target 是否位于 directory 之下（按绝对路径比较，不解析符号链接）；directory 为 None 时为 False。"""
    if directory is None:
        return False
    return Path(os.path.abspath(target)).is_relative_to(os.path.abspath(directory))


def _encodable(text: str) -> bool:
    """文字能否按文件系统编码转成字节（孤立的代理字符等不能）。"""
    try:
        os.fsencode(text)
    except UnicodeEncodeError:
        return False
    return True


def _shown(text: str) -> str:
    """错误说明里显示的路径：用 repr（NUL 等不可见字符可见），超过 SHOWN_CHARS 个字符时截断并注明总长度。"""
    if len(text) > SHOWN_CHARS:
        return f"{text[:60]!r}... ({len(text)} characters)"
    return repr(text)
