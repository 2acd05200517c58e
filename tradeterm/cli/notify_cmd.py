"""`tradeterm notify test` 与 `tradeterm notify chat-ids`：配置通知渠道时用的两个小工具。

- `notify test`：按 config.yml 的 notify 块建渠道，往每个渠道发一条测试消息（不经过引擎），逐个报告成功或失败的原因；
  全部成功退出码 0，有失败 1，没有配置渠道 2；
- `notify chat-ids`：用环境变量里的机器人令牌问 Bot API 最近给机器人发过消息的聊天，打印它们的 id
  （先在 Telegram 里给机器人发一句 /start），填进 notify.telegram.chat_ids。引擎正在轮询同一个机器人时，消息会被它取走，
  这时先停引擎。
"""

from __future__ import annotations

import argparse

from tradeterm.errors import UserError

# 等测试消息发出的上限，秒（每个渠道自己的重试另算在内）
TEST_WAIT_S = 30.0


def register(subparsers: argparse._SubParsersAction) -> None:
    """注册 notify 子命令。"""
    parser = subparsers.add_parser("notify", help="test the notification channels, find your Telegram chat id")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    test = actions.add_parser("test", help="send a test message to every channel in config.yml's notify block")
    test.add_argument("--config", default="config.yml", help="config file (default: ./config.yml)")
    chats = actions.add_parser("chat-ids", help="list the Telegram chats that recently messaged your bot "
                                                "(send /start to the bot first)")
    chats.add_argument("--config", default="config.yml",
                       help="config file for api_url and token_env (default: ./config.yml; optional)")
    chats.add_argument("--api-url", default=None, help="Bot API base (default: notify.telegram.api_url or "
                                                       "https://api.telegram.org)")
    chats.add_argument("--token-env", default=None, help="environment variable holding the bot token "
                                                         "(default: TRADETERM_TELEGRAM_TOKEN)")
    parser.set_defaults(handler=run_notify)


def run_notify(args: argparse.Namespace) -> int:
    """分派 test / chat-ids。"""
    import asyncio

    if args.action == "test":
        from tradeterm.config import load_config

        return asyncio.run(send_test(load_config(args.config, check_strategies=False)))
    return asyncio.run(list_chats(args))


async def send_test(config) -> int:
    """往每个渠道发一条测试消息（不看 events 过滤），打印每个渠道的结果。"""
    import asyncio

    from tradeterm.notify.messages import Notification
    from tradeterm.notify.service import build_channels

    channels = build_channels(config)
    if not channels:
        raise UserError("notify: no channel is configured; add notify.telegram, notify.lark or notify.webhooks to "
                        "config.yml (README: 通知)")
    message = Notification("engine", "info", "tradeterm test message",
                           ("If you can read this, notifications work.",))
    try:
        results = await asyncio.gather(*(asyncio.wait_for(channel.send_with_retries(message), TEST_WAIT_S)
                                         for channel in channels.channels), return_exceptions=True)
    finally:
        await channels.close(0)
    failures = 0
    for channel, result in zip(channels.channels, results):
        if result is True:
            print(f"{channel.name}: OK")
        else:
            failures += 1
            reason = channel.last_error or f"no answer within {TEST_WAIT_S:g} s"
            print(f"{channel.name}: FAILED ({reason})")
    return 1 if failures else 0


async def list_chats(args: argparse.Namespace) -> int:
    """getUpdates 一次，打印给机器人发过消息的聊天。"""
    from pathlib import Path

    from tradeterm.config.notify import TelegramConfig
    from tradeterm.notify.secrets import TELEGRAM_KEY, NotifySecrets
    from tradeterm.notify.telegram import TelegramLink

    telegram, key_file = None, None
    if Path(args.config).is_file():
        from tradeterm.config import load_config

        config = load_config(args.config, check_strategies=False)
        telegram, key_file = config.notify.telegram, config.notify_key_file()
    api_url = args.api_url or (telegram.api_url if telegram else "https://api.telegram.org")
    token_env = args.token_env or (telegram.token_env if telegram else "TRADETERM_TELEGRAM_TOKEN")
    token = NotifySecrets(key_file).require(token_env, TELEGRAM_KEY, "notify chat-ids")
    # chat_ids 还不知道（这个命令就是来找它的）：占一个位置，只用来满足配置的校验
    link = TelegramLink(TelegramConfig(api_url=api_url, chat_ids=[0], token_env=token_env), token)
    try:
        bot = await link.ensure_ready()
        updates = await bot.get_updates(timeout=0)
    except Exception as exc:
        raise UserError(f"notify chat-ids: the Bot API at {api_url} did not answer ({exc}); check the token and "
                        f"--api-url") from None
    finally:
        await link.close()
    chats: dict[int, str] = {}
    for update in updates:
        message = update.effective_message
        if message is not None and message.chat is not None:
            who = message.chat.username or message.chat.title or message.chat.first_name or ""
            chats[message.chat.id] = f"{message.chat.type} {who}".strip()
    if not chats:
        print("no recent messages: send /start to your bot in Telegram, then run this again")
        return 1
    for chat_id, what in chats.items():
        print(f"chat {chat_id}  ({what})")
    print("put the ids in notify.telegram.chat_ids in config.yml")
    return 0
