"""守护进程发出的通知（类别 supervisor）：措辞集中写在这里，用户看到的文字为英文。

严重程度：崩溃、无法启动、心跳丢失为 critical；重启为 warning；守护进程启动与停止、心跳恢复、引擎按要求停止为 info。
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Sequence

from tradeterm.notify.messages import Notification

# 通知类别（tradeterm/config/notify.py 的 EVENT_CATEGORIES 之一；渠道的 events 过滤用它）
CATEGORY = "supervisor"


def seconds(value: float) -> str:
    """秒数的简短写法：12 s、0.5 s。"""
    return f"{value:.3g} s" if value < 10 else f"{value:.0f} s"


def exit_detail(code: int, ran_for: float) -> str:
    """一行说明：退出码的含义与运行了多久。"""
    if code < 0:
        try:
            how = f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            how = f"killed by signal {-code}"
    else:
        how = f"exited with code {code}"
    return f"{how} after running {seconds(ran_for)}"


def supervisor_started(config_path: Path, journal: Path, pid: int) -> Notification:
    """守护进程已启动。"""
    return Notification(CATEGORY, "info", "Supervisor started",
                        (f"config: {config_path}", f"journal: {journal}", f"supervisor pid: {pid}"))


def supervisor_stopped(reason: str, code: int | None) -> Notification:
    """守护进程按要求停止（信号或 --duration）；code 为引擎最后的退出码，没有在运行的引擎时为 None。"""
    engine = "no engine was running" if code is None else f"engine exit code {code}"
    return Notification(CATEGORY, "info", "Supervisor stopped", (f"reason: {reason}", engine))


def engine_finished(ran_for: float) -> Notification:
    """引擎自己按要求停止（ctl shutdown、SIGTERM）：守护进程随之退出，不重启。"""
    return Notification(CATEGORY, "info", "Engine stopped on purpose (exit code 0); supervisor exits",
                        (exit_detail(0, ran_for), "positions and open orders were left as they are"))


def engine_cannot_start(code: int, ran_for: float, tail: Sequence[str]) -> Notification:
    """引擎因用户错误退出（配置、凭据、日志库被占用……）：重启也会一样失败，所以不重启。"""
    return Notification(CATEGORY, "critical", f"Engine cannot start (exit code {code}); not restarting",
                        (exit_detail(code, ran_for), "fix the error below, then start the supervisor again",
                         *tail))


def engine_crashed(code: int, ran_for: float, tail: Sequence[str]) -> Notification:
    """引擎崩溃（非 0 非 2 的退出码，或被信号杀死）。"""
    return Notification(CATEGORY, "critical", f"Engine crashed (exit code {code})",
                        (exit_detail(code, ran_for), *tail))


def engine_hung(code: int, silent_for: float, tail: Sequence[str]) -> Notification:
    """引擎长时间不应答心跳，守护进程停掉了它（随后重启）。"""
    return Notification(CATEGORY, "critical",
                        f"Engine did not answer heartbeats for {seconds(silent_for)} and was stopped "
                        f"(exit code {code})", ("supervisor.hang_restart_after reached; it will be restarted",
                                                *tail))


def engine_restarting(attempt: int, delay: float) -> Notification:
    """即将重启引擎。"""
    return Notification(CATEGORY, "warning", f"Restarting engine (attempt {attempt}, after {seconds(delay)})",
                        ("the journal and reconcile pick up orders and positions where the last run left them",))


def heartbeat_lost(silent_for: float, hang_restart_after: float | None) -> Notification:
    """引擎不再应答心跳。"""
    then = ("it is not restarted for this (supervisor.hang_restart_after: null)" if hang_restart_after is None
            else f"it is restarted if it stays silent for {seconds(hang_restart_after)}")
    return Notification(CATEGORY, "critical", "Engine stopped answering heartbeats",
                        (f"no answer on the control socket for {seconds(silent_for)}", then))


def heartbeat_back(silent_for: float) -> Notification:
    """引擎又应答心跳了。"""
    return Notification(CATEGORY, "info", "Engine answers heartbeats again",
                        (f"it was silent for {seconds(silent_for)}",))
