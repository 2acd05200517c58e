"""tradeterm/supervisor/runner.py：`tradeterm run --headless --supervise` 作为真实子进程，引擎是它的真实子进程，
对着测试里的沙盒交易所交易；通知经真实的 webhook 渠道 POST 到测试里的假接收端。退避的顺序用替换的睡眠与时钟、
以及立刻退出的真实子进程在本进程里检查（不依赖墙上时间）。"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from tests.engine.test_headless import ctl
from tests.supervisor.conftest import (EXIT_TIMEOUT_S, engine_pids, notices, nth_engine, supervised_config, titled,
                                       wait_until)
from tradeterm.cli.main import main
from tradeterm.config import load_config
from tradeterm.engine.factory import lock_journal
from tradeterm.notify.service import build_channels
from tradeterm.supervisor import Supervisor

# 假引擎：按计数文件里记下的第几次运行，依次以 1 退出、被 SIGKILL、以 3 退出，第 4 次以 0 退出（按要求停止）
FLAKY_ENGINE = """
import os, signal, sys
path = sys.argv[1]
runs = int(open(path).read()) if os.path.exists(path) else 0
open(path, "w").write(str(runs + 1))
print(f"fake engine run {runs + 1}", flush=True)
if runs == 0:
    sys.exit(1)
if runs == 1:
    os.kill(os.getpid(), signal.SIGKILL)
if runs == 2:
    sys.exit(3)
