"""引擎的只读查询命令（tradeterm/engine/queries.py）：对着真引擎与沙盒（停住的时钟，一根一根地拨）跑出几个回合，
`trades` 的回合盈亏与引擎自己的记账（positions 表的 realized_pnl - fees）一致；`pnl` 的各日之和等于合计；
`history` 给出日志库里的成交、信号、K 线与权益；引擎停止时总线上剩下的事件也留档了。"""

from __future__ import annotations

import math
import sqlite3

import pytest

from tests.engine.conftest import close, flip, frozen_sandbox, nudge_until, start_engine  # noqa: F401（夹具）
from tradeterm.errors import UserError

# 要跑出的已平仓回合数（Flip period=2：每两根 K 线一进一出）
TRIPS = 3
# 最多拨的 K 线根数
MAX_BARS = 40


@pytest.fixture
async def sandbox(frozen_sandbox):
    """本模块的引擎连时钟停住的沙盒。"""
    yield frozen_sandbox


def closed_fills(path) -> int:
    """日志库里的成交笔数。"""
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT COUNT(*) FROM fills").fetchone()[0]
    finally:
        conn.close()


async def run_bars_until(sandbox, engine, predicate) -> None:
    """一根一根地拨沙盒时钟，每根等引擎看到它收盘，直到 predicate() 为真（最多 MAX_BARS 根）。"""
    (status,) = engine.feeds.status.values()
    registered = status.last_update_ms
    await nudge_until(sandbox, lambda: status.last_update_ms > registered, "the bar feed's first push")
    for _ in range(MAX_BARS):
        if predicate():
            return
        sandbox.clock.advance(status.step_ms)
        target = sandbox.clock.now() // status.step_ms * status.step_ms - status.step_ms
        await nudge_until(sandbox, lambda: status.last_bar_ts >= target and not engine.execution.in_flight,
                          "the bar to close")
    assert predicate(), f"not reached within {MAX_BARS} bars"


async def test_trades_pnl_and_history_agree_with_the_engines_own_bookkeeping(start_engine, sandbox):
    """trades 的回合盈亏之和 = 引擎 positions 表的已实现盈亏 - 手续费；pnl 各日之和 = 合计；history 给出成交、信号、K 线与权益；参数有误是一行错误。"""
    handle = await start_engine([flip(period=2)])
    engine = handle.engine
    path = engine.journal.path
    await run_bars_until(sandbox, engine, lambda: closed_fills(path) >= 2 * TRIPS)
    await nudge_until(sandbox, lambda: not engine.execution.in_flight, "orders to land")

    result = await engine.command("trades")
    trades, summary = result["trades"], result["summary"]
    assert len(trades) >= TRIPS and summary["trades"] == len(trades)
    assert all(t["instance"] == "flip_btc" and t["side"] == "long" and t["exit_ts"] >= t["entry_ts"] for t in trades)
    assert [t["exit_ts"] for t in trades] == sorted((t["exit_ts"] for t in trades), reverse=True)  # 新的在前
    # 独立的参照：引擎成交时逐笔更新、写进 positions 表的已实现盈亏与手续费（同一套均价法，但逐笔累计、不分回合）
    conn = sqlite3.connect(path)
    try:
        realized, fees = conn.execute("SELECT realized_pnl, fees FROM positions WHERE instance = 'flip_btc'").fetchone()
    finally:
        conn.close()
    open_fees = sum(t["fees"] for t in result["open"])
    open_realized = sum(t["pnl"] + t["fees"] for t in result["open"])
    assert math.fsum(t["pnl"] for t in trades) == pytest.approx(realized - open_realized - (fees - open_fees),
                                                                abs=1e-9)
    assert summary["pnl"] == pytest.approx(math.fsum(t["pnl"] for t in trades), abs=1e-12)

    pnl = await engine.command("pnl", period="day", count=3)
    assert pnl["period"] == "day" and len(pnl["periods"]) == 3
    assert math.fsum(r["pnl"] for r in pnl["periods"]) == pytest.approx(summary["pnl"], abs=1e-9)
    assert [r["instance"] for r in pnl["by_instance"]] == ["flip_btc"]
    assert pnl["by_symbol"][0]["symbol"] == "BTC/USDT"

    history = await engine.command("history", events=500)
    kinds = {e["kind"] for e in history["events"]}
    assert {"fill", "signal", "instance", "log"} <= kinds, kinds
    fills = [e for e in history["events"] if e["kind"] == "fill"]
    assert all(e["data"]["fill_ts"] > 0 for e in fills)
    (series,) = history["bars"]
    assert (series["symbol"], series["timeframe"]) == ("BTC/USDT", "1m") and len(series["rows"]) >= 2 * TRIPS
    assert [r[0] for r in series["rows"]] == sorted(r[0] for r in series["rows"])
    assert len(history["fills"]) == closed_fills(path)
    assert history["equity"] and all(len(point) == 2 for point in history["equity"])

    with pytest.raises(UserError, match="trades.instance: unknown instance 'nope'"):
        await engine.command("trades", instance="nope")
    with pytest.raises(UserError, match="pnl.count: 2.5 is not a whole number"):
        await engine.command("pnl", count=2.5)
    with pytest.raises(UserError, match="pnl.period: 'year' is not one of day, week, month"):
        await engine.command("pnl", period="year")

    published = engine.archive.archived
    await close(handle)
    # 停止时订阅队列里剩下的也写进了日志库：日志库里的成交事件与成交笔数一样多
    conn = sqlite3.connect(path)
    try:
        fill_events = conn.execute("SELECT COUNT(*) FROM events WHERE kind = 'fill'").fetchone()[0]
        fill_rows = conn.execute("SELECT COUNT(*) FROM fills").fetchone()[0]
    finally:
        conn.close()
    assert fill_events == fill_rows and engine.archive.archived >= published
