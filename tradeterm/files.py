"""引擎、日志库与沙盒共用的文件小工具：以 0600 创建并加排他锁的文件（同一文件同一时刻只许一个进程使用）。"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from tradeterm.errors import UserError

# 本程序创建的文件的权限：只有所有者可读写
PRIVATE_MODE = 0o600


def lock_private(path: Path, busy: str) -> int:
    """打开（没有时以 0600 新建）path、把权限设为 0600 并加非阻塞排他 flock，返回文件描述符；
    已被另一个进程锁住时抛 UserError(busy)。flock 在进程死亡（含 SIGKILL）时由操作系统释放。"""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_MODE)
    os.fchmod(fd, PRIVATE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise UserError(busy) from None
    return fd
