"""每日汇总：下一次发送时刻的计算（手算的例子）、真实引擎的汇总内容（实例、权益、当天笔数与手算的盈亏一致、问题），
以及由测试驱动时钟的定时任务。"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone

import pytest

from tests.engine.conftest import WAIT_GUARD_S, flip, sandbox, start_engine, wait_for  # noqa: F401  (夹具)
from tradeterm.engine.queries import all_round_trips
from tradeterm.notify.daily import DAY_MS, DailySummary, build_summary, next_run
from tradeterm.notify.service import ChannelSet


def utc(text: str) -> float:
    """'YYYY-MM-DD HH:MM:SS' (UTC) -> 秒。"""
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc).timestamp()


@pytest.mark.parametrize(("now", "hhmm", "expected"), [
    ("2026-12-02 07:59:59", "08:00", "2026-12-02 08:00:00"),
    ("2026-12-02 08:00:00", "08:00", "2026-12-03 08:00:00"),   # 正好在那一刻：给明天的（今天的刚发过）
    ("2026-12-31 23:30:00", "00:00", "2027-01-01 00:00:00"),   # 跨年
    ("2028-02-28 12:00:00", "06:15", "2028-02-29 06:15:00"),   # 闰日
])
def test_next_run_by_hand(now, hhmm, expected):
    """下一个 UTC HH:MM。"""
    assert next_run(utc(now), hhmm) == utc(expected)


class Recorder:
    """代替 ChannelSet：记下交给它的通知。"""

    def __init__(self) -> None:
        """空的记录。"""
        # 收到的通知
        self.sent = []

    def send(self, notification) -> int:
        """记下。"""
        self.sent.append(notification)
        return 1


async def test_summary_of_a_real_engine(start_engine):
    """汇总里有每个实例、权益行、24 小时的笔数与净盈亏（与日志库回合手算的一致）；没有问题时写 no problems，
    一键停止接合后列为问题、严重程度变成 warning。"""
    handle = await start_engine([flip("flip_btc", "BTC/USDT", period=2), flip("flip_eth", "ETH/USDT", period=3)])
    engine = handle.engine
    async def closed() -> int:
        """已平仓的回合数。"""
        return sum(1 for t in await all_round_trips(engine) if not t.is_open)

    deadline = time.monotonic() + WAIT_GUARD_S  # 防挂死的上限，不是对速度的断言
    while await closed() < 3:
        assert time.monotonic() < deadline, "no three closed trades within the guard"
        await asyncio.sleep(0.1)
    until = await engine.market.exchange_now() + 60_000
    summary = await build_summary(engine, int(until))
    trips = [t for t in await all_round_trips(engine)
             if not t.is_open and until - DAY_MS <= t.exit_ts < until]
    text = summary.text()
    assert trips
    assert summary.category == "daily" and summary.title.startswith("Daily summary until ")
    assert f"last 24 h: {len(trips)} trades" in text and "equity " in text and "drawdown" in text
    for name in ("flip_btc", "flip_eth"):
        mine = [t for t in trips if t.instance == name]
        assert f"{name} (running): realized {sum(t.pnl for t in mine):+,.2f} in {len(mine)} trade(s)" in text
    assert "no problems" in text and summary.severity == "info"
    await engine.command("kill_switch")
    flagged = await build_summary(engine, int(until))
    assert "problem: kill switch is engaged" in flagged.text() and flagged.severity == "warning"


async def test_the_schedule_sends_once_per_day_at_the_time(start_engine):
    """测试驱动的时钟：07:59 启动，到 08:00 发第一条，之后要到第二天 08:00 才发第二条。"""
    handle = await start_engine([flip("flip_btc", "BTC/USDT")])
    clock = {"now": utc("2026-12-02 07:59:00")}
    recorder = Recorder()

    async def sleep(seconds: float) -> None:
        """拨时钟代替睡眠。"""
        clock["now"] += seconds
        await asyncio.sleep(0)

    sent_at: list[float] = []
    recorder.send = lambda notification: sent_at.append(clock["now"]) or 1  # 记下发送时的（测试）时钟
    summary = DailySummary(handle.engine, recorder, "08:00", now=lambda: clock["now"], sleep=sleep)
    task = asyncio.create_task(summary.run())
    try:
        await wait_for(lambda: len(sent_at) >= 2 or task.done(), what="two summaries")
        assert not task.done(), task.exception()
        assert sent_at[:2] == [utc("2026-12-02 08:00:00"), utc("2026-12-03 08:00:00")]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert isinstance(ChannelSet([]).stats(), list)
