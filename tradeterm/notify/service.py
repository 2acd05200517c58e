"""通知服务：按 config.yml 的 `notify:` 块组装渠道，挂到引擎的通知挂钩上，并运行 Telegram 命令与每日汇总。

- `build_channels(config)`：读秘密、建渠道（引擎与守护进程 tradeterm/supervisor 共用）；缺秘密时抛 ConfigError，
  在引擎启动之前就报出来；
- `ChannelSet`：一组渠道；`send` 同步、从不等待，每个渠道按自己的 events 过滤；
- `NotifyService`：引擎里的那一份：事件 -> 通知（tradeterm/notify/dispatcher.py 的 ChannelNotifier），启动与停止的
  通知，Telegram 命令轮询（tradeterm/notify/telegram_commands.py），每日汇总（tradeterm/notify/daily.py）。
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Mapping

from tradeterm.notify.channel import Channel
from tradeterm.notify.messages import Notification, engine_notice
from tradeterm.notify.secrets import LARK_KEY, TELEGRAM_KEY, NotifySecrets

if TYPE_CHECKING:  # 只为类型标注
    from tradeterm.config.schema import AppConfig
    from tradeterm.engine.trader import TraderEngine
    from tradeterm.notify.telegram import TelegramLink

# 本模块的日志器
log = logging.getLogger("tradeterm.notify")

# 停止时等渠道把队列发完的上限，秒
CLOSE_FLUSH_S = 5.0


class ChannelSet:
    """一组渠道（可以为空）与共用的 Telegram 连接。"""

    def __init__(self, channels: list[Channel], link: "TelegramLink | None" = None):
        """channels 为渠道列表；link 为 Telegram 的 Bot（命令轮询也用它），没有配置 Telegram 时为 None。"""
        # 全部渠道
        self.channels = channels
        # Telegram 的 Bot；None 为没有配置 Telegram
        self.link = link

    def __bool__(self) -> bool:
        """有没有渠道。"""
        return bool(self.channels)

    def start(self) -> None:
        """启动每个渠道的发送任务（需要在事件循环里调用）。"""
        for channel in self.channels:
            channel.start()

    def send(self, notification: Notification) -> int:
        """交给每个想要该类别的渠道（同步、从不等待），返回收下它的渠道数。"""
        return sum(channel.offer(notification) for channel in self.channels)

    async def close(self, flush_timeout: float = CLOSE_FLUSH_S) -> None:
        """各渠道最多等 flush_timeout 秒发完（并行等），然后停止并关闭连接。"""
        await asyncio.gather(*(channel.close(flush_timeout) for channel in self.channels))
        if self.link is not None:
            await self.link.close()

    def stats(self) -> list[dict[str, Any]]:
        """每个渠道的统计。"""
        return [channel.stats() for channel in self.channels]


def build_channels(config: "AppConfig", environ: Mapping[str, str] | None = None) -> ChannelSet:
    """按 notify 块建渠道；Telegram 令牌缺失、密钥文件权限不对时抛 ConfigError（说明怎么设置）。"""
    notify = config.notify
    secrets = NotifySecrets(config.notify_key_file(), environ)
    channels: list[Channel] = []
    link = None
    if notify.telegram is not None:
        from tradeterm.notify.telegram import TelegramChannel, TelegramLink

        token = secrets.require(notify.telegram.token_env, TELEGRAM_KEY, "notify.telegram")
        link = TelegramLink(notify.telegram, token)
        channels.append(TelegramChannel(notify.telegram, link))
    if notify.lark is not None:
        from tradeterm.config.credentials import register_secrets
        from tradeterm.notify.lark import LarkChannel

        register_secrets([notify.lark.webhook_url.rstrip("/").rsplit("/", 1)[-1]])  # hook id 也是凭证
        secret = secrets.get(notify.lark.secret_env, LARK_KEY)
        if secret is None:
            log.warning("notify.lark: no signing secret (%s); messages are sent unsigned. Turn on signature "
                        "verification in the Lark bot settings and set the secret", notify.lark.secret_env)
        channels.append(LarkChannel(notify.lark, secret))
    for index, hook in enumerate(notify.webhooks):
        from tradeterm.notify.webhook import WebhookChannel

        secret = secrets.require(hook.secret_env, hook.secret_env, f"notify.webhooks[{index}]") \
            if hook.secret_env else None
        channels.append(WebhookChannel(hook, secret, index))
    return ChannelSet(channels, link)


class NotifyService:
    """引擎里的通知：事件转通知、启动与停止的通知、Telegram 命令、每日汇总。"""

    def __init__(self, config: "AppConfig", channels: ChannelSet):
        """config 为应用配置；channels 为 build_channels 的结果。"""
        # 应用配置
        self.config = config
        # 渠道
        self.channels = channels
        # 引擎（start 时给）
        self.engine: "TraderEngine | None" = None
        # 后台任务（命令轮询、每日汇总）
        self.tasks: list[asyncio.Task] = []
        # Telegram 命令处理（配置了且 commands: true 时）
        self.commands = None

    def attach(self, engine: "TraderEngine") -> None:
        """挂到引擎的通知挂钩上（在 engine.start 之前：启动时的对账问题、一键停止状态也会通知）。"""
        from tradeterm.notify.dispatcher import ChannelNotifier

        self.engine = engine
        engine.notifier.add(ChannelNotifier(self.channels))
        engine.notify_stats = self.channels.stats

    async def start(self) -> None:
        """引擎已启动：启动渠道、发“引擎已启动”，再启动命令轮询与每日汇总。"""
        engine = self.engine
        assert engine is not None, "attach() the service to an engine first"
        self.channels.start()
        self.channels.send(engine_notice(True, engine.mode, engine.exchange_label, list(engine.bots)))
        telegram = self.config.notify.telegram
        if telegram is not None and telegram.commands and self.channels.link is not None:
            from tradeterm.engine.client import InProcessClient
            from tradeterm.notify.telegram_commands import TelegramCommands

            self.commands = TelegramCommands(self.channels.link, InProcessClient(engine))
            self.tasks.append(asyncio.create_task(self.commands.run(), name="telegram commands"))
        if self.config.notify.daily_summary:
            from tradeterm.notify.daily import DailySummary

            summary = DailySummary(engine, self.channels, self.config.notify.daily_summary)
            self.tasks.append(asyncio.create_task(summary.run(), name="daily summary"))

    async def close(self) -> None:
        """停止命令与汇总，发“引擎已停止”，等渠道发完（有上限）后关闭。"""
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks.clear()
        if self.engine is not None and self.channels:
            for event in self.engine.notify_subscription.drain():  # 引擎停止前最后的事件（停止过程中落地的成交）
                self.engine.notifier.dispatch(event)
            self.channels.send(engine_notice(False, self.engine.mode, self.engine.exchange_label,
                                             list(self.engine.bots)))
        await self.channels.close()
