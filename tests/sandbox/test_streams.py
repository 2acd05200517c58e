"""沙盒的 websocket：行情流（K 线、ticker、成交）与用户数据流（订单、成交、余额），经由原版 ccxt.pro。"""

from __future__ import annotations

import asyncio
import json

import aiohttp

from tests.sandbox.helpers import run_until

# 等待一条推送的上限，秒
WAIT_S = 5.0


async def test_watch_ohlcv_streams_the_running_bar_and_closes_it_on_the_next(sandbox, pro):
    """watch_ohlcv：先收到正在走的 K 线；拨过一根后，上一根以最终值出现，且与 REST 一致。"""
    first = await asyncio.wait_for(pro.watch_ohlcv("BTC/USDT", "1m"), WAIT_S)
    opening = first[-1][0]
    await run_until(sandbox, opening + 60_000)
    streamed = {bar[0]: bar for bar in first}
    while max(streamed) == opening:
        # ccxt.pro 只返回新的更新（newUpdates），所以逐次累积
        streamed.update({bar[0]: bar for bar in await asyncio.wait_for(pro.watch_ohlcv("BTC/USDT", "1m"), WAIT_S)})
    rest = await pro.fetch_ohlcv("BTC/USDT", "1m", since=opening, limit=1)
    assert streamed[opening][1:5] == rest[0][1:5]
    assert max(streamed) == opening + 60_000


async def test_watch_ticker_updates_as_the_price_moves(pro):
    """watch_ticker：连续更新，最新价随时间变化。"""
    prices = set()
    for _ in range(12):
        ticker = await asyncio.wait_for(pro.watch_ticker("ETH/USDT"), WAIT_S)
        prices.add(ticker["last"])
    assert ticker["symbol"] == "ETH/USDT" and len(prices) >= 3


async def test_watch_trades_receives_public_trades(pro):
    """watch_trades：公开成交带正的数量与价格，编号递增。"""
    trades = await asyncio.wait_for(pro.watch_trades("BTC/USDT"), WAIT_S)
    trades = await asyncio.wait_for(pro.watch_trades("BTC/USDT"), WAIT_S)
    assert trades[-1]["amount"] > 0 and trades[-1]["price"] > 0 and trades[-1]["symbol"] == "BTC/USDT"


async def test_watch_orders_my_trades_and_balance_follow_a_fill(pro):
    """用户数据流：下市价单后，watch_orders、watch_my_trades、watch_balance 都收到对应更新。"""
    orders_task = asyncio.create_task(pro.watch_orders("BTC/USDT"))
    trades_task = asyncio.create_task(pro.watch_my_trades("BTC/USDT"))
    balance_task = asyncio.create_task(pro.watch_balance())
    await asyncio.sleep(0.3)  # 等三个订阅都在 websocket API 上建立
    order = await pro.create_order("BTC/USDT", "market", "buy", 0.01)
    orders = await asyncio.wait_for(orders_task, WAIT_S)
    trades = await asyncio.wait_for(trades_task, WAIT_S)
    balance = await asyncio.wait_for(balance_task, WAIT_S)
    assert orders[-1]["id"] == order["id"]
    assert trades[-1]["order"] == order["id"] and trades[-1]["amount"] == 0.01
    # 第一条余额事件随 NEW 回报发出：USDT 已被冻结或花掉
    assert balance["USDT"]["free"] < 10_000


async def test_combined_stream_wraps_events_with_stream_name(sandbox):
    """/stream?streams=... 的组合流把事件包成 {"stream": 名字, "data": 事件}。"""
    url = f"ws://127.0.0.1:{sandbox.port}/stream?streams=btcusdt@kline_5m/ethusdt@bookTicker/btcusdt@depth5"
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        names = set()
        for _ in range(15):
            message = json.loads((await asyncio.wait_for(ws.receive(), WAIT_S)).data)
            names.add(message["stream"])
            if message["stream"] == "btcusdt@kline_5m":
                assert message["data"]["k"]["i"] == "5m"
            if message["stream"] == "btcusdt@depth5":
                book = message["data"]
                assert len(book["bids"]) == 5 and float(book["bids"][0][0]) < float(book["asks"][0][0])
        assert names == {"btcusdt@kline_5m", "ethusdt@bookTicker", "btcusdt@depth5"}


async def test_legacy_listen_key_stream_receives_execution_reports(sandbox, exchange):
    """旧式 listenKey：POST userDataStream 拿到 key，连接 /ws/<key> 后收到 executionReport。"""
    listen_key = (await exchange.public_post_userdatastream())["listenKey"]
    async with aiohttp.ClientSession() as session, \
            session.ws_connect(f"ws://127.0.0.1:{sandbox.port}/ws/{listen_key}") as ws:
        await exchange.create_order("BTC/USDT", "market", "buy", 0.001)
        events = [json.loads((await asyncio.wait_for(ws.receive(), WAIT_S)).data) for _ in range(2)]
    assert events[0]["e"] == "executionReport" and events[0]["x"] == "NEW"
    assert events[1]["e"] == "outboundAccountPosition"
