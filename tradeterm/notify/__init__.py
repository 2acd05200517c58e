"""通知层：把成交、拒单、熔断、错误等事件交给通知器（日志，以及 Telegram、飞书/Lark、通用 webhook 渠道；见 tradeterm/notify/service.py）。"""

from tradeterm.notify.dispatcher import NOTIFY_KINDS, LogNotifier, NotificationDispatcher, Notifier

__all__ = ["NOTIFY_KINDS", "LogNotifier", "NotificationDispatcher", "Notifier"]
