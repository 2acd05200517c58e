"""飞书/Lark 渠道：自定义机器人的 webhook，消息为交互卡片（标题颜色按严重程度），带签名。

签名按飞书的规则：`sign = base64(HMAC-SHA256(key = f"{timestamp}\n{secret}", message = b""))`——注意密钥是
“时间戳 + 换行 + 密钥”这个字符串，消息是空的；timestamp 为秒，服务端拒绝过旧的时间戳，所以每次（含重试）现算。
应答的 JSON 里 code 为 0 才算成功（HTTP 200 也可能是签名不对、被限流）。
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

from tradeterm.config.notify import LarkConfig
from tradeterm.notify.channel import Channel, DeliveryError
from tradeterm.notify.messages import Notification
from tradeterm.notify.webhook import post_json

# 严重程度 -> 卡片标题的颜色模板
TEMPLATES = {"info": "blue", "warning": "orange", "critical": "red"}
# 飞书表示“请求太频繁”的错误码（可重试）
RATE_LIMIT_CODES = frozenset({9499, 11232})


def lark_sign(timestamp: int, secret: str) -> str:
    """飞书自定义机器人的签名：密钥为 f"{timestamp}\\n{secret}"，消息为空，HMAC-SHA256 后 base64。"""
    key = f"{timestamp}\n{secret}".encode("utf-8")
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode("ascii")


def card(message: Notification) -> dict[str, Any]:
    """一条通知的交互卡片：标题（颜色按严重程度）与正文（lark_md，每行一段）。"""
    body = "\n".join(message.lines) or message.title
    return {"config": {"wide_screen_mode": True},
            "header": {"title": {"tag": "plain_text", "content": message.title},
                       "template": TEMPLATES.get(message.severity, "blue")},
            "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": body}}]}


class LarkChannel(Channel):
    """把通知作为卡片发到飞书群的自定义机器人。"""

    # 渠道名
    name = "lark"

    def __init__(self, config: LarkConfig, secret: str | None):
        """config 为 notify.lark；secret 为签名密钥（None 时不签名）。"""
        super().__init__(config)
        # webhook 地址
        self.url = config.webhook_url
        # 签名密钥；None 为不签名
        self.secret = secret
        # HTTP 会话（第一次发送时创建）
        self.session = None
        # 当前时间，秒（测试可以换掉，用来造过期的时间戳）
        self.clock = time.time

    def payload(self, message: Notification) -> dict[str, Any]:
        """请求体：卡片，有密钥时加 timestamp 与 sign。"""
        body: dict[str, Any] = {"msg_type": "interactive", "card": card(message)}
        if self.secret:
            timestamp = int(self.clock())
            body = {"timestamp": str(timestamp), "sign": lark_sign(timestamp, self.secret), **body}
        return body

    async def deliver(self, message: Notification) -> None:
        """POST 卡片；HTTP 或飞书的错误码都抛 DeliveryError（限流与 5xx 可重试）。"""
        import aiohttp

        if self.session is None:
            self.session = aiohttp.ClientSession()
        status, answer = await post_json(self.session, self.url, self.payload(message))
        code = answer.get("code", answer.get("StatusCode", 0)) if isinstance(answer, dict) else 0
        if status == 200 and code == 0:
            return
        text = answer.get("msg", "") if isinstance(answer, dict) else str(answer)[:200]
        retryable = status >= 500 or status == 429 or code in RATE_LIMIT_CODES
        raise DeliveryError(f"lark webhook answered HTTP {status}, code {code}: {text}", retryable=retryable)

    async def release(self) -> None:
        """关闭 HTTP 会话。"""
        if self.session is not None:
            await self.session.close()
            self.session = None
