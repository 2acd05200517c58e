"""TraderEngine 对着进程内沙盒交易所（原版 ccxt，真实 HTTP/websocket）交易：下单、记账、隔离、命令、故障。"""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from tests.engine.conftest import close, flip, wait_for
from tradeterm.engine.events import EventKind
from tradeterm.errors import UserError
from tradeterm.models import OrderStatus


def journal_rows(handle, sql: str) -> list[tuple]:
    """用独立的同步连接读日志库（与界面、报表读库的方式相同）。"""
    conn = sqlite3.connect(handle.engine.journal.path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def fills_count(handle) -> int:
    """日志库里的成交笔数。"""
    return journal_rows(handle, "SELECT COUNT(*) FROM fills")[0][0]


async def test_engine_trades_and_journal_matches_the_exchange(start_engine, exchange_view, sandbox):
    """Flip 在沙盒上反复进出：日志库的成交与交易所的成交逐笔相同，持仓等于交易所余额，每张单先有日志再有成交。"""
    handle = await start_engine([flip()])
    await wait_for(lambda: fills_count(handle) >= 6, 20, "six fills")
    await handle.engine.command("pause", instance="flip_btc")
    await wait_for(lambda: not handle.engine.orders.open_orders(), 10, "no open orders")
    await asyncio.sleep(0.3)
    trades = await exchange_view.fetch_my_trades("BTC/USDT")
    journal_trades = journal_rows(handle, "SELECT trade_id, side, price, amount, fee FROM fills ORDER BY ts")
    assert sorted(t["id"] for t in trades) == sorted(r[0] for r in journal_trades)
    by_id = {t["id"]: t for t in trades}
    for trade_id, side, price, amount, fee in journal_trades:
        assert (by_id[trade_id]["side"], by_id[trade_id]["price"], by_id[trade_id]["amount"]) == (side, price, amount)
        assert by_id[trade_id]["fee"]["cost"] == pytest.approx(fee)
    balance = await exchange_view.fetch_balance()
    position = journal_rows(handle, "SELECT amount FROM positions WHERE instance = 'flip_btc'")[0][0]
    assert balance["total"].get("BTC", 0.0) == pytest.approx(position, abs=1e-9)
    assert handle.engine.bots["flip_btc"].position.amount == pytest.approx(position)
    # 每张交易所订单的客户端订单号都在日志库里，且只出现一次
    orders = await exchange_view.fetch_orders("BTC/USDT")
    client_ids = [o["clientOrderId"] for o in orders]
    assert len(client_ids) == len(set(client_ids))
    assert set(client_ids) <= {r[0] for r in journal_rows(handle, "SELECT client_order_id FROM orders")}
    # 权益在每根收盘与每笔成交时采样
    assert journal_rows(handle, "SELECT COUNT(*) FROM equity WHERE instance = ''")[0][0] > 6


async def test_a_failing_strategy_only_stops_its_own_instance(start_engine):
    """一个实例的策略抛异常：它进入 error（日志库记下原因），另一个实例照常交易。"""
    handle = await start_engine([flip(), {"name": "bad", "symbol": "ETH/USDT", "interval": "1m",
                                          "class": "Explodes"}])
    await wait_for(lambda: handle.engine.bots["bad"].state.status.value == "error", 10, "bad instance error")
    before = fills_count(handle)
    await wait_for(lambda: fills_count(handle) >= before + 2, 15, "flip keeps trading")
    assert "boom" in handle.engine.bots["bad"].state.error
    assert journal_rows(handle, "SELECT status FROM instances WHERE name = 'bad'") == [("error",)]
    assert any("boom" in data for (data,) in journal_rows(handle, "SELECT data FROM events WHERE kind = 'error'"))


async def test_pause_stops_new_orders_and_resume_starts_them_again(start_engine):
    """pause 之后不再开新仓（平仓信号照常，状态写进日志库）；resume 之后又开始开仓。"""
    handle = await start_engine([flip()])
    await wait_for(lambda: fills_count(handle) >= 1, 15, "first fill")
    await handle.engine.command("pause", instance="flip_btc")
    assert journal_rows(handle, "SELECT status FROM instances") == [("paused",)]
    bot = handle.engine.bots["flip_btc"]
    await wait_for(lambda: not handle.engine.orders.open_orders() and bot.position.amount == 0, 10,
                   "no open orders and the position closed by the exit signal")
    paused_count = len(handle.engine.orders.orders)
    await asyncio.sleep(1.5)  # 15 根 K 线，Flip 本该进出好几次
    assert len(handle.engine.orders.orders) == paused_count
    await handle.engine.command("resume", instance="flip_btc")
    await wait_for(lambda: len(handle.engine.orders.orders) > paused_count, 10, "orders after resume")
    with pytest.raises(UserError, match="unknown instance 'nope'"):
        await handle.engine.command("pause", instance="nope")
    with pytest.raises(UserError, match="cannot resume"):
        await handle.engine.command("resume", instance="flip_btc")


async def test_set_params_validates_and_applies(start_engine):
    """运行中改参数：非法参数报错且不生效；合法参数生效并写进日志库。"""
    handle = await start_engine([flip()])
    with pytest.raises(UserError, match="period"):
        await handle.engine.command("set_params", instance="flip_btc", params={"perod": 6})
    assert handle.engine.bots["flip_btc"].strategy.params["period"] == 4
    await handle.engine.command("set_params", instance="flip_btc", params={"period": 6})
    assert handle.engine.bots["flip_btc"].strategy.params["period"] == 6
    assert '"current": {"period": 6}' in journal_rows(handle, "SELECT params FROM instances")[0][0]


async def test_exchange_rejection_is_journaled_and_trading_goes_on(start_engine, sandbox):
    """交易所拒单（余额不足 -2010）：订单记为 rejected、拒绝事件写进日志库，之后的信号照常下单。"""
    sandbox.faults.reject_orders(times=1)
    handle = await start_engine([flip()])
    await wait_for(lambda: journal_rows(handle, "SELECT COUNT(*) FROM orders WHERE status = 'rejected'")[0][0] == 1,
                   15, "a rejected order")
    # 订单先记为 rejected，拒绝事件在下单协程回来之后才记：等它出现，而不是假定两者同时落库
    await wait_for(lambda: journal_rows(handle, "SELECT data FROM events WHERE kind = 'rejection'"), 15,
                   "the rejection event")
    reasons = journal_rows(handle, "SELECT data FROM events WHERE kind = 'rejection'")
    assert "InsufficientFunds" in reasons[0][0]
    await wait_for(lambda: fills_count(handle) >= 2, 15, "fills after the rejection")


async def test_lost_order_response_is_looked_up_not_resent(start_engine, sandbox, exchange_view):
    """下单请求到了交易所、但响应超时丢失：引擎按客户端订单号查到它，不重发——交易所只有一张单。"""
    handle = await start_engine([flip()])
    handle.engine.broker.exchange.timeout = 500  # 毫秒
    sandbox.faults.slow_http(1.0, path="/api/v3/order", method="POST", times=1)
    await wait_for(lambda: fills_count(handle) >= 2, 20, "fills")
    await handle.engine.command("pause", instance="flip_btc")
    await wait_for(lambda: not handle.engine.orders.open_orders(), 10, "no open orders")
    orders = await exchange_view.fetch_orders("BTC/USDT")
    client_ids = [o["clientOrderId"] for o in orders]
    assert len(client_ids) == len(set(client_ids))
    journal_ids = {r[0] for r in journal_rows(handle, "SELECT client_order_id FROM orders WHERE status = 'filled'")}
    assert set(client_ids) == journal_ids
    assert len(sandbox.requests_to("/api/v3/order")) > len(orders)  # 查询（GET）发生过


async def test_rate_limited_order_is_resent_after_backoff(start_engine, sandbox, exchange_view):
    """下单回 429（交易所明确没执行）：退避后用同一个客户端订单号重发，最终成交，交易所没有重复订单。"""
    sandbox.faults.fail_http(429, path="/api/v3/order", method="POST", times=1, retry_after_s=1)
    handle = await start_engine([flip()])
    await wait_for(lambda: fills_count(handle) >= 1, 20, "a fill after the 429")
    orders = await exchange_view.fetch_orders("BTC/USDT")
    assert len({o["clientOrderId"] for o in orders}) == len(orders)


async def test_kill_switch_cancels_flattens_and_stops(start_engine, exchange_view):
    """一键停止：没有挂单、没有持仓（交易所余额为 0），全部实例停止，之后不再下单。"""
    handle = await start_engine([flip("flip_btc", "BTC/USDT", 40), flip("flip_eth", "ETH/USDT", 40)])
    engine = handle.engine
    await wait_for(lambda: any(b.position.amount for b in engine.bots.values()), 20, "an open position")
    result = await engine.command("kill_switch")
    assert sorted(result["stopped"]) == ["flip_btc", "flip_eth"] and result["remaining"] == []
    await wait_for(lambda: not engine.orders.open_orders(), 10, "no open orders")
    assert all(b.position.amount == 0 for b in engine.bots.values())
    assert all(b.state.status.value == "stopped" for b in engine.bots.values())
    balance = await exchange_view.fetch_balance()
    assert balance["total"].get("BTC", 0.0) == 0 and balance["total"].get("ETH", 0.0) == 0
    assert await exchange_view.fetch_open_orders("BTC/USDT") == []
    count = len(engine.orders.orders)
    await asyncio.sleep(1.0)
    assert len(engine.orders.orders) == count
    assert journal_rows(handle, "SELECT COUNT(*) FROM events WHERE kind = 'kill_switch'")[0][0] == 2  # 接合 + 报告


async def test_restart_resumes_positions_state_and_finds_nothing_to_fix(start_engine, tmp_path):
    """停掉引擎（留着持仓）再启动：持仓、实例状态回来，对账没有问题，成交不重复。"""
    handle = await start_engine([flip("flip_btc", "BTC/USDT", 40)])
    await wait_for(lambda: handle.engine.bots["flip_btc"].position.amount > 0, 20, "an open position")
    await handle.engine.command("pause", instance="flip_btc")
    await wait_for(lambda: not handle.engine.orders.open_orders(), 10, "no open orders")
    held = handle.engine.bots["flip_btc"].position.amount
    fills = fills_count(handle)
    await close(handle)
    again = await start_engine([flip("flip_btc", "BTC/USDT", 40)])
    bot = again.engine.bots["flip_btc"]
    assert bot.position.amount == pytest.approx(held)
    assert bot.state.status.value == "paused"
    assert again.engine.problems == []
    assert fills_count(again) == fills


async def test_fill_that_happened_while_the_engine_was_down_is_adopted(start_engine, sandbox, exchange_view):
    """进程在“写日志库之后、收到回报之前”死掉，而订单其实成交了：重启对账按客户端订单号找到它并补记成交。"""
    from tradeterm.journal.store import TradeJournal
    from tradeterm.models import Order, OrderType, Side

    handle = await start_engine([flip("flip_btc", "BTC/USDT", 1000)])
    journal_path = handle.engine.journal.path
    await close(handle)
    journal = await TradeJournal.open(journal_path)
    await journal.start_run("paper", 10_000, {})
    order = Order("BTC/USDT", Side.BUY, OrderType.MARKET, 0.01, instance="flip_btc", reason="test", created_ts=1)
    await journal.record_order(order)  # 日志库里是 new ...
    await journal.close()
    await exchange_view.create_order("BTC/USDT", "market", "buy", 0.01, None,
                                     {"newClientOrderId": order.client_order_id})  # ... 交易所上却成交了
    lost = Order("BTC/USDT", Side.BUY, OrderType.MARKET, 0.01, instance="flip_btc", reason="lost", created_ts=2)
    journal = await TradeJournal.open(journal_path)
    await journal.start_run("paper", 10_000, {})
    await journal.record_order(lost)  # 这张从未发出
    await journal.close()
    again = await start_engine([flip("flip_btc", "BTC/USDT", 1000)])
    assert again.engine.problems == []
    assert again.engine.bots["flip_btc"].position.amount == pytest.approx(0.01)
    assert again.engine.orders.orders[order.client_order_id].status is OrderStatus.FILLED
    assert again.engine.orders.orders[lost.client_order_id].status is OrderStatus.REJECTED
    assert fills_count(again) == 1


async def test_trade_placed_outside_the_engine_stops_the_instance(start_engine, exchange_view):
    """有人在别处（不经引擎）下了单：对账报告无法解释的成交与余额，并停止该交易对上的实例。"""
    handle = await start_engine([flip("flip_btc", "BTC/USDT", 1000)])
    await close(handle)  # 第一次运行记下余额基线
    await exchange_view.create_order("BTC/USDT", "market", "buy", 0.01)
    again = await start_engine([flip("flip_btc", "BTC/USDT", 1000)])
    assert any("was not placed by this engine" in p for p in again.engine.problems)
    assert any("BTC balance" in p for p in again.engine.problems)
    assert again.engine.bots["flip_btc"].state.status.value == "stopped"


async def test_second_engine_on_the_same_journal_is_refused(start_engine):
    """同一个日志库上不能同时跑两个引擎（会重复下单）。"""
    await start_engine([flip()])
    with pytest.raises(UserError, match="already running on the journal"):
        await start_engine([flip()])


async def test_events_reach_subscribers(start_engine):
    """事件总线：订阅者收到信号、订单、成交与权益事件。"""
    handle = await start_engine([flip()])
    subscription = handle.engine.bus.subscribe()
    await wait_for(lambda: fills_count(handle) >= 2, 15, "fills")
    kinds = {e.kind for e in subscription.drain()}
    assert {EventKind.SIGNAL, EventKind.ORDER, EventKind.FILL, EventKind.EQUITY} <= kinds


async def test_notification_hook_receives_fills(start_engine):
    """通知挂钩：注册的通知器收到成交事件（报价之类的不会打扰它）。"""
    handle = await start_engine([flip()])
    received = []

    class Collector:
        """把收到的事件记下来的通知器。"""

        def notify(self, event):
            """记下事件。"""
            received.append(event)

    handle.engine.notifier.add(Collector())
    await wait_for(lambda: any(e.kind is EventKind.FILL for e in received), 15, "a fill notification")
    assert all(e.kind in {EventKind.FILL, EventKind.REJECTION, EventKind.BREAKER, EventKind.ERROR} for e in received)


async def test_bar_window_has_no_hole_between_history_and_live_bars(start_engine, sandbox):
    """预热（REST 历史）与实时订阅之间收盘的 K 线被补进窗口：窗口的开盘时间逐根相差一个周期，没有缺口、没有重复。

    第二个实例的预热被拖慢 1 秒（10 根 K 线），于是第一个实例的历史结束后要过一阵才开始订阅。"""
    sandbox.faults.slow_http(1.0, path="/api/v3/klines", times=3)
    handle = await start_engine([flip(), flip("flip_eth", "ETH/USDT")])
    bot = handle.engine.bots["flip_btc"]
    start = int(bot.bars[-1, 0])
    await wait_for(lambda: int(bot.bars[-1, 0]) > start + 20 * 60_000, 15, "twenty live bars")
    steps = set((bot.bars[1:, 0] - bot.bars[:-1, 0]).tolist())
    assert steps == {60_000.0}
    # 引擎看到的每根 K 线（预热、补齐、实时）都记在日志库里，replay-check 用同样的行情重放
    journaled = {r[0] for r in journal_rows(handle, "SELECT ts FROM bars WHERE symbol = 'BTC/USDT'")}
    assert {int(ts) for ts in bot.bars[:-1, 0]} <= journaled
    first, last = journal_rows(handle, "SELECT first_bar_ts, last_bar_ts FROM runs")[0]
    assert start < first <= last  # 运行覆盖的实时 K 线范围（交易所时间，预热历史之后）


async def test_order_whose_outcome_stays_unknown_is_resolved_by_the_poller(start_engine, sandbox, monkeypatch):
    """下单与之后的查询全都 503（重试用尽）：不抛出、不重发；订单保持 new，轮询在 recvWindow 过后查清它
    从未到达交易所并标为 rejected；交易照常继续。"""
    from tradeterm.engine import execution as trader
    from tradeterm.exchange.retry import RetryPolicy

    monkeypatch.setattr(trader, "POLL_INTERVAL_S", 0.3)
    handle = await start_engine([flip()])
    broker = handle.engine.broker
    broker.retry = RetryPolicy(attempts=2, base_delay_s=0.05, max_delay_s=0.1)
    broker.exchange.options["recvWindow"] = 1000
    before = fills_count(handle)
    sandbox.faults.fail_http(503, path="/api/v3/order", times=4)
    await wait_for(lambda: journal_rows(
        handle, "SELECT COUNT(*) FROM orders WHERE reason LIKE '%never reached the exchange%'")[0][0] == 1, 15,
        "the unknown order resolved as never sent")
    assert any("outcome unknown" in data for (data,) in journal_rows(handle, "SELECT data FROM events"))
    await wait_for(lambda: fills_count(handle) >= before + 2, 15, "trading goes on")


async def test_volatility_target_and_kelly_sizers_work_in_the_engine(start_engine):
    """引擎里的波动率目标仓位：ATR 从预热的 K 线就绪，开仓数量 = 权益 * target_risk / ATR（按步长取整、按现金封顶）；
    凯利在不足 kelly_min_trades 笔交易时用 fraction。两个实例都真的下单成交。"""
    from tradeterm.indicators import atr

    vol = {**flip("vol_btc"), "sizing": {"method": "volatility_target", "target_risk": 0.001, "atr_period": 14}}
    kelly = {**flip("kelly_eth", "ETH/USDT"), "sizing": {"method": "kelly", "fraction": 0.05, "kelly_min_trades": 50}}
    handle = await start_engine([vol, kelly])
    engine = handle.engine
    await wait_for(lambda: journal_rows(handle, "SELECT COUNT(DISTINCT instance) FROM fills")[0][0] == 2, 20,
                   "fills of both instances")
    bot = engine.bots["vol_btc"]
    window = engine.bots["vol_btc"].frame()
    expected_atr = float(atr(window["high"], window["low"], window["close"], 14).iloc[-1])
    sizer = engine.sizers["vol_btc"]
    equity, price = 10_000.0, bot.mark
    assert sizer.amount(equity, price, 0.001) == pytest.approx(min(equity * 0.001 / expected_atr,
                                                                   equity / (price * 1.001)), rel=1e-9)
    assert engine.sizers["kelly_eth"].amount(10_000.0, 100.0, 0.0) == pytest.approx(10_000 * 0.05 / 100.0)
