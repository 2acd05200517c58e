"""通用 webhook 渠道：JSON POST，载荷形状可选 generic（tradeterm 自己的字段）、slack（`{"text": ...}`）、
discord（`{"content": ...}`），可选 HMAC-SHA256 签名头。

签名（配置了 secret_env 时）：`X-Tradeterm-Timestamp: <秒>`，`X-Tradeterm-Signature: sha256=<hex>`，
其中 hex = HMAC-SHA256(key = 密钥, message = f"{timestamp}.{请求体}")：接收方用同一个密钥复算、比较，
并拒绝过旧的时间戳（防重放）。
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from tradeterm.config.notify import WebhookConfig
from tradeterm.notify.channel import Channel, DeliveryError
from tradeterm.notify.messages import Notification

# Discord 一条消息的最多字符数
DISCORD_MAX_TEXT = 2000


def webhook_signature(secret: str, timestamp: int, body: bytes) -> str:
    """签名头的值：sha256= 加 HMAC-SHA256(密钥, f"{timestamp}." + 请求体) 的十六进制。"""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def shaped(message: Notification, shape: str) -> dict[str, Any]:
    """按载荷形状组织一条通知。"""
    if shape == "slack":
        return {"text": f"*{message.title}*\n" + "\n".join(message.lines)}
    if shape == "discord":
        return {"content": (f"**{message.title}**\n" + "\n".join(message.lines))[:DISCORD_MAX_TEXT]}
    return {"source": "tradeterm", "category": message.category, "severity": message.severity,
            "title": message.title, "lines": list(message.lines), "text": message.text(), "ts": message.ts,
            "count": message.count}


async def post_json(session, url: str, payload: dict[str, Any],
                    headers: dict[str, str] | None = None, body: bytes | None = None) -> tuple[int, Any]:
    """POST 一个 JSON 请求体，返回 (HTTP 状态, 解析后的应答；不是 JSON 时为文本)。连接错误原样抛出（由渠道重试）。"""
    data = body if body is not None else json.dumps(payload, ensure_ascii=False).encode("utf-8")
    async with session.post(url, data=data, headers={"Content-Type": "application/json", **(headers or {})}) as reply:
        text = await reply.text()
        try:
            return reply.status, json.loads(text) if text else {}
        except ValueError:
            return reply.status, text


class WebhookChannel(Channel):
    """把通知 POST 到一个地址。"""

    # 渠道名（日志里加上序号，见 __init__）
    name = "webhook"

    def __init__(self, config: WebhookConfig, secret: str | None, index: int = 0):
        """config 为 notify.webhooks 的一项；secret 为 HMAC 密钥（None 时不签名）；index 为它在列表里的序号。"""
        super().__init__(config)
        # 渠道名：webhook[序号]
        self.name = f"webhook[{index}]"
        # 接收地址
        self.url = config.url
        # 载荷形状
        self.shape = config.format
        # HMAC 密钥；None 为不签名
        self.secret = secret
        # HTTP 会话（第一次发送时创建）
        self.session = None

    async def deliver(self, message: Notification) -> None:
        """POST；2xx 为成功，5xx 与 429 可重试，其余 4xx 不可重试。"""
        import aiohttp

        if self.session is None:
            self.session = aiohttp.ClientSession()
        body = json.dumps(shaped(message, self.shape), ensure_ascii=False).encode("utf-8")
        headers = {}
        if self.secret:
            timestamp = int(time.time())
            headers = {"X-Tradeterm-Timestamp": str(timestamp),
                       "X-Tradeterm-Signature": webhook_signature(self.secret, timestamp, body)}
        status, answer = await post_json(self.session, self.url, {}, headers, body)
        if 200 <= status < 300:
            return
        raise DeliveryError(f"webhook answered HTTP {status}: {str(answer)[:200]}",
                            retryable=status >= 500 or status == 429)

    async def release(self) -> None:
        """关闭 HTTP 会话。"""
        if self.session is not None:
            await self.session.close()
            self.session = None