"""


async def test_a_sigkilled_engine_is_reported_restarted_and_sigterm_stops_the_supervisor(short_dir, sandbox, hook,
                                                                                         supervisors):
    """SIGKILL 引擎子进程：webhook 收到崩溃通知（标题含 crashed 与 exit code -9，附最后几行日志）与重启通知；
    新的引擎子进程（新的进程号）起来、控制套接字答 `ctl status`；SIGTERM 守护进程：它以 0 退出，webhook 收到
    “Supervisor stopped”，引擎也停了。"""
    config_path = supervised_config(short_dir, sandbox.url, hook.hook_url(), restart_delay=0.2,
                                    heartbeat_timeout=600, hang_restart_after=None, log_lines=5)
    supervisor = await supervisors(config_path)
    first = await nth_engine(supervisor, 1)
    await wait_until(lambda: titled(hook, "Supervisor started"), "the started notice", supervisor)
    os.kill(first, signal.SIGKILL)

    await wait_until(lambda: titled(hook, "crashed"), "the crash notice", supervisor)
    crash = titled(hook, "crashed")[0]
    assert crash["title"] == "Engine crashed (exit code -9)" and crash["severity"] == "critical"
    assert "killed by signal SIGKILL" in crash["lines"][0]
    # 附上的是引擎最后的输出（log_lines: 5 行），其中有它启动时打印的控制套接字那一行
    assert 1 < len(crash["lines"]) <= 6 and any("control socket:" in line for line in crash["lines"])
    await wait_until(lambda: titled(hook, "Restarting engine"), "the restart notice", supervisor)
    assert titled(hook, "Restarting engine")[0]["title"] == "Restarting engine (attempt 1, after 0.2 s)"

    second = await nth_engine(supervisor, 2)
    assert second != first
    code, out = await ctl(config_path, "status")
    assert code == 0 and "flip_btc" in out and "running" in out, out

    supervisor.proc.send_signal(signal.SIGTERM)
    assert await supervisor.wait_exit(EXIT_TIMEOUT_S) == 0, supervisor.output()
    stopped = titled(hook, "Supervisor stopped")
    assert stopped and "reason: SIGTERM" in stopped[0]["lines"]
    assert "engine exit code 0" in stopped[0]["lines"]  # 引擎收到转发的 SIGTERM 后优雅退出
    assert "engine stopped; positions and open orders were left as they are" in supervisor.output()
    assert engine_pids(supervisor) == [first, second]
    try:
        os.kill(second, 0)
        raise AssertionError(f"engine pid {second} still runs after the supervisor exited")
    except ProcessLookupError:
        pass


async def test_an_engine_that_exits_with_a_user_error_is_not_restarted(short_dir, sandbox, hook, supervisors):
    """日志库已被另一个引擎锁住：引擎子进程以 2（用户错误）退出。重启只会一样失败，所以守护进程不重启：
    通知“cannot start”（附引擎的错误消息）并自己以 2 退出；只启动过一个引擎。"""
    config_path = supervised_config(short_dir, sandbox.url, hook.hook_url(), restart_delay=0.1)
    fd = lock_journal(load_config(config_path).journal_path())  # 本测试进程扮演“另一个引擎”
    try:
        supervisor = await supervisors(config_path)
        assert await supervisor.wait_exit(EXIT_TIMEOUT_S) == 2, supervisor.output()
    finally:
        os.close(fd)
    assert len(engine_pids(supervisor)) == 1
    failed = titled(hook, "cannot start")
    assert failed and failed[0]["title"] == "Engine cannot start (exit code 2); not restarting"
    assert failed[0]["severity"] == "critical"
    assert any("another tradeterm engine is already running" in line for line in failed[0]["lines"])
    assert not titled(hook, "Restarting")


async def test_restarts_back_off_doubling_up_to_the_cap_until_the_engine_stops_on_purpose(short_dir, hook):
    """假引擎依次以 1、-9（SIGKILL）、3 退出，第 4 次以 0 退出：每次崩溃都通知并重启，等待 1、2、3 秒
    （restart_delay 1 翻倍、上限 restart_delay_max 3；睡眠被替换，不真的等）；最后守护进程以 0 退出。"""
    config_path = supervised_config(short_dir, "http://127.0.0.1:9", hook.hook_url(), restart_delay=1,
                                    restart_delay_max=3, stable_after=100)
    config = load_config(config_path)
    now = [1000.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        """替换的睡眠：记下时长，拨动假时钟，立刻返回。"""
        slept.append(seconds)
        now[0] += seconds

    echoed: list[str] = []
    command = [sys.executable, "-c", FLAKY_ENGINE, str(short_dir / "runs.txt")]
    supervisor = Supervisor(config_path, config, build_channels(config), command=command, clock=lambda: now[0],
                            sleep=sleep, echo=echoed.append, handle_signals=False)
    assert await supervisor.run() == 0
    assert slept == [1, 2, 3]
    said = [line.split("] ", 1)[1] for line in echoed if line.startswith("supervisor: notice [")]
    assert said == ["Supervisor started",
                    "Engine crashed (exit code 1)", "Restarting engine (attempt 1, after 1 s)",
                    "Engine crashed (exit code -9)", "Restarting engine (attempt 2, after 2 s)",
                    "Engine crashed (exit code 3)", "Restarting engine (attempt 3, after 3 s)",
                    "Engine stopped on purpose (exit code 0); supervisor exits"]
    assert [f"fake engine run {n}" for n in (1, 2, 3, 4)] == [line for line in echoed if line.startswith("fake")]
    # 关闭时渠道把队列发完：每一条都到了 webhook（挤在一起的几条可能合并成一条汇总）
    assert {body["title"] for body in notices(hook)} == set(said)
    crash = titled(hook, "Engine crashed (exit code 1)")[0]
    if crash["lines"]:  # 没被合并时带着正文：运行时长与引擎最后的输出
        assert crash["lines"] == ["exited with code 1 after running 0 s", "fake engine run 1"]


def test_supervise_needs_headless(tmp_path, capsys):
    """`tradeterm run --supervise` 不带 --headless：一行英文错误，退出码 2，什么也不启动。"""
    code = main(["run", "--supervise", "--config", str(Path(tmp_path) / "config.yml")])
    assert code == 2
    assert "--supervise: only works together with --headless" in capsys.readouterr().err
