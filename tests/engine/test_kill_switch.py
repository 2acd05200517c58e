"""一键停止、pause / stop / flatten 的语义：对着进程内沙盒（真实 HTTP/websocket）的真实引擎。

- 一键停止在机器人持仓与手动持仓都开着时：之后交易所上零持仓（余额回到基线）、零挂单，全部实例停止，
  接合状态在重启后仍在，start 被拒绝，直到 kill_switch(reset=True)；
- pause：不开新仓，但策略的平仓信号照常执行；
- flatten：暂停、撤单、平仓，之后不再开仓；dry_run 给出真实数量。
"""

from __future__ import annotations

import pytest

from tests.engine.conftest import close, flip, wait_for
from tests.engine.test_trader import journal_rows
from tradeterm.engine.client import InProcessClient
from tradeterm.errors import UserError


async def test_kill_switch_closes_bot_and_manual_positions_and_survives_restart(start_engine, exchange_view):
    """机器人与手动持仓都开着时一键停止：交易所零持仓零挂单、实例全停；重启后仍接合、start 被拒，reset 后才可 start。"""
    instances = [flip("flip_btc", "BTC/USDT", 40), flip("flip_eth", "ETH/USDT", 40)]
    handle = await start_engine(instances)
    engine = handle.engine
    client = InProcessClient(engine)
    await wait_for(lambda: engine.mark_price("ETH/USDT") > 0, 20, "an ETH price")
    await client.command("manual_order", symbol="ETH/USDT", side="buy", amount=0.05)
    await wait_for(lambda: any(b.position.amount for b in engine.bots.values()), 30, "an open bot position")
    await wait_for(lambda: engine.manual_positions.get("ETH/USDT") is not None
                   and engine.manual_positions["ETH/USDT"].amount > 0, 10, "the manual position")
    # 再挂一张远离市价、不会成交的限价单：一键停止要把它撤掉
    price = round(engine.mark_price("ETH/USDT") * 0.9, 2)
    await client.command("manual_order", symbol="ETH/USDT", side="buy", amount=0.01, type="limit", price=price)

    report = await client.command("kill_switch")
    assert report["remaining"] == [], report
    assert report["cancelled"] >= 1
    assert {c["instance"] for c in report["closed"]} >= {""}  # 手动持仓也被平掉
    assert all(b.state.status.value == "stopped" for b in engine.bots.values())
    assert engine.all_positions() == []
    balance = await exchange_view.fetch_balance()
    assert balance["total"].get("BTC", 0.0) == 0 and balance["total"].get("ETH", 0.0) == 0
    assert await exchange_view.fetch_open_orders("ETH/USDT") == []
    assert await exchange_view.fetch_open_orders("BTC/USDT") == []
    snapshot = await client.snapshot()
    assert snapshot["account"]["killed"] is True
    # 接合之后：开仓被风控拒绝，start 被拒绝
    with pytest.raises(UserError, match="kill switch is engaged"):
        await client.command("manual_order", symbol="ETH/USDT", side="buy", amount=0.01)
    with pytest.raises(UserError, match="reset it first"):
        await client.command("start", instance="flip_btc")
    await close(handle)

    again = await start_engine(instances)
    engine = again.engine
    client = InProcessClient(engine)
    assert engine.risk.killed
    assert all(b.state.status.value == "stopped" for b in engine.bots.values())
    assert engine.problems == []
    with pytest.raises(UserError, match="reset it first"):
        await client.command("start", instance="flip_btc")
    result = await client.command("kill_switch", reset=True)
    assert result["was_engaged"] is True and not engine.risk.killed
    assert all(b.state.status.value == "stopped" for b in engine.bots.values())  # 解除不自动启动
    await client.command("start", instance="flip_btc")
    assert engine.bots["flip_btc"].state.status.value == "running"
    kinds = [r[0] for r in journal_rows(again, "SELECT kind FROM events WHERE kind = 'kill_switch'")]
    assert len(kinds) >= 3  # 接合、报告、重启后仍接合、解除


