"""通知渠道：合并、有界队列、重试与退避、超时，飞书签名、通用 webhook 的形状与 HMAC，Telegram 的提醒——
每个都是真实的客户端（aiohttp、python-telegram-bot）对着 127.0.0.1 上的假服务（tests/notify/fakes.py）。"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import stat

import pytest

from tests.engine.conftest import wait_for
from tests.notify.fakes import TOKEN, FakeHook, FakeLark, FakeTelegram
from tradeterm.config.notify import LarkConfig, TelegramConfig, WebhookConfig
from tradeterm.engine.events import Event, EventKind
from tradeterm.errors import ConfigError
from tradeterm.notify.lark import LarkChannel
from tradeterm.notify.messages import Notification, from_event
from tradeterm.notify.telegram import TelegramChannel, TelegramLink
from tradeterm.notify.webhook import WebhookChannel


@pytest.fixture
async def hook():
    """通用 webhook 的接收端。"""
    server = await FakeHook().start()
    yield server
    await server.stop()


def fill_event(i: int) -> Event:
    """第 i 笔成交的事件。"""
    return Event(EventKind.FILL, 1_700_000_000_000 + i, {"instance": "btc", "symbol": "BTC/USDT", "side": "buy",
                                                          "price": 100.0 + i, "amount": 0.5, "fee": 0.05,
                                                          "client_order_id": f"tt-{i}", "trade_id": str(i)})


async def no_sleep(seconds: float) -> None:
    """代替退避等待：只让出一次事件循环（退避的时长另外记下并断言）。"""
    await asyncio.sleep(0)


async def test_a_burst_of_50_fills_is_one_message(hook):
    """同一阵到的 50 笔成交只发一次请求：一条汇总，写明 50 fills，列出前几笔并注明其余的条数。"""
    channel = WebhookChannel(WebhookConfig(url=hook.hook_url(), coalesce_window=0.2, min_interval=0), None)
    channel.start()
    try:
        for i in range(50):
            assert channel.offer(from_event(fill_event(i)))
        await wait_for(lambda: channel.sent == 1, what="the summary message")
        await asyncio.sleep(0.3)  # 给一个多余的第二次请求留出机会（不应该有）
        assert len(hook.received) == 1
        body = hook.bodies()[0]
        assert body["count"] == 50 and body["title"] == "50 notifications: 50 fills"
        assert body["lines"][0].startswith("Fill: BUY 0.5 BTC/USDT @ 100") and "... and 38 more" in body["lines"]
        assert channel.delivered == 50 and channel.failed == 0 and channel.dropped == 0
    finally:
        await channel.close()


async def test_full_queue_drops_the_oldest_and_says_so(hook):
    """队列上限 5：还没发出时来了 12 条，丢掉最旧的 7 条、计数，发出的消息里写明丢了 7 条；offer 从不等待。"""
    hook.hang_s = 0.5  # 第一条发出时服务器慢：后面的都在队列里等
    channel = WebhookChannel(WebhookConfig(url=hook.hook_url(), coalesce_window=0, min_interval=0, queue_size=5),
                             None)
    channel.start()
    try:
        channel.offer(from_event(fill_event(0)))
        await wait_for(lambda: hook.hanging == 1, what="the first request to hang")
        for i in range(1, 13):
            channel.offer(from_event(fill_event(i)))
        assert channel.dropped == 7 and len(channel.queue) == 5
        hook.hang_s = 0
        await wait_for(lambda: channel.sent == 2, what="both messages")
        second = hook.bodies()[1]
        assert second["count"] == 5
        assert any("7 older notification(s) were dropped" in line for line in second["lines"])
        assert "@ 108" in second["text"] and "@ 107" not in second["text"]  # 留下的是最新的 5 条
    finally:
        await channel.close()


async def test_retries_back_off_and_then_deliver(hook):
    """前 3 次请求回 500：重试 3 次（退避 1、2、4 秒），第 4 次送达；消息只送达一次。"""
    hook.fail_next = 3
    channel = WebhookChannel(WebhookConfig(url=hook.hook_url(), coalesce_window=0, min_interval=0), None)
    waits: list[float] = []

    async def record(seconds: float) -> None:
        """记下退避时长。"""
        waits.append(seconds)
        await no_sleep(seconds)

    channel.sleep = record
    channel.start()
    try:
        channel.offer(from_event(fill_event(1)))
        await wait_for(lambda: channel.sent == 1, what="delivery after retries")
        assert waits == [1.0, 2.0, 4.0] and channel.retried == 3 and len(hook.received) == 1
        assert "HTTP 500" in channel.last_error
    finally:
        await channel.close()


async def test_a_client_error_is_not_retried(hook):
    """4xx（如 403）不可重试：一次请求后放弃，计为失败。"""
    hook.fail_next, hook.fail_status = 5, 403
    channel = WebhookChannel(WebhookConfig(url=hook.hook_url(), coalesce_window=0, min_interval=0), None)
    channel.sleep = no_sleep
    channel.start()
    try:
        channel.offer(from_event(fill_event(1)))
        await wait_for(lambda: channel.failed == 1, what="the failure")
        assert channel.retried == 0 and hook.fail_next == 4 and "HTTP 403" in channel.last_error
    finally:
        await channel.close()


async def test_a_hanging_server_times_out_and_offer_never_waits(hook):
    """服务器挂住 30 秒：请求在 timeout（0.3 秒）后放弃并重试，期间 offer 立即返回；close 不等挂住的请求。"""
    hook.hang_s = 30
    channel = WebhookChannel(WebhookConfig(url=hook.hook_url(), coalesce_window=0, min_interval=0, timeout=0.3,
                                           retries=1), None)
    channel.sleep = no_sleep
    channel.start()
    try:
        channel.offer(from_event(fill_event(1)))
        await wait_for(lambda: channel.failed == 1, what="the request to time out twice")
        assert "no answer within 0.3 s" in channel.last_error and channel.retried == 1
        for i in range(1000):  # 同步、不等待：渠道在挂着，offer 照样立即返回
            channel.offer(from_event(fill_event(i)))
        assert len(channel.queue) == channel.config.queue_size
    finally:
        await channel.close(flush_timeout=0)


async def test_events_filter_and_webhook_shapes_and_hmac(hook):
    """events 过滤：只要 kill_switch 的渠道不收成交；slack/discord 的载荷形状；HMAC 头可由接收方复算。"""
    only_kill = WebhookChannel(WebhookConfig(url=hook.hook_url(), events=["kill_switch"]), None)
    assert not only_kill.offer(from_event(fill_event(1)))
    assert only_kill.offer(from_event(Event(EventKind.KILL_SWITCH, 1, {"engaged": True, "message": "stop"})))
    secret = "whsec-0123456789"
    channels = [WebhookChannel(WebhookConfig(url=hook.hook_url(), format=shape, coalesce_window=0, min_interval=0),
                               secret if shape == "generic" else None, i)
                for i, shape in enumerate(("slack", "discord", "generic"))]
    for channel in channels:
        channel.start()
        channel.offer(Notification("breaker", "critical", "Circuit breaker tripped: max_drawdown", ("dd 21%",)))
    try:
        await wait_for(lambda: len(hook.received) == 3, what="three webhook posts")
        by_keys = {tuple(sorted(r["body"])): r for r in hook.received}
        assert by_keys[("text",)]["body"]["text"] == "*Circuit breaker tripped: max_drawdown*\ndd 21%"
        assert by_keys[("content",)]["body"]["content"].startswith("**Circuit breaker tripped")
        generic = next(r for r in hook.received if "source" in r["body"])
        assert generic["body"]["severity"] == "critical" and generic["body"]["category"] == "breaker"
        timestamp = generic["headers"]["X-Tradeterm-Timestamp"]
        expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + generic["raw"], hashlib.sha256).hexdigest()
        assert generic["headers"]["X-Tradeterm-Signature"] == f"sha256={expected}"
    finally:
        for channel in channels:
            await channel.close()


async def test_lark_cards_are_signed_as_lark_verifies():
    """飞书：假服务按飞书的规则独立验签并接受；卡片标题颜色按严重程度；过期一小时以上的时间戳被拒（不重试）；
    密钥不对也被拒。"""
    secret = "lark-signing-secret-42"
    lark = await FakeLark(secret).start()
    try:
        config = LarkConfig(webhook_url=lark.hook_url(), coalesce_window=0, min_interval=0)
        channel = LarkChannel(config, secret)
        channel.start()
        channel.offer(Notification("kill_switch", "critical", "KILL SWITCH engaged", ("every order cancelled",)))
        await wait_for(lambda: channel.sent == 1, what="the signed card")
        card = lark.accepted[0]
        assert card["msg_type"] == "interactive" and card["card"]["header"]["template"] == "red"
        assert card["card"]["header"]["title"]["content"] == "KILL SWITCH engaged"
        assert card["card"]["elements"][0]["text"]["content"] == "every order cancelled"
        channel.offer(Notification("fill", "info", "Fill", ("x",)))
        await wait_for(lambda: channel.sent == 2, what="the info card")
        assert lark.accepted[1]["card"]["header"]["template"] == "blue"
        channel.clock = lambda: 1_000_000.0  # 1970 年的时间戳：服务器拒绝
        channel.offer(Notification("fill", "info", "Fill", ("stale",)))
        await wait_for(lambda: channel.failed == 1, what="the stale timestamp to be refused")
        assert len(lark.rejected) == 1 and "19021" in channel.last_error and channel.retried == 0
        await channel.close()
        wrong = LarkChannel(config, "not-the-secret")
        wrong.start()
        wrong.offer(Notification("fill", "info", "Fill", ("x",)))
        await wait_for(lambda: wrong.failed == 1, what="the wrong signature to be refused")
        assert len(lark.rejected) == 2
        await wrong.close()
    finally:
        await lark.stop()


async def test_telegram_alerts_reach_every_chat_and_survive_flood_control():
    """python-telegram-bot 对着假 Bot API：提醒发到每个 chat_id；429 按服务端的 retry_after 等待后重试，已收到的聊天不重发。"""
    telegram = await FakeTelegram().start()
    try:
        config = TelegramConfig(api_url=telegram.api_url(), chat_ids=[111, -222], coalesce_window=0, min_interval=0)
        link = TelegramLink(config, TOKEN)
        channel = TelegramChannel(config, link)
        waits: list[float] = []

        async def record(seconds: float) -> None:
            """记下退避时长。"""
            waits.append(seconds)

        channel.sleep = record
        channel.start()
        channel.offer(from_event(fill_event(3)))
        await wait_for(lambda: channel.sent == 1, what="the alert")
        assert telegram.texts(111) == telegram.texts(-222) and telegram.texts(111)[0].startswith("[i] Fill: BUY 0.5")
        telegram.flood_next = 1
        channel.offer(Notification("error", "critical", "Engine error", ("boom",)))
        await wait_for(lambda: channel.sent == 2, what="the alert after flood control")
        assert waits == [1.0] and telegram.texts(111)[1] == "[!!!] Engine error\nboom"
        assert len(telegram.texts()) == 4
        await channel.close()
        await link.close()
    finally:
        await telegram.stop()


async def test_wrong_token_gives_up_without_retrying():
    """令牌被 Bot API 拒绝（401）：不重试，last_error 说明该查哪个变量，且不含令牌。"""
    telegram = await FakeTelegram().start()
    try:
        config = TelegramConfig(api_url=telegram.api_url(), chat_ids=[1], coalesce_window=0, min_interval=0)
        link = TelegramLink(config, "999:wrong-token-value")
        channel = TelegramChannel(config, link)
        channel.start()
        channel.offer(Notification("fill", "info", "x"))
        await wait_for(lambda: channel.failed == 1, what="the token to be refused")
        assert channel.retried == 0 and "TRADETERM_TELEGRAM_TOKEN" in channel.last_error
        assert "wrong-token-value" not in channel.last_error
        await channel.close()
    finally:
        await telegram.stop()


def test_secrets_come_from_env_or_a_private_key_file(tmp_path):
    """令牌：环境变量优先；没有时读 0600 的 notify.key_file；文件别人可读时拒绝；都没有时的错误说明怎么设置。"""
    from tradeterm.notify.secrets import NotifySecrets

    assert NotifySecrets(None, {"TT_TOKEN": "env-token-123"}).get("TT_TOKEN", "telegram_token") == "env-token-123"
    key_file = tmp_path / "keys.yml"
    key_file.write_text("telegram_token: file-token-456\n")
    os.chmod(key_file, 0o600)
    assert NotifySecrets(key_file, {}).get("TT_TOKEN", "telegram_token") == "file-token-456"
    os.chmod(key_file, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        NotifySecrets(key_file, {}).get("TT_TOKEN", "telegram_token")
    with pytest.raises(ConfigError, match="set the environment variable TT_TOKEN") as info:
        NotifySecrets(None, {}).require("TT_TOKEN", "telegram_token", "notify.telegram")
    assert "never go into config.yml" in str(info.value)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o644
