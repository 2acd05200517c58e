"""引擎在故障中照常、正确地交易：下单接口 5xx、查询接口 5xx/429、websocket 断线、推送静默。

对着进程内沙盒（原版 ccxt，真实 HTTP/websocket）。每个测试都核对四件事：
交易所上没有重复的客户端订单号；日志库的成交与交易所的成交按成交编号逐笔相同；
日志库的持仓等于交易所的基础币余额；故障过去之后还在继续交易。
"""

from __future__ import annotations

import asyncio
import sqlite3

import numpy as np
import pytest

from tests.engine.conftest import flip, wait_for
from tradeterm.engine import execution as execution_module
from tradeterm.models import OrderStatus, OrderType, Side

# 测试用的交易对
SYMBOL = "BTC/USDT"
# 1 分钟 K 线的周期，毫秒
MINUTE_MS = 60_000
# 测试里给引擎设的 recvWindow，毫秒（5xx 之后等原请求过期的时间因此只有约 2 秒，而不是默认的 11 秒）
SHORT_RECV_WINDOW_MS = 1000


def journal_rows(handle, sql: str, params: tuple = ()) -> list[tuple]:
    """用独立的同步连接读日志库。"""
    conn = sqlite3.connect(handle.engine.journal.path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def fills_count(handle) -> int:
    """日志库里的成交笔数。"""
    return journal_rows(handle, "SELECT COUNT(*) FROM fills")[0][0]


async def trading_continues(handle, more: int = 2, timeout: float = 10.0) -> None:
    """故障之后日志库里至少又多了 more 笔成交。"""
    before = fills_count(handle)
    await wait_for(lambda: fills_count(handle) >= before + more, timeout, f"{more} more fills after the fault")


async def settle(handle) -> None:
    """暂停全部运行中的实例，等所有订单结束、迟到的回报落定（之后交易所与日志库都不再变化）。"""
    for name, bot in handle.engine.bots.items():
        if bot.state.status.value == "running":
            await handle.engine.command("pause", instance=name)
    await wait_for(lambda: not handle.engine.orders.open_orders(), 15, "no open orders")
    await asyncio.sleep(0.3)


async def assert_journal_matches_exchange(handle, exchange_view, symbol: str = SYMBOL) -> None:
    """交易所与日志库一致：客户端订单号不重复且都在日志库里，成交逐笔相同，持仓等于余额，对账没有问题。"""
    await settle(handle)
    orders = await exchange_view.fetch_orders(symbol)
    client_ids = [o["clientOrderId"] for o in orders]
    assert len(client_ids) == len(set(client_ids)), "duplicate client order ids at the exchange"
    journal_orders = dict(journal_rows(handle, "SELECT client_order_id, status FROM orders WHERE symbol = ?",
                                       (symbol,)))
    assert set(client_ids) <= set(journal_orders)
    # 日志库里记为成交的订单，交易所上都有（没有凭空记账）
    assert {cid for cid, status in journal_orders.items() if status == "filled"} <= set(client_ids)
    trades = await exchange_view.fetch_my_trades(symbol)
    journal_trades = [r[0] for r in journal_rows(handle, "SELECT trade_id FROM fills WHERE symbol = ?", (symbol,))]
    assert trades, "no trades at the exchange"
    assert sorted(t["id"] for t in trades) == sorted(journal_trades)
    balance = await exchange_view.fetch_balance()
    position = journal_rows(handle, "SELECT COALESCE(SUM(amount), 0) FROM positions WHERE symbol = ?", (symbol,))[0][0]
    assert balance["total"].get(symbol.split("/")[0], 0.0) == pytest.approx(position, abs=1e-9)
    assert handle.engine.problems == []


def assert_contiguous_bars(bot) -> None:
    """机器人的 K 线窗口：开盘时间严格递增且逐根相差一个周期（没有漏掉、也没有重复的 K 线）。"""
    steps = np.diff(bot.bars[:, 0])
    assert len(steps) > 0
    bad = np.nonzero(steps != MINUTE_MS)[0]
    assert len(bad) == 0, (f"bar steps in the window: {sorted(set(steps.tolist()))} at positions "
                           f"{[(int(i), len(steps)) for i in bad]}, ts={[int(bot.bars[i, 0]) for i in bad]}")


async def place_resting_buy(engine, exchange_view):
    """经引擎手动挂一张限价买单，比交易所现价低一个价格步长：到达时若已可成交（行情恰好跌过去）就成交了，
    再挂一张，直到有一张挂住（open）。挂住的单在下一两个撮合节拍里就会成交。"""
    rules = engine.rules[SYMBOL]
    for _ in range(20):
        ticker = await exchange_view.fetch_ticker(SYMBOL)
        price = round(ticker["bid"] - rules.price_tick, 8)
        order = await engine.submit_manual(SYMBOL, Side.BUY, round(12 / price, 5), OrderType.LIMIT, price=price)
        if order.status is OrderStatus.OPEN:
            return order
    raise AssertionError("no limit order rested on the book")


async def wait_for_exchange_fill(exchange_view, order, timeout: float = 10.0) -> None:
    """等交易所报告这张单已全部成交（直接问交易所，不经引擎）。"""
    deadline = asyncio.get_running_loop().time() + timeout
    while (await exchange_view.fetch_order(None, SYMBOL, {"origClientOrderId": order.client_order_id}))["status"] \
            != "closed":
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"order {order.client_order_id} did not fill at the exchange in {timeout}s")
        await asyncio.sleep(0.05)


