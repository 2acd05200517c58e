"""通知的挂钩点：订阅事件总线，把值得通知的事件交给每个通知器（日志，以及 config.yml 的 notify 块配置的渠道）。

通知器出错（网络、第三方服务）绝不能影响交易：异常被记录并计数，派发继续。
"""

from __future__ import annotations

import logging
from typing import Protocol

from tradeterm.engine.events import Event, EventKind

# 值得通知的事件种类
NOTIFY_KINDS = frozenset({EventKind.FILL, EventKind.REJECTION, EventKind.BREAKER, EventKind.ERROR, EventKind.STALE,
                          EventKind.KILL_SWITCH, EventKind.RECONCILE})
# 本模块的日志记录器
logger = logging.getLogger("tradeterm.notify")


class Notifier(Protocol):
    """通知器接口：一个方法，收到一个事件。"""

    def notify(self, event: Event) -> None:
        """发送一条通知（可以很慢，但不应抛异常；抛了也只会被记录）。"""


class LogNotifier:
    """把通知写进日志（key=value 格式）。"""

    def notify(self, event: Event) -> None:
        """一行一条：kind 与负载字段。"""
        fields = " ".join(f"{k}={v}" for k, v in event.data.items())
        logger.info("notify kind=%s ts=%s %s", event.kind.value, event.ts, fields)


class ChannelNotifier:
    """把事件变成通知（tradeterm/notify/messages.py）交给一组渠道（tradeterm/notify/service.py 的 ChannelSet）。
    同步、从不等待：渠道各自在自己的任务里发送。"""

    def __init__(self, channels):
        """channels 为 ChannelSet。"""
        # 渠道
        self.channels = channels

    def notify(self, event: Event) -> None:
        """事件 -> 通知 -> 每个想要它的渠道。"""
        from tradeterm.notify.messages import from_event

        notification = from_event(event)
        if notification is not None:
            self.channels.send(notification)


class NotificationDispatcher:
    """把事件分发给通知器；只处理 NOTIFY_KINDS 里的种类。"""

    def __init__(self, notifiers: list[Notifier] | None = None):
        """notifiers 为通知器列表。"""
        # 已注册的通知器
        self.notifiers: list[Notifier] = list(notifiers or [])
        # 通知器抛出的异常次数（累计）
        self.failures = 0

    def add(self, notifier: Notifier) -> None:
        """注册一个通知器。"""
        self.notifiers.append(notifier)

    def dispatch(self, event: Event) -> int:
        """派发一个事件，返回成功送达的通知器个数；不值得通知的事件返回 0。"""
        if event.kind not in NOTIFY_KINDS:
            return 0
        delivered = 0
        for notifier in self.notifiers:
            try:
                notifier.notify(event)
                delivered += 1
            except Exception:  # 通知失败不影响交易，只记录
                self.failures += 1
                logger.exception("notifier failed notifier=%s kind=%s", type(notifier).__name__, event.kind.value)
        return delivered
