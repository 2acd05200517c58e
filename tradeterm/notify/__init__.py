"""通知层：把成交、拒单、熔断、错误等事件交给通知器（日志、终端铃声，以及之后的 Telegram/邮件等）。"""

from tradeterm.notify.dispatcher import NOTIFY_KINDS, LogNotifier, NotificationDispatcher, Notifier

__all__ = ["NOTIFY_KINDS", "LogNotifier", "NotificationDispatcher", "Notifier"]
