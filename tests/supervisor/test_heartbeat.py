"""tradeterm/supervisor/heartbeat.py：守护进程经控制套接字给真实的引擎子进程发心跳。SIGSTOP 停住引擎（进程还在、
不再应答）-> 通知“不再应答”；SIGCONT -> 通知“又应答了”；配置了 hang_restart_after 时停住太久的引擎被停掉并重启。"""

from __future__ import annotations

import os
import signal

from tests.supervisor.conftest import EXIT_TIMEOUT_S, notices, nth_engine, supervised_config, titled, wait_until


async def test_a_stopped_engine_is_reported_and_its_recovery_too(short_dir, sandbox, hook, supervisors):
    """心跳每 0.2 秒、1 秒没有应答就通知、不重启（hang_restart_after: null）：SIGSTOP 之后收到
    “Engine stopped answering heartbeats”（critical），SIGCONT 之后收到 “Engine answers heartbeats again”（info）；
    引擎没有被重启。"""
    config_path = supervised_config(short_dir, sandbox.url, hook.hook_url(), heartbeat_interval=0.2,
                                    heartbeat_timeout=1, hang_restart_after=None)
    supervisor = await supervisors(config_path)
    engine = await nth_engine(supervisor, 1)
    seen = len(notices(hook))  # 机器很忙时此前可能已有过一次误报：只看停住之后的通知
    os.kill(engine, signal.SIGSTOP)
    try:
        await wait_until(lambda: titled(hook, "stopped answering heartbeats", seen), "the heartbeat-lost notice",
                         supervisor)
    finally:
        os.kill(engine, signal.SIGCONT)
    lost = titled(hook, "stopped answering heartbeats", seen)[0]
    assert lost["severity"] == "critical"
    assert "it is not restarted for this (supervisor.hang_restart_after: null)" in lost["lines"]
    await wait_until(lambda: titled(hook, "answers heartbeats again", seen), "the heartbeat-back notice", supervisor)
    assert titled(hook, "answers heartbeats again", seen)[0]["severity"] == "info"
    supervisor.proc.send_signal(signal.SIGTERM)
    assert await supervisor.wait_exit(EXIT_TIMEOUT_S) == 0, supervisor.output()
    assert not titled(hook, "Restarting engine")
    assert titled(hook, "Supervisor stopped")


async def test_an_engine_silent_for_hang_restart_after_is_stopped_and_restarted(short_dir, sandbox, hook,
                                                                                supervisors):
    """hang_restart_after 2 秒：SIGSTOP 的引擎沉默满 2 秒后被守护进程停掉（SIGTERM 加 SIGCONT，它优雅退出），
    通知“did not answer heartbeats ... and was stopped”并重启；新引擎有新的进程号。"""
    config_path = supervised_config(short_dir, sandbox.url, hook.hook_url(), heartbeat_interval=0.2,
                                    heartbeat_timeout=0.5, hang_restart_after=2, restart_delay=0.2)
    supervisor = await supervisors(config_path)
    first = await nth_engine(supervisor, 1)
    os.kill(first, signal.SIGSTOP)
    await wait_until(lambda: titled(hook, "was stopped"), "the hang notice", supervisor)
    assert titled(hook, "did not answer heartbeats for")
    await wait_until(lambda: titled(hook, "Restarting engine (attempt 1"), "the restart notice", supervisor)
    second = await nth_engine(supervisor, 2)
    assert second != first
    supervisor.proc.send_signal(signal.SIGTERM)
    assert await supervisor.wait_exit(EXIT_TIMEOUT_S) == 0, supervisor.output()
