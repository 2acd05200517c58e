"""`tradeterm notify test` 与 `tradeterm notify chat-ids` 作为真实子进程，对着 127.0.0.1 上的假服务。"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import yaml

from tests.notify.fakes import TOKEN, FakeHook, FakeLark, FakeTelegram

# 仓库根目录（子进程的工作目录）
REPO = Path(__file__).resolve().parents[2]


async def tradeterm(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """运行 `tradeterm ...` 子进程（异步：假服务在本进程的事件循环里），返回 (退出码, stdout+stderr)。"""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tradeterm.cli.main", *args, cwd=REPO, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, env={**os.environ, **(env or {})})
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode, out.decode(errors="replace")


def write_config(tmp_path: Path, notify: dict) -> Path:
    """只有 notify 块的配置文件。"""
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump({"notify": notify}))
    return path


async def test_notify_test_reports_each_channel(tmp_path):
    """三个渠道：Telegram 与 webhook 成功，飞书的密钥不对被拒：逐个报告，退出码 1；消息确实到了假服务。"""
    telegram, lark, hook = await FakeTelegram().start(), await FakeLark("right-secret").start(), \
        await FakeHook().start()
    try:
        config = write_config(tmp_path, {"telegram": {"api_url": telegram.api_url(), "chat_ids": [42]},
                                         "lark": {"webhook_url": lark.hook_url()},
                                         "webhooks": [{"url": hook.hook_url(), "format": "slack"}]})
        code, out = await tradeterm("notify", "test", "--config", str(config),
                                    env={"TRADETERM_TELEGRAM_TOKEN": TOKEN, "TRADETERM_LARK_SECRET": "wrong-secret"})
        assert code == 1, out
        assert "telegram: OK" in out and "webhook[0]: OK" in out and "lark: FAILED" in out and "19021" in out
        assert telegram.texts(42) == ["[i] tradeterm test message\nIf you can read this, notifications work."]
        assert hook.bodies()[0]["text"].startswith("*tradeterm test message*") and len(lark.rejected) == 1
        assert TOKEN not in out and "wrong-secret" not in out
    finally:
        for server in (telegram, lark, hook):
            await server.stop()


async def test_notify_test_without_token_or_channels(tmp_path):
    """没有令牌：退出码 2，说明设置哪个环境变量；没有渠道：退出码 2，说明加哪个块。"""
    config = write_config(tmp_path, {"telegram": {"chat_ids": [42]}})
    env = {key: value for key, value in os.environ.items() if key != "TRADETERM_TELEGRAM_TOKEN"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tradeterm.cli.main", "notify", "test", "--config", str(config), cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env)
    out = (await proc.communicate())[0].decode()
    assert proc.returncode == 2 and "TRADETERM_TELEGRAM_TOKEN" in out, out
    code, out = await tradeterm("notify", "test", "--config", str(write_config(tmp_path, {})))
    assert code == 2 and "no channel is configured" in out, out


async def test_chat_ids_lists_who_messaged_the_bot(tmp_path):
    """给机器人发过 /start 的聊天的 id 被列出来（README 的 Telegram 设置步骤用它）。"""
    telegram = await FakeTelegram().start()
    try:
        await telegram.push_message(777001, "/start")
        code, out = await tradeterm("notify", "chat-ids", "--config", str(tmp_path / "none.yml"),
                                    "--api-url", telegram.api_url(), env={"TRADETERM_TELEGRAM_TOKEN": TOKEN})
        assert code == 0 and "chat 777001  (private" in out, out
    finally:
        await telegram.stop()


async def test_config_summary_names_the_channels(tmp_path):
    """`tradeterm config` 的摘要里有一行通知渠道（不需要令牌：只校验、不连接）。"""
    config = write_config(tmp_path, {"telegram": {"chat_ids": [1, 2]}, "webhooks": [{"url": "https://e.com/h"}],
                                     "daily_summary": "08:00"})
    code, out = await tradeterm("config", "--config", str(config))
    assert code == 0, out
    assert ("notify: telegram (2 chat(s), commands on), webhook (generic); daily summary at 08:00 UTC; check with "
            "'tradeterm notify test'") in out
