"""引擎的报价订阅（tradeterm/engine/tickers.py）：对着进程内沙盒（真实 HTTP/websocket、原版 ccxt.pro）。

- 真引擎：每个交易的交易对都发出带买一/卖一、24 小时成交量与涨跌幅的 QUOTE，值与沙盒在那一刻的行情相同；
  K 线订阅的 QUOTE 照常发出。
- 交易所没有 websocket 报价时用 REST；流握手被拒时先用 REST、重连后回到流，只记一条警告和一条恢复；
  合约的 ticker 不带买卖价时自动加订 bookTicker；停止时任务都结束。
等待都是等条件（防挂死上限见 wait_for / nudge_until），不靠停一会儿。
"""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace

import pytest

from tests.engine.conftest import flip, nudge_until, wait_for
from tradeterm.engine.events import EventKind
from tradeterm.engine.tickers import TickerState, TickerWatcher

# 永续合约交易对
PERP = "BTC/USDT:USDT"


class StubEngine:
    """报价订阅只用到引擎的三样东西：实例（取交易对）、行情客户端、发布事件。这里只有这三样，发布的负载记在 quotes。"""

    def __init__(self, exchange, symbols: list[str]):
        """exchange 为连沙盒的 ccxt 客户端；symbols 为要报价的交易对。"""
        # 实例名 -> 只带 symbol 的“实例”
        self.bots = {symbol: SimpleNamespace(symbol=symbol) for symbol in symbols}
        # 只带 exchange 的“行情数据层”
        self.market = SimpleNamespace(exchange=exchange)
        # 发布过的 QUOTE 负载，按发布顺序
        self.quotes: list[dict] = []

    def publish(self, kind: EventKind, **data) -> None:
        """记下一个事件的负载（只会有 QUOTE）。"""
        assert kind is EventKind.QUOTE
        self.quotes.append(data)


async def watching(engine: StubEngine):
    """在后台运行一个 TickerWatcher，返回 (watcher, 任务)。"""
    watcher = TickerWatcher(engine)
    return watcher, asyncio.create_task(watcher.run())


async def stop(task: asyncio.Task) -> None:
    """取消报价订阅的任务并等它结束。"""
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def test_merge_keeps_known_fields_and_converts_the_percentage_to_a_fraction():
    """并入 ccxt ticker：percentage（百分数）变成小数；后来的 bookTicker 没有 24 小时统计，不抹掉已有的值。"""
    state = TickerState("BTC/USDT")
    assert state.merge({"last": 100.0, "bid": 100.0, "ask": 100.01, "baseVolume": 12.5, "quoteVolume": 1250.0,
                        "percentage": 1.5, "timestamp": 1_000}, "stream")
    assert state.merge({"bid": 100.02, "ask": 100.03, "bidVolume": 2.0, "askVolume": 3.0, "timestamp": 1_050},
                       "stream")
    assert state.payload() == {"symbol": "BTC/USDT", "last": 100.0, "bid": 100.02, "ask": 100.03,
                               "bid_volume": 2.0, "ask_volume": 3.0, "volume_24h": 12.5, "quote_volume_24h": 1250.0,
                               "change_24h": 0.015, "ts": 1_050, "source": "stream"}
    assert not state.merge({"bid": 100.02, "timestamp": 1_000}, "stream")  # 没有新东西（更早的时间不倒退）


@pytest.fixture
def sandbox(frozen_sandbox):
    """本模块里引擎连的沙盒：时钟停住，行情只在测试拨动时才走（推送的值因此能与沙盒在那一刻的行情逐一对照）。"""
    return frozen_sandbox


async def test_engine_publishes_quotes_with_bid_ask_and_24h_stats_for_every_traded_symbol(start_engine, sandbox):
    """两个交易对的引擎：每个都有 source=stream 的 QUOTE，买一 = 最新价 < 卖一 = 买一 + 一个价格步长，24 小时成交量、
    成交额与涨跌幅（小数）和沙盒在报价时刻的 24hr ticker 相同；K 线订阅的 QUOTE（带 ts_bar）照常发出。"""
    handle = await start_engine([flip("flip_btc"), flip("flip_eth", "ETH/USDT")])
    engine = handle.engine
    subscription = engine.bus.subscribe()
    quotes: dict[str, list[dict]] = {"BTC/USDT": [], "ETH/USDT": []}

    def seen_both() -> bool:
        """两个交易对都收到了报价订阅的 QUOTE 和 K 线订阅的 QUOTE。"""
        for event in subscription.drain():
            if event.kind is EventKind.QUOTE:
                quotes[event.data["symbol"]].append(event.data)
        return all(any("bid" in q for q in qs) and any("ts_bar" in q for q in qs) for qs in quotes.values())

    await nudge_until(sandbox, seen_both, "ticker and bar quotes for both symbols")
    for symbol, received in quotes.items():
        quote = [q for q in received if "bid" in q][-1]
        tick = engine.rules[symbol].price_tick
        assert quote["source"] == "stream" and quote["bid"] == quote["last"] < quote["ask"]
        assert quote["ask"] - quote["bid"] == pytest.approx(tick)
        expected = sandbox.market(symbol).ticker(quote["ts"])  # 沙盒在报价那一刻的 24hr ticker
        assert quote["last"] == float(expected["lastPrice"]) and quote["bid"] == float(expected["bidPrice"])
        assert quote["bid_volume"] == float(expected["bidQty"]) and quote["ask_volume"] == float(expected["askQty"])
        assert quote["volume_24h"] == pytest.approx(float(expected["volume"]), rel=1e-12)
        assert quote["quote_volume_24h"] == pytest.approx(float(expected["quoteVolume"]), rel=1e-12)
        assert quote["change_24h"] == pytest.approx(float(expected["priceChangePercent"]) / 100)
    subscription.close()


