"""通知派发：只派发值得通知的事件；一个通知器出错不影响其他通知器。"""

from __future__ import annotations

import logging

from tradeterm.engine import Event, EventKind
from tradeterm.notify import LogNotifier, NotificationDispatcher


class Recorder:
    """记下收到的事件。"""

    def __init__(self):
        """空记录。"""
        # 收到的事件
        self.events: list[Event] = []

    def notify(self, event: Event) -> None:
        """记录。"""
        self.events.append(event)


class Broken:
    """总是失败的通知器（模拟第三方服务宕机）。"""

    def notify(self, event: Event) -> None:
        """抛异常。"""
        raise ConnectionError("service down")


def test_only_notable_events_are_dispatched_and_failures_are_contained(caplog):
    """成交被派发给两个通知器，坏的那个计失败一次；报价事件不派发。"""
    recorder = Recorder()
    dispatcher = NotificationDispatcher([Broken(), recorder])
    fill = Event(EventKind.FILL, 1, {"symbol": "BTC/USDT", "amount": 0.1})
    with caplog.at_level(logging.ERROR, logger="tradeterm.notify"):
        assert dispatcher.dispatch(fill) == 1
    assert dispatcher.dispatch(Event(EventKind.QUOTE, 2)) == 0
    assert recorder.events == [fill] and dispatcher.failures == 1
    assert "notifier failed notifier=Broken kind=fill" in caplog.text


def test_log_notifier_writes_key_value_line(caplog):
    """日志通知器：一行 key=value。"""
    with caplog.at_level(logging.INFO, logger="tradeterm.notify"):
        LogNotifier().notify(Event(EventKind.BREAKER, 5, {"rule": "max_drawdown"}))
    assert "notify kind=breaker ts=5 rule=max_drawdown" in caplog.text
