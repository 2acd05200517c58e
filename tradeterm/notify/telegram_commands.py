"""Telegram 命令：长轮询 getUpdates，只执行 notify.telegram.chat_ids（与可选的 user_ids）发来的命令，
经引擎的命令接口（EngineClient，与控制台、`tradeterm ctl` 同一个）执行，把结果回到聊天里。

- 别的聊天或用户发来的任何东西（消息与按钮）都不执行、不回答，只写一条日志并计数；
- 会下单、撤单或平仓的命令（/flatten、/order、/kill、/kill_reset）先回一条预览加“Confirm / Cancel”内联按钮；
  按钮 confirm_timeout 秒后失效（消息改成 expired，什么都不做）；只有同一个聊天里的按钮算数；
- 引擎停着时积压下来的命令（早于启动 command_max_age 秒）不执行，回一句为什么；
- 轮询失败（网络、Bot API 5xx）按退避重试，不影响交易与提醒的发送。
时钟（clock：确认的有效期；now：消息时间）可以由测试注入。
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from tradeterm.errors import UserError
from tradeterm.notify import replies
from tradeterm.notify.telegram import TELEGRAM_MAX_TEXT, TelegramLink

# 本模块的日志器
log = logging.getLogger("tradeterm.notify")

# 轮询失败后的退避起点与上限，秒
POLL_BACKOFF_S = (1.0, 30.0)
# /help 的文字
HELP = "\n".join([
    "tradeterm commands:",
    "/status - mode, account, every instance",
    "/positions - open positions",
    "/orders - open orders",
    "/balance - equity, cash, drawdown",
    "/profit - realized P&L, per instance",
    "/daily [n] - realized P&L of the last n days (default 7)",
    "/trades [n] - the last n closed trades (default 10)",
    "/pause NAME|all - no new entries (exits and stops keep working)",
    "/resume NAME|all - resume",
    "/flatten NAME - pause, cancel its orders, close its position (asks first)",
    "/order SYMBOL buy|sell AMOUNT - market order (preview, then asks)",
    "/kill - kill switch: stop everything, cancel all orders, close all positions (asks first)",
    "/kill_reset - allow new orders again (asks first)",
    "/help - this list",
])


@dataclass
class Confirm:
    """要确认的动作：预览文字与确认后执行的协程函数（返回结果文字）。"""

    preview: str                                      # 预览（英文，说明将要发生什么）
    action: Callable[[], Awaitable[str]]              # 确认后执行，返回要显示的结果


@dataclass
class Pending:
    """一个等待确认的动作。"""

    confirm: Confirm                                  # 动作
    chat_id: int                                      # 只有这个聊天里的按钮算数
    expires: float                                    # 失效时刻（clock 的秒）
    message_id: int | None = None                     # 带按钮的那条消息（失效时改写它）


class TelegramCommands:
    """命令轮询与执行。"""

    def __init__(self, link: TelegramLink, client: Any, *, clock: Callable[[], float] = time.monotonic,
                 now: Callable[[], float] = time.time):
        """link 为共用的 Bot；client 为引擎的 EngineClient；clock 为确认有效期用的单调时钟（秒），now 为墙上时间（秒）。"""
        # 共用的 Bot
        self.link = link
        # notify.telegram 配置
        self.config = link.config
        # 引擎的命令接口
        self.client = client
        # 单调时钟，秒
        self.clock = clock
        # 墙上时间，秒
        self.now = now
        # 启动时刻（墙上时间，秒）：早于它 command_max_age 秒的命令不执行
        self.started = now()
        # 下一次 getUpdates 的 offset（已处理的最大 update_id + 1）
        self.offset: int | None = None
        # 等待确认的动作：确认 id -> Pending
        self.pending: dict[str, Pending] = {}
        # 被忽略的（来自未授权聊天或用户的）更新数
        self.ignored = 0
        # 已执行的命令数
        self.executed = 0
        # 命令名 -> 处理函数
        self.handlers: dict[str, Callable[[list[str]], Awaitable[str | Confirm]]] = {
            "status": self.status, "positions": self.positions, "orders": self.orders, "balance": self.balance,
            "profit": self.profit, "daily": self.daily, "trades": self.trades, "pause": self.pause,
            "resume": self.resume, "flatten": self.flatten, "order": self.order, "kill": self.kill,
            "kill_reset": self.kill_reset, "help": self.help, "start": self.help}

    # ---- 轮询 -----------------------------------------------------------------------------------

    async def run(self) -> None:
        """长轮询直到被取消；每批更新逐个处理（一个出错不影响其他），每轮清理过期的确认。"""
        delay = POLL_BACKOFF_S[0]
        while True:
            try:
                bot = await self.link.ensure_ready()
                updates = await bot.get_updates(offset=self.offset, timeout=int(self.config.poll_timeout),
                                                allowed_updates=["message", "callback_query"])
                delay = POLL_BACKOFF_S[0]
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # 网络或 Bot API 故障：退避后再轮询
                log.warning("telegram: getUpdates failed (%s: %s); retrying in %.0f s", type(exc).__name__, exc,
                            delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, POLL_BACKOFF_S[1])
                continue
            for update in updates:
                self.offset = update.update_id + 1
                try:
                    await self.handle(update)
                except asyncio.CancelledError:
                    raise
                except Exception:  # 一条更新处理失败：记下，继续下一条
                    log.exception("telegram: failed to handle update %s", update.update_id)
            await self.expire()

    def allowed(self, chat_id: int | None, user_id: int | None) -> bool:
        """聊天在 chat_ids 里，且（配置了 user_ids 时）用户也在 user_ids 里。"""
        if chat_id not in self.config.chat_ids:
            return False
        return not self.config.user_ids or user_id in self.config.user_ids

    async def handle(self, update: Any) -> None:
        """一条更新：按钮回调或文字消息；其他种类忽略。"""
        if update.callback_query is not None:
            await self.on_callback(update.callback_query)
        elif update.message is not None and update.message.text:
            await self.on_message(update.message)

    async def reply(self, chat_id: int, text: str, confirm_id: str | None = None) -> Any:
        """回一条纯文本消息；confirm_id 给出时带“Confirm / Cancel”按钮。"""
        from telegram import InlineKeyboardButton, InlineKeyboardMarkup

        markup = None
        if confirm_id is not None:
            seconds = f"{self.config.confirm_timeout:g}"
            markup = InlineKeyboardMarkup([[InlineKeyboardButton(f"Confirm ({seconds} s)",
                                                                 callback_data=f"ok:{confirm_id}"),
                                            InlineKeyboardButton("Cancel", callback_data=f"no:{confirm_id}")]])
        return await self.link.bot.send_message(chat_id=chat_id, text=text[:TELEGRAM_MAX_TEXT], reply_markup=markup)

    async def on_message(self, message: Any) -> None:
        """一条文字消息：授权检查 -> 过旧检查 -> 解析命令 -> 执行或请求确认 -> 回复。"""
        chat_id = message.chat_id
        user_id = message.from_user.id if message.from_user is not None else None
        text = message.text.strip()
        if not self.allowed(chat_id, user_id):
            self.ignored += 1
            log.warning("telegram: ignored a message from chat %s user %s (not in notify.telegram.chat_ids/user_ids): "
                        "%.40s", chat_id, user_id, text)
            return
        sent = message.date.timestamp() if message.date is not None else self.now()
        if sent < self.started - self.config.command_max_age:
            await self.reply(chat_id, f"Ignored {text[:40]!r}: it was sent {self.started - sent:.0f} s before the "
                                      f"engine started. Send it again if you still want it.")
            return
        if not text.startswith("/"):
            await self.reply(chat_id, "Commands start with /. Send /help for the list.")
            return
        word, *args = text.split()
        name = word[1:].split("@", 1)[0].lower()
        handler = self.handlers.get(name)
        if handler is None:
            await self.reply(chat_id, f"Unknown command /{name}. Send /help for the list.")
            return
        log.info("telegram: command /%s from chat %s user %s", name, chat_id, user_id)
        try:
            answer = await handler(args)
        except UserError as exc:
            answer = f"Error: {exc}"
        self.executed += 1
        if isinstance(answer, Confirm):
            confirm_id = secrets.token_hex(6)
            pending = Pending(answer, chat_id, self.clock() + self.config.confirm_timeout)
            self.pending[confirm_id] = pending
            sent_message = await self.reply(chat_id, answer.preview, confirm_id)
            pending.message_id = getattr(sent_message, "message_id", None)
        else:
            await self.reply(chat_id, answer)

    async def on_callback(self, query: Any) -> None:
        """按钮：授权检查 -> 找到确认 -> 过期、取消或执行 -> 改写带按钮的消息。"""
        message = query.message
        chat_id = message.chat.id if message is not None else None
        user_id = query.from_user.id if query.from_user is not None else None
        if not self.allowed(chat_id, user_id):
            self.ignored += 1
            log.warning("telegram: ignored a button press from chat %s user %s (not authorized)", chat_id, user_id)
            return
        verb, _, confirm_id = str(query.data or "").partition(":")
        pending = self.pending.get(confirm_id)
        if pending is None or pending.chat_id != chat_id:
            await self.link.bot.answer_callback_query(query.id, text="This confirmation is no longer valid; "
                                                                     "nothing was done.")
            return
        del self.pending[confirm_id]
        if self.clock() > pending.expires:
            await self.link.bot.answer_callback_query(query.id, text="Expired; nothing was done.")
            await self.edit(pending, f"Expired: {pending.confirm.preview}\nNothing was done.")
            return
        if verb != "ok":
            await self.link.bot.answer_callback_query(query.id, text="Cancelled.")
            await self.edit(pending, f"Cancelled: {pending.confirm.preview}\nNothing was done.")
            return
        await self.link.bot.answer_callback_query(query.id, text="Working...")
        log.warning("telegram: confirmed from chat %s user %s: %s", chat_id, user_id,
                    pending.confirm.preview.splitlines()[0])
        try:
            result = await pending.confirm.action()
        except UserError as exc:
            result = f"Error: {exc}"
        await self.edit(pending, f"{pending.confirm.preview}\n\nDone: {result}")

    async def edit(self, pending: Pending, text: str) -> None:
        """改写带按钮的消息（去掉按钮）；找不到那条消息时另发一条。"""
        if pending.message_id is None:
            await self.reply(pending.chat_id, text)
            return
        await self.link.bot.edit_message_text(text=text[:TELEGRAM_MAX_TEXT], chat_id=pending.chat_id,
                                              message_id=pending.message_id)

    async def expire(self) -> None:
        """过期的确认：删掉并把消息改成 expired（没人按按钮也不会留下一个还能按的按钮）。"""
        now = self.clock()
        for confirm_id in [key for key, p in self.pending.items() if now > p.expires]:
            pending = self.pending.pop(confirm_id)
            try:
                await self.edit(pending, f"Expired (no confirmation within {self.config.confirm_timeout:g} s): "
                                         f"{pending.confirm.preview}\nNothing was done.")
            except Exception as exc:  # 改写失败（消息被删了）不要紧：动作已经作废
                log.info("telegram: could not mark a confirmation expired: %s", exc)

    # ---- 命令 -----------------------------------------------------------------------------------

    async def help(self, args: list[str]) -> str:
        """/help。"""
        return HELP

    async def status(self, args: list[str]) -> str:
        """/status。"""
        return replies.status_text(await self.client.snapshot())

    async def positions(self, args: list[str]) -> str:
        """/positions。"""
        return replies.positions_text(await self.client.snapshot())

    async def orders(self, args: list[str]) -> str:
        """/orders。"""
        return replies.orders_text(await self.client.snapshot())

    async def balance(self, args: list[str]) -> str:
        """/balance。"""
        return replies.balance_text(await self.client.snapshot())

    async def profit(self, args: list[str]) -> str:
        """/profit。"""
        return replies.profit_text(await self.client.command("pnl"))

    async def daily(self, args: list[str]) -> str:
        """/daily [n]。"""
        count = count_arg(args, "/daily [n]", 7)
        return replies.daily_text(await self.client.command("pnl", period="day", count=count))

    async def trades(self, args: list[str]) -> str:
        """/trades [n]。"""
        limit = count_arg(args, "/trades [n]", 10)
        return replies.trades_text(await self.client.command("trades", limit=limit))

    async def _state(self, verb: str, args: list[str]) -> str:
        """/pause 与 /resume（NAME 或 all）：对每个实例执行，逐个报告。/resume 对 stopped 的实例（如一键停止解除之后）
        用 start：手机上不必分清两者。"""
        if len(args) != 1:
            raise UserError(f"usage: /{verb} NAME|all")
        statuses = {row["name"]: row["status"] for row in (await self.client.snapshot())["instances"]}
        lines = []
        for name in list(statuses) if args[0] == "all" else [args[0]]:
            command = "start" if verb == "resume" and statuses.get(name) == "stopped" else verb
            try:
                row = await self.client.command(command, instance=name)
                lines.append(f"{name}: {row['status']}")
            except UserError as exc:
                lines.append(f"{name}: error: {exc}")
        return "\n".join(lines) or "no instances"

    async def pause(self, args: list[str]) -> str:
        """/pause NAME|all。"""
        return await self._state("pause", args)

    async def resume(self, args: list[str]) -> str:
        """/resume NAME|all。"""
        return await self._state("resume", args)

    async def flatten(self, args: list[str]) -> Confirm:
        """/flatten NAME：先预览真实数量，确认后执行。"""
        if len(args) != 1:
            raise UserError("usage: /flatten NAME")
        name = args[0]
        preview = await self.client.command("flatten", instance=name, dry_run=True)

        async def act() -> str:
            """平仓。"""
            result = await self.client.command("flatten", instance=name)
            return f"{name} is {result['status']}; closed {replies.num(result['closed'])} {result['symbol']}"

        return Confirm(f"Flatten {name}: pause it, cancel {preview['open_orders']} open order(s) and close "
                       f"{replies.num(preview['amount'])} {preview['symbol']} at market?", act)

    async def order(self, args: list[str]) -> str | Confirm:
        """/order SYMBOL buy|sell AMOUNT：先经同一个风控预览，被拒时直接说明，否则请求确认。"""
        if len(args) != 3 or args[1].lower() not in ("buy", "sell"):
            raise UserError("usage: /order SYMBOL buy|sell AMOUNT, e.g. /order BTC/USDT buy 0.01")
        symbol, side = args[0], args[1].lower()
        amount = positive_number(args[2], "AMOUNT")
        preview = await self.client.command("manual_order", symbol=symbol, side=side, amount=amount, dry_run=True)
        if not preview["allowed"]:
            return f"This order would be rejected ({preview['rule']}): {preview['reason']}. Nothing was sent."

        async def act() -> str:
            """下单。"""
            order = await self.client.command("manual_order", symbol=symbol, side=side, amount=amount)
            return f"order {order['client_order_id']} is {order['status']}"

        return Confirm(f"Send a market {side.upper()} of {replies.num(preview['amount'])} {preview['symbol']} "
                       f"(about {preview['notional']:,.2f} at {replies.num(preview['reference_price'])})?", act)

    async def kill(self, args: list[str]) -> Confirm:
        """/kill：一键停止（确认后）。"""
        async def act() -> str:
            """一键停止。"""
            return (await self.client.command("kill_switch"))["message"]

        return Confirm("KILL SWITCH: block new orders, stop every instance, cancel every open order and close every "
                       "position at market?", act)

    async def kill_reset(self, args: list[str]) -> Confirm:
        """/kill_reset：解除一键停止（确认后；实例保持 stopped）。"""
        async def act() -> str:
            """解除。"""
            return (await self.client.command("kill_switch", reset=True))["message"]

        return Confirm("Reset the kill switch: new orders are allowed again (instances stay stopped until you "
                       "resume them in the console)?", act)


def count_arg(args: list[str], usage: str, default: int) -> int:
    """可选的条数参数：1..1000 的整数；缺省为 default。"""
    if not args:
        return default
    if len(args) > 1 or not args[0].isdigit() or not 1 <= int(args[0]) <= 1000:
        raise UserError(f"usage: {usage} with n a whole number from 1 to 1000, e.g. 7")
    return int(args[0])


def positive_number(text: str, what: str) -> float:
    """一个有限的正数（写法同 Python 的浮点数，不接受逗号）；否则抛 UserError。"""
    try:
        value = float(text)
    except ValueError:
        raise UserError(f"{what}: {text!r} is not a number; write it like 0.01") from None
    if not math.isfinite(value) or value <= 0:
        raise UserError(f"{what}: {text!r} must be a positive number, e.g. 0.01")
    return value
