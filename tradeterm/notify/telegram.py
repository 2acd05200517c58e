"""Telegram 渠道：经 python-telegram-bot（异步，httpx）的 Bot 对象把提醒发到 notify.telegram.chat_ids 的每个聊天。

同一个 Bot 对象（TelegramLink）也给命令轮询用（tradeterm/notify/telegram_commands.py）：Bot 有两个连接池，
getUpdates 的长轮询用自己的那个，不会挡住提醒的发送。`api_url` 可以指向自建的 Bot API 服务器或本地测试服务器
（python-telegram-bot 的 base_url 为 API 根加 `/bot`，令牌接在后面）。
"""

from __future__ import annotations

import asyncio
import datetime as dt
import warnings
from typing import Any

from tradeterm.config.notify import TelegramConfig
from tradeterm.notify.channel import Channel, DeliveryError
from tradeterm.notify.messages import Notification

# Telegram 一条消息的最多字符数
TELEGRAM_MAX_TEXT = 4096
# 严重程度 -> 消息开头的标记（纯文本消息里一眼看出轻重）
SEVERITY_MARK = {"info": "[i]", "warning": "[!]", "critical": "[!!!]"}


class TelegramLink:
    """一个已配置的 python-telegram-bot Bot（第一次用时 initialize：getMe 校验令牌）。"""

    def __init__(self, config: TelegramConfig, token: str):
        """config 为 notify.telegram；token 为机器人令牌（只在内存中，已登记为秘密）。"""
        from telegram import Bot
        from telegram.request import HTTPXRequest

        # notify.telegram 配置
        self.config = config
        # 长轮询的读超时要比 getUpdates 的等待更长，秒
        poll_read = config.poll_timeout + config.timeout
        # python-telegram-bot 的 Bot（普通请求与 getUpdates 各一个连接池）
        self.bot = Bot(token, base_url=f"{config.api_url}/bot",
                       request=HTTPXRequest(connection_pool_size=4, connect_timeout=config.timeout,
                                            read_timeout=config.timeout, write_timeout=config.timeout,
                                            pool_timeout=config.timeout),
                       get_updates_request=HTTPXRequest(connect_timeout=config.timeout, read_timeout=poll_read,
                                                        write_timeout=config.timeout, pool_timeout=config.timeout))
        # 已完成 initialize
        self.ready = False
        # 并发的 initialize 只做一次
        self.lock = asyncio.Lock()

    async def ensure_ready(self) -> Any:
        """initialize（getMe）一次，返回 Bot；失败抛 DeliveryError（令牌被拒时不可重试）。"""
        from telegram.error import InvalidToken

        async with self.lock:
            if not self.ready:
                try:
                    await self.bot.initialize()
                except InvalidToken:
                    raise DeliveryError("the Bot API rejected the bot token; check TRADETERM_TELEGRAM_TOKEN",
                                        retryable=False) from None
                except Exception as exc:  # 连接失败等：交给调用方重试
                    raise as_delivery_error(exc) from None
                self.ready = True
        return self.bot

    async def close(self) -> None:
        """关闭连接池。"""
        if self.ready:
            try:
                await self.bot.shutdown()
            except Exception:  # 关闭时的网络错误不重要
                pass
            self.ready = False


def as_delivery_error(exc: Exception) -> DeliveryError:
    """python-telegram-bot 的异常 -> DeliveryError：RetryAfter 按服务端的等待，超时与网络错误可重试，
    Forbidden/BadRequest（机器人被踢、聊天不存在、消息不合法）不可重试。"""
    from telegram.error import BadRequest, Forbidden, InvalidToken, RetryAfter

    if isinstance(exc, RetryAfter):
        with warnings.catch_warnings():  # 22.x 读 retry_after 会提示它将来改成 timedelta：两种类型下面都处理
            warnings.simplefilter("ignore")
            after = exc.retry_after
        seconds = after.total_seconds() if isinstance(after, dt.timedelta) else float(after)
        return DeliveryError(f"flood control: retry in {seconds:g} s", retry_after=seconds)
    if isinstance(exc, (Forbidden, BadRequest, InvalidToken)):
        return DeliveryError(f"{type(exc).__name__}: {exc}", retryable=False)
    return DeliveryError(f"{type(exc).__name__}: {exc}")


class TelegramChannel(Channel):
    """把通知发到每个配置的聊天（纯文本，不用 Markdown：交易对、原因里的 _ 与 * 不会被当成格式）。"""

    # 渠道名
    name = "telegram"

    def __init__(self, config: TelegramConfig, link: TelegramLink):
        """config 为 notify.telegram；link 为共用的 Bot。"""
        super().__init__(config)
        # 共用的 Bot
        self.link = link
        # 已送达本条消息的聊天（重试时不重复发给已收到的聊天）
        self._done: set[int] = set()

    async def deliver(self, message: Notification) -> None:
        """发给每个聊天；某个聊天失败时抛出（重试只发还没收到的聊天）。"""
        bot = await self.link.ensure_ready()
        text = f"{SEVERITY_MARK.get(message.severity, '')} {message.text()}".strip()[:TELEGRAM_MAX_TEXT]
        for chat_id in self.link.config.chat_ids:
            if chat_id in self._done:
                continue
            try:
                await bot.send_message(chat_id=chat_id, text=text)
            except Exception as exc:
                raise as_delivery_error(exc) from None
            self._done.add(chat_id)
        self._done.clear()

    async def send_with_retries(self, message: Notification) -> bool:
        """同基类；新消息开始时清空“已送达的聊天”。"""
        self._done.clear()
        return await super().send_with_retries(message)

    async def release(self) -> None:
        """关闭 Bot 的连接池（命令轮询也用它，由 NotifyService 在最后关闭）。"""