def shorten_recv_window(handle) -> None:
    """缩短引擎客户端的 recvWindow（请求里带上、经纪商也据此决定等多久）。"""
    handle.engine.broker.exchange.options["recvWindow"] = SHORT_RECV_WINDOW_MS


async def test_5xx_on_order_placement_is_looked_up_then_resent_once(start_engine, sandbox, exchange_view):
    """下单回 503、500（请求没有执行）：引擎按客户端订单号查、等原请求过期后用同一个编号重发；没有重复订单，
    没有丢单，日志库与交易所一致。"""
    handle = await start_engine([flip()])
    shorten_recv_window(handle)
    await wait_for(lambda: fills_count(handle) >= 1, 10, "first fill")
    posts_before = len([m for m, p, _ in sandbox.request_log if p == "/api/v3/order" and m == "POST"])
    sandbox.faults.fail_http(503, path="/api/v3/order", method="POST", times=1)
    sandbox.faults.fail_http(500, path="/api/v3/order", method="POST", times=1)
    await wait_for(lambda: all(rule.times == 0 for rule in sandbox.faults.http_rules), 10, "both faults hit")
    await trading_continues(handle, more=4, timeout=15)
    await assert_journal_matches_exchange(handle, exchange_view)
    posts = len([m for m, p, _ in sandbox.request_log if p == "/api/v3/order" and m == "POST"]) - posts_before
    orders = await exchange_view.fetch_orders(SYMBOL)
    assert posts >= 2 + 1  # 两次失败 + 至少一次重发
    # 引擎里没有被当成拒单的订单：失败的请求都重发成功了
    assert journal_rows(handle, "SELECT COUNT(*) FROM orders WHERE status = 'rejected'")[0][0] == 0
    assert len(orders) == journal_rows(handle, "SELECT COUNT(*) FROM orders")[0][0]
    gets = [q for q in sandbox.requests_to("/api/v3/order") if "origClientOrderId" in q]
    assert gets, "the engine never looked the failed orders up"


async def test_5xx_and_429_on_read_endpoints_are_retried(start_engine, sandbox, exchange_view):
    """引擎用到的查询接口出错：启动时 K 线 503/429、成交查询 503；下单失败后的按编号查单 503 与 429。
    每次都退避重试，交易照常，日志库与交易所一致。"""
    sandbox.faults.fail_http(503, path="/api/v3/klines", method="GET", times=1)
    sandbox.faults.fail_http(429, path="/api/v3/klines", method="GET", times=1, retry_after_s=1)
    sandbox.faults.fail_http(503, path="/api/v3/myTrades", method="GET", times=1)
    handle = await start_engine([flip()])
    assert all(rule.times == 0 for rule in sandbox.faults.http_rules)  # 启动时都遇到了，也都挺过去了
    shorten_recv_window(handle)
    await wait_for(lambda: fills_count(handle) >= 1, 10, "first fill")
    # 下一张单 503（结果不明）-> 引擎查单，查单先 503 再 429
    sandbox.faults.fail_http(503, path="/api/v3/order", method="GET", times=1)
    sandbox.faults.fail_http(429, path="/api/v3/order", method="GET", times=1, retry_after_s=1)
    sandbox.faults.fail_http(503, path="/api/v3/order", method="POST", times=1)
    await wait_for(lambda: all(rule.times == 0 for rule in sandbox.faults.http_rules), 10, "all faults hit")
    await trading_continues(handle, more=4, timeout=15)
    await assert_journal_matches_exchange(handle, exchange_view)
    assert journal_rows(handle, "SELECT COUNT(*) FROM orders WHERE status = 'rejected'")[0][0] == 0