async def test_rest_polling_when_the_exchange_has_no_websocket_quotes(sandbox):
    """REST 客户端（ccxt.async_support，没有 watchTicker）：报价全部来自 fetch_ticker，照样有买卖价与 24 小时成交量。"""
    client = sandbox.client()
    engine = StubEngine(client, ["BTC/USDT", "ETH/USDT"])
    watcher, task = await watching(engine)
    try:
        await wait_for(lambda: {q["symbol"] for q in engine.quotes} == {"BTC/USDT", "ETH/USDT"}, what="REST quotes")
        assert all(q["source"] == "rest" and q["bid"] < q["ask"] and q["volume_24h"] > 0 for q in engine.quotes)
    finally:
        await stop(task)
        await client.close()


async def test_refused_stream_falls_back_to_rest_then_returns_to_the_stream_logging_once(sandbox, caplog):
    """websocket 握手连续被拒 3 次：先有 REST 报价，重连成功后回到流；整个断线只记一条警告、一条恢复（不刷屏）。"""
    client = sandbox.client(pro=True)
    await client.load_markets()
    sandbox.faults.refuse_websockets(times=3)
    engine = StubEngine(client, ["BTC/USDT"])
    with caplog.at_level(logging.DEBUG, logger="tradeterm.engine.tickers"):
        watcher, task = await watching(engine)
        try:
            await wait_for(lambda: any(q["source"] == "rest" for q in engine.quotes), what="a REST quote")
            await nudge_until(sandbox, lambda: engine.quotes and engine.quotes[-1]["source"] == "stream"
                              and len(sandbox.hub.connections) == 1, "the stream back")
        finally:
            await stop(task)
            await client.close()
    records = [r for r in caplog.records if r.name == "tradeterm.engine.tickers" and r.levelno >= logging.INFO]
    assert [r.getMessage().split(" symbol=")[0] for r in records] == \
        ["quote stream failed, polling REST until it reconnects", "quote stream restored"]
    assert all(q["bid"] < q["ask"] for q in engine.quotes)


async def test_futures_tickers_without_bid_ask_add_the_book_ticker_stream(sandbox):
    """合约（BTC/USDT:USDT）：24hrTicker 流没有买卖价，订阅自动加上 bookTicker 流；QUOTE 同时有买卖价与 24 小时成交量。"""
    client = sandbox.client(pro=True, market_types=("spot", "linear"))
    await client.load_markets()
    engine = StubEngine(client, [PERP])
    watcher, task = await watching(engine)
    try:
        await nudge_until(sandbox, lambda: any(q["bid"] is not None and q["volume_24h"] for q in engine.quotes),
                          "a futures quote with bid/ask and volume")
        quote = [q for q in engine.quotes if q["bid"] is not None][-1]
        assert quote["symbol"] == PERP and quote["bid"] < quote["ask"] and quote["source"] == "stream"
        assert any(conn.futures and any(s.endswith("@bookTicker") for s in conn.streams)
                   for conn in sandbox.hub.connections)
    finally:
        await stop(task)
        await client.close()


async def test_stopping_ends_every_quote_task(sandbox):
    """取消 run()：各交易对的订阅任务与发布任务全部结束，之后不再发布。"""
    client = sandbox.client(pro=True)
    await client.load_markets()
    engine = StubEngine(client, ["BTC/USDT", "ETH/USDT"])
    watcher, task = await watching(engine)
    await nudge_until(sandbox, lambda: len({q["symbol"] for q in engine.quotes}) == 2, "quotes for both symbols")
    await stop(task)
    leftover = [t for t in asyncio.all_tasks() if "TickerWatcher" in repr(t.get_coro())]
    assert task.done() and leftover == []
    published = len(engine.quotes)
    sandbox.clock.advance(60_000)
    await sandbox.tick()
    await asyncio.sleep(0)  # 让已排队的回调有机会运行（没有任务在了，不会再发布）
    assert len(engine.quotes) == published
    await client.close()
