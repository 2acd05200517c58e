"""每日汇总：每天在 notify.daily_summary（UTC 的 HH:MM）发一条——每个实例当天的已实现与浮动盈亏、权益、回撤、
当天的交易笔数，以及还在的问题（一键停止、熔断、陈旧行情、对账问题、出错的实例、通知渠道丢掉或发不出的消息）。

“当天”是发送时刻之前的 24 小时，按交易所时间（成交时间就是交易所时间；实盘里它就是现在，离线沙盒里是回放的
模拟时间）。数据来自引擎的命令接口与
日志库（tradeterm/engine/queries.py），与 /profit、`tradeterm ctl pnl` 同源。
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable

from tradeterm.engine.queries import all_round_trips
from tradeterm.notify import replies
from tradeterm.notify.messages import Notification
from tradeterm.report.round_trips import summarize

if TYPE_CHECKING:  # 只为类型标注
    from tradeterm.engine.trader import TraderEngine
    from tradeterm.notify.service import ChannelSet

# 一天，毫秒
DAY_MS = 86_400_000


def next_run(now_s: float, hhmm: str) -> float:
    """now_s（墙上时间，秒）之后下一个 UTC hh:mm 的时刻，秒（正好在该时刻时给明天的）。"""
    hour, minute = (int(part) for part in hhmm.split(":"))
    now = datetime.fromtimestamp(now_s, tz=timezone.utc)
    target = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if target <= now:
        target += timedelta(days=1)
    return target.timestamp()


def problems_of(snapshot: dict[str, Any]) -> list[str]:
    """快照里还在的问题，每项一行英文。"""
    account = snapshot["account"]
    out = []
    if account.get("killed"):
        out.append("kill switch is engaged")
    if account.get("breaker"):
        out.append(f"circuit breaker: {account['breaker']}")
    out += [f"stale feed: {feed}" for feed in snapshot.get("stale") or []]
    out += [f"reconcile: {problem}" for problem in snapshot.get("problems") or []]
    out += [f"{row['name']} is in error: {row['error']}" for row in snapshot["instances"] if row["status"] == "error"]
    for channel in snapshot.get("notify") or []:
        if channel["dropped"] or channel["failed"]:
            out.append(f"notify {channel['channel']}: {channel['dropped']} dropped, {channel['failed']} failed")
    return out


async def build_summary(engine: "TraderEngine", until_ms: int) -> Notification:
    """截至 until_ms（交易所时间，UTC 毫秒）的 24 小时汇总。"""
    snapshot = engine.snapshot()
    trips = await all_round_trips(engine)
    since = until_ms - DAY_MS
    today = [t for t in trips if not t.is_open and t.exit_ts is not None and since <= t.exit_ts < until_ms]
    lines = [replies.account_line(snapshot), f"last 24 h: {replies.summary_line(summarize(today))}", ""]
    for row in snapshot["instances"]:
        mine = summarize([t for t in today if t.instance == row["name"]])
        lines.append(f"{row['name']} ({row['status']}): realized {replies.money(mine['pnl'])} in {mine['trades']} "
                     f"trade(s), unrealized {replies.money(row['unrealized_pnl'])}")
    manual = [t for t in today if not t.instance]
    if manual:
        lines.append(f"manual: realized {replies.money(summarize(manual)['pnl'])} in {len(manual)} trade(s)")
    problems = problems_of(snapshot)
    lines += [""] + ([f"problem: {p}" for p in problems] if problems else ["no problems"])
    day = datetime.fromtimestamp(until_ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return Notification("daily", "warning" if problems else "info", f"Daily summary until {day}", tuple(lines),
                        ts=until_ms)


class DailySummary:
    """定时发送每日汇总的任务。"""

    def __init__(self, engine: "TraderEngine", channels: "ChannelSet", hhmm: str, *,
                 now: Callable[[], float] = time.time, sleep=asyncio.sleep):
        """hhmm 为 UTC 的发送时间；now（墙上时间，秒）与 sleep 可以由测试注入。"""
        # 引擎
        self.engine = engine
        # 渠道
        self.channels = channels
        # 发送时间，UTC 的 "HH:MM"
        self.hhmm = hhmm
        # 墙上时间，秒
        self.now = now
        # 睡眠函数
        self.sleep = sleep
        # 已发出的汇总数
        self.sent = 0

    async def run(self) -> None:
        """睡到下一个发送时刻 -> 汇总 -> 交给渠道，循环直到被取消。分段睡（最多 60 秒一段），系统时间被调整也不会错过。"""
        target = next_run(self.now(), self.hhmm)
        while True:
            remaining = target - self.now()
            if remaining > 0:
                await self.sleep(min(remaining, 60.0))
                continue
            until = await self.engine.market.exchange_now()
            self.channels.send(await build_summary(self.engine, int(until)))
            self.sent += 1
            target = next_run(target, self.hhmm)