async def test_kill_switch_stops_bots_before_it_flattens(start_engine):
    """一键停止先停实例再平仓：平仓期间没有任何策略的单（不会出现“策略平仓 + 一键平仓”的双重卖出）。"""
    handle = await start_engine([flip("flip_btc", "BTC/USDT", 2)])  # 每根 K 线都在进出
    engine = handle.engine
    await wait_for(lambda: engine.bots["flip_btc"].position.amount > 0, 30, "an open position")
    report = await engine.command("kill_switch")
    assert report["remaining"] == []
    orders = sorted(engine.orders.orders.values(), key=lambda o: o.created_ts)
    kill_orders = [o for o in orders if o.reason == "kill_switch"]
    after = [o for o in orders if kill_orders and o.created_ts >= kill_orders[0].created_ts]
    assert all(o.reason == "kill_switch" for o in after), [(o.reason, o.side.value) for o in after]
    rejected = journal_rows(handle, "SELECT data FROM events WHERE kind = 'rejection'")
    assert not any("InsufficientFunds" in r[0] or "insufficient" in r[0].lower() for r in rejected)


async def test_pause_keeps_exits_running_and_flatten_does_not_re_enter(start_engine):
    """pause 之后：开仓信号不执行，平仓信号照常执行（持仓归零）；flatten 之后实例是 paused，不再开仓。"""
    handle = await start_engine([flip("flip_btc", "BTC/USDT", 6)])
    engine = handle.engine
    bot = engine.bots["flip_btc"]
    await wait_for(lambda: bot.position.amount > 0, 30, "an open position")
    await engine.command("pause", instance="flip_btc")
    await wait_for(lambda: bot.position.amount == 0, 30, "the exit signal closing the position while paused")
    opened = len([o for o in engine.orders.orders.values() if o.side.value == "buy"])
    exits = [o for o in engine.orders.orders.values() if o.side.value == "sell" and o.reason != "flatten"]
    assert exits, "the paused bot's exit signal was executed"
    # 再等一个完整的进出周期：暂停的实例不开仓
    start_bar = int(bot.bars[-1, 0])
    await wait_for(lambda: int(bot.bars[-1, 0]) >= start_bar + 8 * 60_000, 30, "eight more bars")
    assert len([o for o in engine.orders.orders.values() if o.side.value == "buy"]) == opened

    await engine.command("resume", instance="flip_btc")
    await wait_for(lambda: bot.position.amount > 0, 30, "a new position after resume")
    # 极长的周期：策略不会在预览与 flatten 之间自己平仓（否则 flatten 平的就不是预览的数量）
    await engine.command("set_params", instance="flip_btc", params={"period": 1_000_000})
    preview = await engine.command("flatten", instance="flip_btc", dry_run=True)
    assert preview["amount"] == pytest.approx(bot.position.amount) and preview["amount"] > 0
    result = await engine.command("flatten", instance="flip_btc")
    assert result["closed"] == pytest.approx(preview["amount"])
    await wait_for(lambda: bot.position.amount == 0, 10, "the flattened position")
    assert bot.state.status.value == "paused"
    # 周期改回 6：策略又会每 6 根给一次开仓信号，但 flatten 之后实例是暂停的，不开仓
    await engine.command("set_params", instance="flip_btc", params={"period": 6})
    buys = len([o for o in engine.orders.orders.values() if o.side.value == "buy"])
    start_bar = int(bot.bars[-1, 0])
    await wait_for(lambda: int(bot.bars[-1, 0]) >= start_bar + 8 * 60_000, 30, "eight more bars")
    assert len([o for o in engine.orders.orders.values() if o.side.value == "buy"]) == buys  # 没有再开仓


async def test_stop_runs_nothing_and_keeps_the_position(start_engine):
    """stop：持仓原样保留，K 线不再进入实例窗口，也不下任何单。"""
    handle = await start_engine([flip("flip_btc", "BTC/USDT", 6)])
    engine = handle.engine
    bot = engine.bots["flip_btc"]
    await wait_for(lambda: bot.position.amount > 0 and not engine.orders.open_orders(), 30, "an open position")
    held, count, last_bar = bot.position.amount, len(engine.orders.orders), int(bot.bars[-1, 0])
    await engine.command("stop", instance="flip_btc")
    feed = engine.feeds.status[("BTC/USDT", "1m")]
    await wait_for(lambda: feed.last_bar_ts >= last_bar + 8 * 60_000, 30, "eight more bars on the feed")
    assert bot.position.amount == held and len(engine.orders.orders) == count
    assert int(bot.bars[-1, 0]) == last_bar