async def test_websocket_drop_reconnects_without_missing_bars_or_fills(start_engine, sandbox, exchange_view):
    """交易中途服务器断开全部 websocket，并在一段时间内拒绝重连：这期间一张挂单在交易所成交（回报推不过来）。
    恢复时补 K 线的 REST 请求先遇到 503/429，重连后的推送有重复。K 线流与订单流都重连；机器人的 K 线窗口
    没有漏根、没有重复；断线期间的成交由对账/REST 补记进日志库。"""
    handle = await start_engine([flip()])
    engine = handle.engine
    await wait_for(lambda: fills_count(handle) >= 2, 10, "fills before the drop")
    feeds = [t for t in engine._tasks if t.get_name().startswith("feed")]
    sandbox.faults.refuse_websockets(times=1000)
    sandbox.faults.drop_websockets()
    await wait_for(lambda: not sandbox.hub.connections, 5, "every websocket closed")
    limit = await place_resting_buy(engine, exchange_view)
    await wait_for_exchange_fill(exchange_view, limit)
    assert not sandbox.hub.connections  # 成交发生时确实没有任何推送连接
    # 重连时补 K 线的 REST 请求也先碰上 503 与 429；重连后的头几十条推送各发两次
    sandbox.faults.fail_http(503, path="/api/v3/klines", method="GET", times=1)
    sandbox.faults.fail_http(429, path="/api/v3/klines", method="GET", times=1, retry_after_s=1)
    sandbox.faults.duplicate_messages(40)
    sandbox.faults.refused_websockets = 0
    generation = sandbox.faults.drop_generation
    await wait_for(lambda: any(c.streams and c.generation == generation for c in sandbox.hub.connections), 10,
                   "the candle stream reconnected")
    await wait_for(lambda: any(c.listeners and c.generation == generation for c in sandbox.hub.connections), 10,
                   "the order stream reconnected")
    await wait_for(lambda: limit.client_order_id in {r[0] for r in journal_rows(
        handle, "SELECT client_order_id FROM fills")}, 10, "the fill made during the drop in the journal")
    assert limit.status is OrderStatus.FILLED
    await trading_continues(handle, more=4, timeout=10)
    assert all(rule.times == 0 for rule in sandbox.faults.http_rules)
    assert all(not t.done() for t in feeds)
    bot = engine.bots["flip_btc"]
    assert_contiguous_bars(bot)
    await assert_journal_matches_exchange(handle, exchange_view)
    assert_contiguous_bars(bot)


async def test_silenced_order_stream_fills_arrive_by_rest_polling(start_engine, sandbox, exchange_view, monkeypatch):
    """websocket 连着但一声不吭：挂单的成交推送收不到，REST 轮询把它补进日志库；静默结束后照常交易。"""
    monkeypatch.setattr(execution_module, "POLL_INTERVAL_S", 0.3)
    handle = await start_engine([flip()])
    engine = handle.engine
    await wait_for(lambda: fills_count(handle) >= 2, 10, "fills before the silence")
    await engine.command("pause", instance="flip_btc")
    await wait_for(lambda: not engine.orders.open_orders(), 10, "no open orders")
    bot = engine.bots["flip_btc"]
    sandbox.faults.silence_websockets(3.0)
    limit = await place_resting_buy(engine, exchange_view)
    await wait_for(lambda: limit.client_order_id in {r[0] for r in journal_rows(
        handle, "SELECT client_order_id FROM fills")}, 10, "the limit order's fill in the journal (by polling)")
    assert sandbox.faults.websockets_silent(), "the fill should have been journaled while the stream was silent"
    assert limit.status is OrderStatus.FILLED
    await engine.command("resume", instance="flip_btc")
    await trading_continues(handle, more=2, timeout=15)
    await assert_journal_matches_exchange(handle, exchange_view)
    assert_contiguous_bars(bot)
