"""通知测试用的本地假服务（aiohttp，127.0.0.1 随机端口）：按真实服务的接口与规则实现，真实的客户端库对着它们跑。

- FakeTelegram：Bot API 的 getMe、getUpdates（长轮询、offset 确认）、sendMessage、answerCallbackQuery、
  editMessageText；参数按真实 API 的方式收（表单或 JSON，对象字段是 JSON 文字）；可注入挂起、500、429；
  测试用 push_message / push_callback 造“用户发来的”更新；
- FakeLark：飞书自定义机器人 webhook，按飞书的规则独立验签（密钥 = f"{timestamp}\\n{secret}"，消息为空），
  拒绝离服务器时间超过一小时的时间戳；
- FakeHook：通用 webhook 的接收端，记下每个请求体与头；可注入挂起与错误状态。
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import socket
import time
from typing import Any

from aiohttp import web

# 假 Bot API 认的令牌
TOKEN = "123456:TEST-token-for-the-fake-bot-api"
# 机器人自己的用户 id
BOT_ID = 123456
# 对象类型的参数（表单里是 JSON 文字）
JSON_PARAMS = ("reply_markup", "allowed_updates")
# 整数类型的参数
INT_PARAMS = ("chat_id", "message_id", "offset", "timeout", "limit")


class FakeServer:
    """一个 aiohttp 服务的启动与停止。"""

    def __init__(self) -> None:
        """创建应用（子类在 routes 里加路由）。"""
        # aiohttp 应用
        self.app = web.Application()
        # 运行器
        self.runner: web.AppRunner | None = None
        # 服务地址，如 http://127.0.0.1:端口
        self.url = ""
        # 正在挂起的请求数（挂起注入时）
        self.hanging = 0
        # 每个请求挂起多少秒；0 为不挂
        self.hang_s = 0.0
        # 停止时置位：挂起中的请求立即结束（否则关服务要等它们挂满）
        self.released = asyncio.Event()

    async def start(self) -> "FakeServer":
        """在随机端口上启动。"""
        self.runner = web.AppRunner(self.app)
        await self.runner.setup()
        # 自己绑定随机端口的套接字再交给 aiohttp：这样不用读 aiohttp 的私有属性就知道端口
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self.runner, sock).start()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        return self

    async def stop(self) -> None:
        """停止（挂起中的请求被取消）。"""
        self.released.set()
        if self.runner is not None:
            await self.runner.cleanup()

    async def maybe_hang(self) -> None:
        """注入的挂起：等 hang_s 秒再回答。"""
        if self.hang_s:
            self.hanging += 1
            try:
                await asyncio.wait_for(self.released.wait(), self.hang_s)
            except asyncio.TimeoutError:
                pass
            finally:
                self.hanging -= 1


class FakeTelegram(FakeServer):
    """假的 Telegram Bot API。"""

    def __init__(self, token: str = TOKEN):
        """token 为它认的机器人令牌。"""
        super().__init__()
        # 认的令牌
        self.token = token
        # 待取的更新（update_id 递增）
        self.updates: list[dict[str, Any]] = []
        # 下一个 update_id
        self.next_update = 1
        # 下一个 message_id
        self.next_message = 1
        # 发出的消息：{chat_id, text, reply_markup, message_id}
        self.sent: list[dict[str, Any]] = []
        # 改写过的消息：{chat_id, message_id, text}
        self.edits: list[dict[str, Any]] = []
        # 按钮回调的应答：{callback_query_id, text}
        self.answers: list[dict[str, Any]] = []
        # 每个方法被调用的次数
        self.calls: dict[str, int] = {}
        # 接下来这么多次 sendMessage 回 500
        self.fail_next = 0
        # 接下来这么多次 sendMessage 回 429（retry_after 1 秒）
        self.flood_next = 0
        # 有新更新时通知长轮询
        self.changed = asyncio.Condition()
        self.app.router.add_post("/bot{token}/{method}", self.handle)
        self.app.router.add_get("/bot{token}/{method}", self.handle)

    def api_url(self) -> str:
        """给 notify.telegram.api_url 的值（API 根，不含 /bot）。"""
        return self.url

    async def params(self, request: web.Request) -> dict[str, Any]:
        """按真实 API 的方式收参数：JSON 请求体，或表单（对象字段为 JSON 文字，数字为文字）。"""
        if request.content_type == "application/json":
            return await request.json()
        form = dict(await request.post())
        out: dict[str, Any] = {}
        for key, value in form.items():
            if key in JSON_PARAMS:
                out[key] = json.loads(value)
            elif key in INT_PARAMS:
                out[key] = int(value)
            else:
                out[key] = value
        return out

    async def handle(self, request: web.Request) -> web.Response:
        """一个 Bot API 方法调用。"""
        method = request.match_info["method"]
        self.calls[method] = self.calls.get(method, 0) + 1
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        params = await self.params(request)
        handler = {"getMe": self.get_me, "getUpdates": self.get_updates, "sendMessage": self.send_message,
                   "answerCallbackQuery": self.answer_callback, "editMessageText": self.edit_message,
                   "deleteWebhook": self.ok_true}.get(method)
        if handler is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found: method not found"},
                                     status=404)
        return await handler(params)

    def bot_user(self) -> dict[str, Any]:
        """机器人自己的 User 对象。"""
        return {"id": BOT_ID, "is_bot": True, "first_name": "tradeterm", "username": "tradeterm_test_bot"}

    async def ok_true(self, params: dict[str, Any]) -> web.Response:
        """返回 true 的方法。"""
        return web.json_response({"ok": True, "result": True})

    async def get_me(self, params: dict[str, Any]) -> web.Response:
        """getMe。"""
        return web.json_response({"ok": True, "result": self.bot_user()})

    async def get_updates(self, params: dict[str, Any]) -> web.Response:
        """getUpdates：offset 之前的更新算已确认、删掉；没有更新时最多等 timeout 秒（长轮询）。"""
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        async with self.changed:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
            if not self.updates and timeout:
                try:
                    await asyncio.wait_for(self.changed.wait(), timeout)
                except asyncio.TimeoutError:
                    pass
            return web.json_response({"ok": True, "result": list(self.updates)})

    def message(self, chat_id: int, text: str, markup: Any = None) -> dict[str, Any]:
        """机器人发出的 Message 对象。"""
        message = {"message_id": self.next_message, "date": int(time.time()), "from": self.bot_user(),
                   "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"}, "text": text}
        if markup:
            message["reply_markup"] = markup
        self.next_message += 1
        return message

    async def send_message(self, params: dict[str, Any]) -> web.Response:
        """sendMessage：记下消息；注入的挂起、500、429 先生效。"""
        await self.maybe_hang()
        if self.fail_next:
            self.fail_next -= 1
            return web.json_response({"ok": False, "error_code": 500, "description": "Internal Server Error"},
                                     status=500)
        if self.flood_next:
            self.flood_next -= 1
            return web.json_response({"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 1",
                                      "parameters": {"retry_after": 1}}, status=429)
        message = self.message(int(params["chat_id"]), str(params["text"]), params.get("reply_markup"))
        self.sent.append({"chat_id": message["chat"]["id"], "text": message["text"],
                          "reply_markup": params.get("reply_markup"), "message_id": message["message_id"]})
        return web.json_response({"ok": True, "result": message})

    async def answer_callback(self, params: dict[str, Any]) -> web.Response:
        """answerCallbackQuery。"""
        self.answers.append({"callback_query_id": params.get("callback_query_id"), "text": params.get("text")})
        return web.json_response({"ok": True, "result": True})

    async def edit_message(self, params: dict[str, Any]) -> web.Response:
        """editMessageText：记下改写。"""
        chat_id, message_id = int(params["chat_id"]), int(params["message_id"])
        self.edits.append({"chat_id": chat_id, "message_id": message_id, "text": params["text"]})
        message = self.message(chat_id, str(params["text"]))
        message["message_id"] = message_id
        return web.json_response({"ok": True, "result": message})

    async def push(self, update: dict[str, Any]) -> int:
        """放入一条更新，唤醒长轮询；返回它的 update_id。"""
        async with self.changed:
            update["update_id"] = self.next_update
            self.next_update += 1
            self.updates.append(update)
            self.changed.notify_all()
        return update["update_id"]

    async def push_message(self, chat_id: int, text: str, user_id: int | None = None,
                           date: int | None = None) -> int:
        """造一条用户发给机器人的文字消息（user_id 缺省与 chat_id 相同，即私聊）。"""
        user = user_id if user_id is not None else chat_id
        entities = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}] if text.startswith("/") else []
        return await self.push({"message": {
            "message_id": 10_000 + self.next_update, "date": date if date is not None else int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
            "from": {"id": user, "is_bot": False, "first_name": "Trader"}, "text": text, "entities": entities}})

    async def push_callback(self, chat_id: int, message_id: int, data: str, user_id: int | None = None) -> int:
        """造一次用户按下内联按钮（按在机器人的 message_id 那条消息上）。"""
        user = user_id if user_id is not None else chat_id
        original = next((m for m in self.sent if m["message_id"] == message_id), None)
        message = self.message(chat_id, original["text"] if original else "")
        message["message_id"] = message_id
        return await self.push({"callback_query": {
            "id": f"cq{self.next_update}", "from": {"id": user, "is_bot": False, "first_name": "Trader"},
            "chat_instance": "1", "data": data, "message": message}})

    def texts(self, chat_id: int | None = None) -> list[str]:
        """发出的消息文字（可只看一个聊天）。"""
        return [m["text"] for m in self.sent if chat_id is None or m["chat_id"] == chat_id]


def reference_lark_sign(timestamp: int, secret: str) -> str:
    """飞书文档里的签名算法（独立写一遍，不用被测代码）：HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=b"")。"""
    key = f"{timestamp}\n{secret}".encode("utf-8")
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode("utf-8")


class FakeLark(FakeServer):
    """假的飞书自定义机器人 webhook。"""

    # 离服务器时间超过它的时间戳被拒，秒（飞书：一小时）
    MAX_SKEW_S = 3600

    def __init__(self, secret: str | None):
        """secret 为机器人开启的签名密钥；None 为不校验签名。"""
        super().__init__()
        # 签名密钥
        self.secret = secret
        # 收到并接受的请求体
        self.accepted: list[dict[str, Any]] = []
        # 被拒的请求体
        self.rejected: list[dict[str, Any]] = []
        self.app.router.add_post("/open-apis/bot/v2/hook/{hook}", self.handle)

    def hook_url(self) -> str:
        """给 notify.lark.webhook_url 的值。"""
        return f"{self.url}/open-apis/bot/v2/hook/0e4f-test-hook-id"

    async def handle(self, request: web.Request) -> web.Response:
        """按飞书的规则验签并回答（HTTP 200，code 0 为成功）。"""
        await self.maybe_hang()
        body = await request.json()
        if self.secret is not None:
            try:
                timestamp = int(body.get("timestamp", ""))
            except ValueError:
                timestamp = 0
            fresh = abs(time.time() - timestamp) <= self.MAX_SKEW_S
            if not fresh or body.get("sign") != reference_lark_sign(timestamp, self.secret):
                self.rejected.append(body)
                return web.json_response({"code": 19021, "data": {},
                                          "msg": "sign match fail or timestamp is not within one hour from current time"})
        self.accepted.append(body)
        return web.json_response({"code": 0, "data": {}, "msg": "success"})


class FakeHook(FakeServer):
    """通用 webhook 的接收端。"""

    def __init__(self) -> None:
        """创建接收端（路径 /hook）。"""
        super().__init__()
        # 收到的请求：{body, headers, raw}
        self.received: list[dict[str, Any]] = []
        # 接下来这么多个请求回这个状态
        self.fail_status = 500
        # 接下来这么多个请求失败
        self.fail_next = 0
        self.app.router.add_post("/hook", self.handle)

    def hook_url(self) -> str:
        """给 notify.webhooks[].url 的值。"""
        return f"{self.url}/hook"

    async def handle(self, request: web.Request) -> web.Response:
        """记下请求；注入的挂起与失败先生效。"""
        await self.maybe_hang()
        raw = await request.read()
        if self.fail_next:
            self.fail_next -= 1
            return web.Response(status=self.fail_status, text="injected failure")
        self.received.append({"body": json.loads(raw), "headers": dict(request.headers), "raw": raw})
        return web.json_response({"ok": True})

    def bodies(self) -> list[dict[str, Any]]:
        """收到的请求体。"""
        return [r["body"] for r in self.received]
