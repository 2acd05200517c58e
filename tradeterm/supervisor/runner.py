"""`tradeterm run --headless --supervise` 的守护进程：把引擎当子进程运行，崩溃后按退避重启，并通知每次崩溃与重启。

一次子进程运行的结局决定下一步：
- 退出码 0：引擎按要求停止（`ctl shutdown`、发给它的 SIGTERM）-> 通知，守护进程以 0 退出；
- 退出码 2（tradeterm/cli/main.py 的 EXIT_USER_ERROR：配置、凭据、日志库被另一个引擎占用……）：重启只会一样失败
  -> 通知（附最后几行日志），守护进程以 2 退出；
- 其他退出码（含负数：被信号杀死，如 SIGKILL 为 -9），或心跳沉默达到 hang_restart_after 被守护进程停掉
  -> 通知崩溃（附最后几行日志），等退避时间（tradeterm/supervisor/backoff.py），通知重启并再启动。
  重启是安全的：日志库是持久的，引擎启动时与交易所对账。
守护进程收到 SIGTERM/SIGINT（或到了 --duration）：把 SIGTERM 转给引擎，最多等 STOP_GRACE_S 秒（然后 SIGKILL），
通知“Supervisor stopped”，把渠道里的通知发完（有上限），以 0 退出。
时钟与睡眠可以替换，退避逻辑的测试不依赖墙上时间。
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Awaitable, Callable, Sequence

from tradeterm.cli.main import EXIT_USER_ERROR
from tradeterm.engine.control import control_paths
from tradeterm.notify.messages import Notification
from tradeterm.supervisor import notices
from tradeterm.supervisor.backoff import Backoff
from tradeterm.supervisor.child import EngineChild
from tradeterm.supervisor.heartbeat import Heartbeat

if TYPE_CHECKING:  # 只为类型标注
    from tradeterm.config.schema import AppConfig
    from tradeterm.notify.service import ChannelSet

# 停止守护进程时等引擎优雅退出的上限，秒（之后 SIGKILL）
STOP_GRACE_S = 30.0
# 心跳沉默太久而停掉引擎时等它优雅退出的上限，秒（之后 SIGKILL）
HANG_GRACE_S = 10.0
# 退出前等渠道把通知发完的上限，秒
FLUSH_TIMEOUT_S = 5.0
# 守护进程自己的输出行的前缀（引擎的输出原样转发，不加前缀）
SAY_PREFIX = "supervisor: "


@dataclass(frozen=True)
class ChildRun:
    """一次子进程运行的结局。"""

    code: int                    # 退出码；被信号杀死时为负的信号编号
    ran_for: float               # 运行了多久，秒（按守护进程的时钟）
    tail: tuple[str, ...]        # 最后几行输出（supervisor.log_lines 行）
    hung_for: float | None       # 因心跳沉默被停掉时为沉默的秒数；否则 None
    stopped: bool                # 是否因守护进程要停止而被停掉


def engine_command(config_path: Path, live: bool) -> list[str]:
    """引擎子进程的命令行：与 `tradeterm run --headless --config CFG [--live]` 相同的入口（--duration 不传下去）。"""
    argv = [sys.executable, "-m", "tradeterm.cli.main", "run", "--headless", "--config", str(config_path)]
    return [*argv, "--live"] if live else argv


def print_line(line: str) -> None:
    """把一行写到标准输出并立刻刷新（systemd 的日志逐行收到）。"""
    print(line, flush=True)


class Supervisor:
    """守护进程：运行引擎子进程、按结局重启或退出、心跳、通知。"""

    def __init__(self, config_path: Path, config: "AppConfig", channels: "ChannelSet", *,
                 command: Sequence[str] | None = None, env: dict[str, str] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 echo: Callable[[str], None] = print_line, handle_signals: bool = True):
        """config_path 为配置文件；config 为已校验的配置；channels 为 build_channels 的结果；
        command 为子进程命令行（None 为 engine_command）；env 为子进程环境（None 为继承）；
        clock、sleep 为时钟与睡眠（测试替换）；echo 为输出一行的函数；handle_signals 为是否接管 SIGTERM/SIGINT。"""
        # 配置文件路径（通知里显示）
        self.config_path = config_path
        # supervisor 配置块
        self.settings = config.supervisor
        # 引擎的日志库路径
        self.journal = config.journal_path()
        # 引擎的控制套接字与令牌文件（日志库旁边；路径太长时这里就抛 UserError，守护进程不启动）
        self.socket_path, self.token_path = control_paths(self.journal)
        # 通知渠道
        self.channels = channels
        # 子进程命令行
        self.command = list(command) if command is not None else engine_command(config_path, False)
        # 子进程环境；None 为继承守护进程的环境
        self.env = env
        # 单调时钟，秒
        self.clock = clock
        # 睡眠函数（退避等待与心跳间隔）
        self.sleep = sleep
        # 输出一行的函数
        self.echo = echo
        # 是否接管 SIGTERM/SIGINT
        self.handle_signals = handle_signals
        # 重启退避
        self.backoff = Backoff(self.settings.restart_delay, self.settings.restart_delay_max,
                               self.settings.stable_after)
        # 要求停止时置位（信号、--duration、request_stop）
        self.stopping = asyncio.Event()
        # 停止的原因（英文，通知里显示）
        self.stop_reason = ""
        # 当前的引擎子进程；没有在运行时为 None
        self.child: EngineChild | None = None
        # 已启动过的子进程数
        self.starts = 0

    def say(self, message: str) -> None:
        """守护进程自己的一行输出（带 SAY_PREFIX 前缀）。"""
        self.echo(SAY_PREFIX + message)

    def notify(self, notification: Notification) -> None:
        """发一条通知（同步、不等待），并把标题写到输出里。"""
        self.say(f"notice [{notification.severity}] {notification.title}")
        self.channels.send(notification)

    def request_stop(self, reason: str) -> None:
        """要求守护进程停止（可从信号处理里调用）；重复调用只记第一次的原因。"""
        if not self.stopping.is_set():
            self.stop_reason = reason
            self.stopping.set()

    async def run(self, duration: float | None = None) -> int:
        """运行直到引擎按要求停止、引擎无法启动、或守护进程被要求停止；返回守护进程的退出码。"""
        loop = asyncio.get_running_loop()
        signals = (signal.SIGTERM, signal.SIGINT) if self.handle_signals else ()
        for signum in signals:
            loop.add_signal_handler(signum, self.request_stop, signal.Signals(signum).name)
        timer = loop.call_later(duration, self.request_stop, f"--duration {duration:g} s") if duration else None
        self.channels.start()
        self.notify(notices.supervisor_started(self.config_path, self.journal, os.getpid()))
        try:
            return await self._supervise()
        finally:
            if timer is not None:
                timer.cancel()
            for signum in signals:
                loop.remove_signal_handler(signum)
            await self.channels.close(flush_timeout=FLUSH_TIMEOUT_S)

    async def _supervise(self) -> int:
        """主循环：启动子进程、看结局、重启或退出。"""
        while True:
            if self.stopping.is_set():
                self.notify(notices.supervisor_stopped(self.stop_reason, None))
                return 0
            run = await self.run_child()
            if run.stopped:
                self.notify(notices.supervisor_stopped(self.stop_reason, run.code))
                return 0
            if run.hung_for is None and run.code == 0:
                self.notify(notices.engine_finished(run.ran_for))
                return 0
            if run.hung_for is None and run.code == EXIT_USER_ERROR:
                self.notify(notices.engine_cannot_start(run.code, run.ran_for, run.tail))
                return EXIT_USER_ERROR
            if run.hung_for is not None:
                self.notify(notices.engine_hung(run.code, run.hung_for, run.tail))
            else:
                self.notify(notices.engine_crashed(run.code, run.ran_for, run.tail))
            plan = self.backoff.after_crash(run.ran_for)
            self.say(f"restarting the engine in {notices.seconds(plan.delay)} (attempt {plan.attempt})")
            if not await self._pause(plan.delay):
                continue  # 等待期间被要求停止：回到循环开头发“Supervisor stopped”
            self.notify(notices.engine_restarting(plan.attempt, plan.delay))

    async def run_child(self) -> ChildRun:
        """启动一个引擎子进程并看着它，直到它退出、心跳沉默太久、或守护进程被要求停止；返回结局。"""
        child = await EngineChild.start(self.command, self.env, self.settings.log_lines, self.echo)
        self.child = child
        self.starts += 1
        started = self.clock()
        self.say(f"engine started pid={child.pid}")
        heartbeat = Heartbeat(self.settings, self.socket_path, self.token_path, self.notify, clock=self.clock,
                              sleep=self.sleep)
        exited = asyncio.create_task(child.wait(), name="engine exit")
        beating = asyncio.create_task(heartbeat.watch(child.socket_ready), name="engine heartbeat")
        stopping = asyncio.create_task(self.stopping.wait(), name="supervisor stop")
        hung_for = None
        try:
            done, _ = await asyncio.wait({exited, beating, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if exited in done:
                code = exited.result()
            elif beating in done:
                hung_for = beating.result()
                self.say(f"engine pid={child.pid} silent for {notices.seconds(hung_for)}; stopping it")
                code = await child.stop(HANG_GRACE_S)
            else:
                self.say(f"stopping engine pid={child.pid} ({self.stop_reason})")
                code = await child.stop(STOP_GRACE_S)
        finally:
            for task in (exited, beating, stopping):
                task.cancel()
            await asyncio.gather(exited, beating, stopping, return_exceptions=True)
            await heartbeat.close()
            if child.returncode is None:  # 这里出了错（程序缺陷）：别留下没人管的引擎
                await child.stop(STOP_GRACE_S)
            await child.close()
            self.child = None
        ran_for = self.clock() - started
        self.say(f"engine pid={child.pid} ended: {notices.exit_detail(code, ran_for)}")
        stopped = hung_for is None and self.stopping.is_set()
        return ChildRun(code, ran_for, tuple(child.tail), hung_for, stopped)

    async def _pause(self, delay: float) -> bool:
        """退避等待 delay 秒；等待期间被要求停止时提前返回 False。"""
        sleeper = asyncio.ensure_future(self.sleep(delay))
        stopping = asyncio.create_task(self.stopping.wait())
        try:
            await asyncio.wait({sleeper, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, stopping):
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(sleeper, stopping, return_exceptions=True)
        return not self.stopping.is_set()


def supervise(config_path: str | Path, config: "AppConfig", *, live: bool, duration: float | None) -> int:
    """`tradeterm run --headless --supervise` 的入口（实盘确认已由调用方做过）：建渠道、运行守护进程，返回退出码。

    实盘时把确认短语放进子进程的 TRADETERM_LIVE_CONFIRM 环境变量：子进程没有终端，这是它通过确认的唯一方式
    （见 tradeterm/cli/live_guard.py）。渠道缺秘密时 build_channels 抛 ConfigError，守护进程不启动（退出码 2）。"""
    from tradeterm.cli.live_guard import LIVE_CONFIRM_ENV, confirmation_phrase
    from tradeterm.models import Mode
    from tradeterm.notify.service import build_channels

    channels = build_channels(config)
    path = Path(config_path).resolve()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if live and config.mode is Mode.LIVE:
        env[LIVE_CONFIRM_ENV] = confirmation_phrase(config.exchange.id)
    supervisor = Supervisor(path, config, channels, command=engine_command(path, live), env=env)
    return asyncio.run(supervisor.run(duration))
