"""事件总线（有界、慢订阅者丢最旧的）与实例状态机（命令的合法性、出错后恢复）。"""

from __future__ import annotations

import pytest

from tradeterm.engine import Event, EventBus, EventKind, InstanceState, InstanceStatus
from tradeterm.errors import UserError


async def test_every_subscriber_gets_every_event_in_order():
    """两个订阅者都按发布顺序收到全部事件；取消订阅后不再收到。"""
    bus = EventBus()
    first, second = bus.subscribe(), bus.subscribe()
    for i in range(3):
        bus.publish(Event(EventKind.LOG, i, {"message": f"m{i}"}))
    assert [e.ts for e in first.drain()] == [0, 1, 2]
    assert (await second.get()).ts == 0
    second.close()
    bus.publish(Event(EventKind.LOG, 9))
    assert [e.ts for e in first.drain()] == [9] and second.queue.qsize() == 2


def test_slow_subscriber_drops_oldest_without_blocking():
    """容量 3 的订阅者收到 5 条：留下最新 3 条，丢弃计数 2；发布者从不阻塞。"""
    bus = EventBus()
    slow = bus.subscribe(maxsize=3)
    for i in range(5):
        bus.publish(Event(EventKind.QUOTE, i))
    assert [e.ts for e in slow.drain()] == [2, 3, 4] and slow.dropped == 2


def test_instance_commands_follow_the_state_machine():
    """running -pause-> paused -resume-> running -stop-> stopped -start-> running；非法命令说明原因。"""
    state = InstanceState("btc")
    assert state.apply("pause") is InstanceStatus.PAUSED and not state.trading and state.receives_bars
    with pytest.raises(UserError, match="cannot pause instance 'btc' while it is paused"):
        state.apply("pause")
    state.apply("resume")
    state.apply("stop")
    assert not state.receives_bars
    with pytest.raises(UserError, match="cannot resume"):
        state.apply("resume")
    assert state.apply("start") is InstanceStatus.RUNNING
    with pytest.raises(UserError, match="unknown instance command 'restart'"):
        state.apply("restart")


def test_error_pauses_and_resume_clears_it():
    """策略出错：进入 error、不下单但仍收 K 线；resume 后回到 running 并清除错误。"""
    state = InstanceState("eth")
    state.fail("ZeroDivisionError: division by zero")
    assert state.status is InstanceStatus.ERROR and not state.trading and state.receives_bars
    state.apply("resume")
    assert state.trading and state.error == ""
