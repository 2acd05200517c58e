"""Telegram 命令端到端：`tradeterm run --headless` 子进程对着测试里的沙盒交易所做模拟盘，python-telegram-bot 对着
127.0.0.1 上的假 Bot API（tests/notify/fakes.py）轮询；测试扮演用户往假 API 里放消息与按钮。

还有进程内的：确认按钮过期、过旧的命令、下单预览与取消、坏参数；以及一个挂住 30 秒的渠道不拖慢引擎的下单。
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

import pytest
import yaml

from tests.engine.conftest import engine_config, flip, sandbox, start_engine, wait_for  # noqa: F401  (夹具)
from tests.engine.test_headless import REPO, EngineProcess, connect, ctl, short_dir  # noqa: F401  (夹具)
from tests.notify.fakes import TOKEN, FakeHook, FakeTelegram
from tradeterm.engine.client import InProcessClient
from tradeterm.notify.telegram import TelegramLink
from tradeterm.notify.telegram_commands import TelegramCommands

# 授权的聊天
CHAT = 111
# 没授权的聊天
STRANGER = 999


@pytest.fixture
async def telegram():
    """假的 Bot API。"""
    server = await FakeTelegram().start()
    yield server
    await server.stop()


def telegram_block(server: FakeTelegram, **extra) -> dict:
    """config.yml 的 notify.telegram（合并与限速关掉，轮询 1 秒一轮，测试不用等）。"""
    return {"telegram": {"api_url": server.api_url(), "chat_ids": [CHAT], "coalesce_window": 0.2,
                         "min_interval": 0, "poll_timeout": 1, **extra}}


async def reply_to(server: FakeTelegram, chat: int, text: str, contains: str) -> dict:
    """以 chat 的身份发一条消息，等机器人回一条含 contains 的消息并返回它。"""
    before = len(server.sent)
    await server.push_message(chat, text)
    await wait_for(lambda: any(contains in m["text"] for m in server.sent[before:]), what=f"a reply to {text!r}")
    return next(m for m in server.sent[before:] if contains in m["text"])


def confirm_data(message: dict) -> tuple[str, str]:
    """带按钮的消息里 Confirm 与 Cancel 的 callback_data。"""
    row = message["reply_markup"]["inline_keyboard"][0]
    return row[0]["callback_data"], row[1]["callback_data"]


async def test_headless_engine_alerts_and_obeys_only_its_chat(short_dir, sandbox, telegram):
    """成交提醒到达；/status 列出实例；陌生聊天的 /kill 与按钮都被忽略；/pause 暂停实例（ctl status 里可见）；
    /kill 不按确认什么都不做，按了才接合一键停止。"""
    config = engine_config(short_dir, sandbox.url, [flip("flip_btc", "BTC/USDT"), flip("flip_eth", "ETH/USDT")])
    config_path = short_dir / "config.yml"
    data = yaml.safe_load(config_path.read_text())
    data["notify"] = telegram_block(telegram)
    config_path.write_text(yaml.safe_dump(data))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tradeterm.cli.main", "run", "--headless", "--config", str(config_path), cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "TRADETERM_TELEGRAM_TOKEN": TOKEN})
    engine = EngineProcess(proc)
    try:
        await engine.wait_line("control socket:")
        journal = config.journal_path()
        await wait_for(lambda: any("Engine started (paper" in t for t in telegram.texts(CHAT)),
                       what="the engine-started notice")
        await wait_for(lambda: any("Fill: " in t for t in telegram.texts(CHAT)), what="a fill alert")

        await telegram.push_message(STRANGER, "/kill")
        status = await reply_to(telegram, CHAT, "/status", "flip_btc")
        assert "flip_eth" in status["text"] and "tradeterm paper on sandbox" in status["text"]
        assert not telegram.texts(STRANGER)  # 陌生聊天的 /kill：不回答、不执行
        client = await connect(journal)
        try:
            assert (await client.snapshot())["account"]["killed"] is False

            paused = await reply_to(telegram, CHAT, "/pause flip_btc", "flip_btc: paused")
            assert paused["reply_markup"] is None
            code, out = await ctl(config_path, "status")
            assert code == 0 and "paused" in out, out
            rows = {r["name"]: r["status"] for r in (await client.snapshot())["instances"]}
            assert rows == {"flip_btc": "paused", "flip_eth": "running"}

            ask = await reply_to(telegram, CHAT, "/kill", "KILL SWITCH")
            ok, _ = confirm_data(ask)
            await reply_to(telegram, CHAT, "/status", "flip_btc")  # 没按确认：什么都没发生
            assert (await client.snapshot())["account"]["killed"] is False
            await telegram.push_callback(STRANGER, ask["message_id"], ok)  # 陌生人按了同一个按钮：忽略
            await reply_to(telegram, CHAT, "/help", "tradeterm commands")
            assert (await client.snapshot())["account"]["killed"] is False and not telegram.answers

            await telegram.push_callback(CHAT, ask["message_id"], ok)
            await wait_for(lambda: any("Done: kill switch engaged" in e["text"] for e in telegram.edits),
                           what="the kill switch result")
            snapshot = await client.snapshot()
            assert snapshot["account"]["killed"] is True
            assert {r["status"] for r in snapshot["instances"]} == {"stopped"} and not snapshot["positions"]
            await wait_for(lambda: any("KILL SWITCH engaged" in t and t.startswith("[!!!]") for t in telegram.texts(CHAT)),
                           what="the kill switch alert")
            await client.command("shutdown")
        finally:
            await client.close()
        assert await engine.wait_exit() == 0, engine.output()
        await wait_for(lambda: any("Engine stopped (paper" in t for t in telegram.texts(CHAT)),
                       what="the engine-stopped notice")
        assert TOKEN not in engine.output()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        engine.reader.cancel()


class Clock:
    """测试驱动的单调时钟，秒。"""

    def __init__(self) -> None:
        """从 1000 秒开始。"""
        # 当前时刻，秒
        self.now = 1000.0

    def __call__(self) -> float:
        """当前时刻。"""
        return self.now


async def test_confirmations_expire_and_previews_check_risk(start_engine, telegram, monkeypatch):
    """/flatten 的确认按钮过了 confirm_timeout 就失效（消息改成 Expired，按钮再按也不做事）；/order 先经风控预览，
    Cancel 什么都不发；坏数量、未知实例有一行错误；引擎停着时积压的命令不执行。"""
    monkeypatch.setenv("TRADETERM_TELEGRAM_TOKEN", TOKEN)
    handle = await start_engine([flip("flip_btc", "BTC/USDT")], notify=telegram_block(telegram, commands=False))
    engine = handle.engine
    clock = Clock()
    config = engine.config.notify.telegram
    link = TelegramLink(config, TOKEN)
    commands = TelegramCommands(link, InProcessClient(engine), clock=clock)
    task = asyncio.create_task(commands.run())
    try:
        ask = await reply_to(telegram, CHAT, "/flatten flip_btc", "Flatten flip_btc")
        ok, _ = confirm_data(ask)
        clock.now += config.confirm_timeout + 1
        await wait_for(lambda: any(e["text"].startswith("Expired (no confirmation within 60 s)")
                                   for e in telegram.edits), what="the confirmation to expire")
        await telegram.push_callback(CHAT, ask["message_id"], ok)
        await wait_for(lambda: telegram.answers, what="the answer to a stale button")
        assert "no longer valid" in telegram.answers[-1]["text"]
        assert engine.bots["flip_btc"].state.status.value == "running"

        ask = await reply_to(telegram, CHAT, "/order BTC/USDT buy 0.001", "Send a market BUY of 0.001 BTC/USDT")
        _, cancel = confirm_data(ask)
        orders = len(engine.orders.orders)
        await telegram.push_callback(CHAT, ask["message_id"], cancel)
        await wait_for(lambda: any(e["text"].startswith("Cancelled: Send a market BUY") for e in telegram.edits),
                       what="the cancelled order")
        assert len(engine.orders.orders) == orders or all(o.instance for o in engine.orders.orders.values())

        await reply_to(telegram, CHAT, "/order BTC/USDT buy abc", "Error: AMOUNT: 'abc' is not a number")
        await reply_to(telegram, CHAT, "/pause nobody", "unknown instance 'nobody'")
        await reply_to(telegram, CHAT, "/order BTC/USDT buy 1000", "would be rejected")
        await reply_to(telegram, CHAT, "/frobnicate", "Unknown command /frobnicate")
        before = len(telegram.sent)
        await telegram.push_message(CHAT, "/pause all", date=int(time.time()) - 3600)
        await wait_for(lambda: len(telegram.sent) > before, what="the answer to a backlogged command")
        assert "before the engine started" in telegram.sent[-1]["text"]
        assert engine.bots["flip_btc"].state.status.value == "running"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await link.close()


async def test_a_hanging_channel_does_not_delay_orders(start_engine):
    """一个 webhook 渠道挂住 30 秒（请求超时也是 30 秒）：挂着的这段时间里引擎照常下单，K 线收盘 -> 下单的延迟
    远小于挂起时长（渠道若挡住了引擎，延迟至少是 30 秒，或者根本没有新单）。"""
    hook = await FakeHook().start()
    hook.hang_s = 30
    try:
        handle = await start_engine([flip("flip_btc", "BTC/USDT", period=2)],
                                    notify={"webhooks": [{"url": hook.hook_url(), "timeout": 30,
                                                          "coalesce_window": 0, "min_interval": 0}]})
        engine = handle.engine
        await wait_for(lambda: hook.hanging == 1, what="the channel to hang")
        start = len(engine.latencies_ms)
        await wait_for(lambda: len(engine.latencies_ms) >= start + 5, what="five orders while the channel hangs")
        during = list(engine.latencies_ms)[start:]
        assert hook.hanging == 1  # 这些单都发生在挂起期间：请求还挂着
        assert max(during) < 10_000, during  # 远小于 30 秒的挂起
        assert not hook.received
        channel = engine.notify_stats()[0]
        assert channel["queued"] >= 1 and channel["sent"] == 0
    finally:
        await hook.stop()
