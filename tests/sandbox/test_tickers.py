"""沙盒的 24 小时 ticker 与 bookTicker：经由原版 ccxt（REST）与 ccxt.pro（websocket），现货与 USD-M 合约。

字段名逐个对照 Binance（现货 24hr 带买卖价，合约的 24hr 不带、买卖价在 bookTicker）；买一 = 最新价、卖一高一个价格步长；
买一/卖一量 = 盘口第一档；24 小时成交量 = 对回放 K 线的手算（窗口 (now - 24h, now]，两端只计窗口内的部分）。
模拟时钟停住：REST 与推送看到的是同一时刻的行情，结果与机器快慢无关。
"""

from __future__ import annotations

import asyncio

import pytest

# 等一条推送的防挂死上限，秒
WAIT_S = 30.0
# 永续合约交易对
PERP = "BTC/USDT:USDT"
# 24 小时，毫秒
DAY_MS = 86_400_000
# 1 分钟，毫秒
MINUTE_MS = 60_000
# Binance 现货 GET /api/v3/ticker/24hr 一项的字段
SPOT_24HR_KEYS = {"symbol", "priceChange", "priceChangePercent", "weightedAvgPrice", "prevClosePrice", "lastPrice",
                  "lastQty", "bidPrice", "bidQty", "askPrice", "askQty", "openPrice", "highPrice", "lowPrice",
                  "volume", "quoteVolume", "openTime", "closeTime", "firstId", "lastId", "count"}
# Binance USD-M GET /fapi/v1/ticker/24hr 一项的字段（没有买卖价与前收盘价）
FUTURES_24HR_KEYS = SPOT_24HR_KEYS - {"prevClosePrice", "bidPrice", "bidQty", "askPrice", "askQty"}
# Binance 现货 <symbol>@ticker（24hrTicker）事件的字段
SPOT_TICKER_EVENT_KEYS = {"e", "E", "s", "p", "P", "w", "x", "c", "Q", "b", "B", "a", "A", "o", "h", "l", "v", "q",
                          "O", "C", "F", "L", "n"}
# Binance USD-M <symbol>@ticker 事件的字段（没有 x、b、B、a、A）
FUTURES_TICKER_EVENT_KEYS = SPOT_TICKER_EVENT_KEYS - {"x", "b", "B", "a", "A"}


@pytest.fixture
def frozen(sandbox):
    """停住的沙盒时钟，停在一根 1 分钟 K 线的 25 秒处（24 小时窗口的两端都落在 K 线中间）；返回沙盒。"""
    sandbox.clock.freeze()
    sandbox.clock.advance((25_000 - sandbox.clock.now() % MINUTE_MS) % MINUTE_MS)
    return sandbox


@pytest.fixture
async def both(sandbox):
    """加载了现货与永续合约市场的 ccxt 异步客户端。"""
    client = sandbox.client(market_types=("spot", "linear"))
    await client.load_markets()
    yield client
    await client.close()


@pytest.fixture
async def pro_both(sandbox):
    """加载了现货与永续合约市场的 ccxt.pro 客户端（合约流走 /market/ws、/public/ws）。"""
    client = sandbox.client(pro=True, market_types=("spot", "linear"))
    await client.load_markets()
    yield client
    await client.close()


async def pushed(sandbox, call):
    """发起一个 watch 调用，每 0.1 秒把停住的时钟拨动 1 毫秒（沙盒只在时钟走动的节拍里推送），直到它返回。
    WAIT_S 秒仍没返回则失败（防挂死的上限）。推送的时刻看事件自己的时间，不看时钟（等待期间可能拨过不止一次）。"""
    task = asyncio.ensure_future(call)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while not task.done():
        if loop.time() > deadline:
            task.cancel()
            raise AssertionError("no push arrived")
        sandbox.clock.advance(1)
        await asyncio.wait({task}, timeout=0.1)
    return task.result()


async def hand_volume(exchange, symbol: str, now: int) -> tuple[float, float]:
    """对回放 K 线手算 (now - 24h, now] 的（成交量, 成交额）：经 REST 取窗口里的 1 分钟 K 线（含正在走的那根），
    窗口起点所在的第一根只算窗口内的部分（量在 K 线内均匀累积），正在走的那根 REST 给的就是到此刻为止的量。"""
    start = now - DAY_MS
    first_open = start // MINUTE_MS * MINUTE_MS
    rows, since = [], first_open
    while True:
        page = await exchange.fetch_ohlcv(symbol, "1m", since=since, limit=1000)
        rows += page
        if len(page) < 1000:
            break
        since = page[-1][0] + MINUTE_MS
    assert rows[0][0] == first_open and rows[-1][0] == now // MINUTE_MS * MINUTE_MS
    inside = 1 - (start - first_open) / MINUTE_MS  # 第一根在窗口里的比例
    volume = rows[0][5] * inside + sum(row[5] for row in rows[1:])
    quote = rows[0][5] * inside * rows[0][4] + sum(row[5] * row[4] for row in rows[1:])
    return volume, quote


async def test_rest_ticker_has_binance_fields_bid_ask_and_the_hand_computed_24h_volume(frozen, exchange):
    """fetch_ticker：Binance 现货 24hr 的字段；买一 = 最新价、卖一 = 买一 + 0.01；买一/卖一量 = 盘口第一档；
    24 小时成交量与成交额 = 对 K 线的手算；涨跌幅、高低价与窗口一致。"""
    now = frozen.clock.now()
    ticker = await exchange.fetch_ticker("BTC/USDT")
    assert set(ticker["info"]) == SPOT_24HR_KEYS
    assert ticker["timestamp"] == now and ticker["info"]["openTime"] == now - DAY_MS
    assert ticker["bid"] == ticker["last"] and ticker["ask"] == pytest.approx(ticker["bid"] + 0.01, abs=1e-9)
    book = await exchange.fetch_order_book("BTC/USDT", limit=5)
    assert (ticker["bid"], ticker["bidVolume"]) == (book["bids"][0][0], book["bids"][0][1])
    assert (ticker["ask"], ticker["askVolume"]) == (book["asks"][0][0], book["asks"][0][1])
    volume, quote = await hand_volume(exchange, "BTC/USDT", now)
    assert ticker["baseVolume"] == pytest.approx(volume, abs=1e-6)
    assert ticker["quoteVolume"] == pytest.approx(quote, rel=1e-9)
    assert ticker["percentage"] == pytest.approx((ticker["last"] / ticker["open"] - 1) * 100, abs=1e-3)
    assert ticker["low"] <= min(ticker["open"], ticker["last"]) <= max(ticker["open"], ticker["last"]) <= ticker["high"]


async def test_rest_book_ticker_matches_the_24h_ticker(frozen, exchange):
    """fetch_bids_asks（GET /api/v3/ticker/bookTicker）：同一时刻与 24hr ticker 的买卖价、挂单量相同，字段同 Binance。"""
    ticker = await exchange.fetch_ticker("ETH/USDT")
    book = (await exchange.fetch_bids_asks(["ETH/USDT"]))["ETH/USDT"]
    assert set(book["info"]) == {"symbol", "bidPrice", "bidQty", "askPrice", "askQty"}
    assert [book[k] for k in ("bid", "bidVolume", "ask", "askVolume")] == \
        [ticker[k] for k in ("bid", "bidVolume", "ask", "askVolume")]


async def test_watch_ticker_stream_carries_bid_ask_and_the_same_24h_stats_as_rest(frozen, pro, exchange):
    """ccxt.pro watch_ticker（<symbol>@ticker 的 24hrTicker 流）：Binance 的事件字段；买卖价、挂单量、24 小时统计与
    REST 24hr 的同一批字段（同一时刻的行情）相同。（ccxt 4.5 的 binance 默认订阅 miniTicker，要 name=ticker 才是带
    买卖价的流。）"""
    ticker = await pushed(frozen, pro.watch_ticker("ETH/USDT", {"name": "ticker"}))
    assert set(ticker["info"]) == SPOT_TICKER_EVENT_KEYS and ticker["info"]["e"] == "24hrTicker"
    rest = frozen.market("ETH/USDT").ticker(ticker["timestamp"])  # REST 在推送那一刻会给的
    assert {short: ticker["info"][short] for short in ("c", "b", "B", "a", "A", "v", "q", "P", "h", "l", "O")} == \
        {"c": rest["lastPrice"], "b": rest["bidPrice"], "B": rest["bidQty"], "a": rest["askPrice"],
         "A": rest["askQty"], "v": rest["volume"], "q": rest["quoteVolume"], "P": rest["priceChangePercent"],
         "h": rest["highPrice"], "l": rest["lowPrice"], "O": rest["openTime"]}
    assert ticker["bid"] == ticker["last"] < ticker["ask"] and ticker["baseVolume"] > 0
    # 停在推送那一刻的 REST 与流一致
    now_rest = await exchange.fetch_ticker("ETH/USDT")
    assert now_rest["baseVolume"] == pytest.approx(ticker["baseVolume"], rel=1e-6)


async def test_watch_bids_asks_stream_matches_the_ticker(frozen, pro):
    """ccxt.pro watch_bids_asks（<symbol>@bookTicker）：现货事件只有 u、s、b、B、a、A，值与 24hr 流相同。"""
    book = (await pushed(frozen, pro.watch_bids_asks(["BTC/USDT"])))["BTC/USDT"]
    assert set(book["info"]) == {"u", "s", "b", "B", "a", "A"}
    expected = frozen.market("BTC/USDT").book_top(book["info"]["u"])  # 现货 bookTicker 的更新号就是推送时刻
    assert (book["bid"], book["bidVolume"], book["ask"], book["askVolume"]) == pytest.approx(expected)


async def test_futures_ticker_has_no_bid_ask_and_the_book_ticker_has_them(frozen, both):
    """USD-M 合约：/fapi/v1/ticker/24hr 与 Binance 一样不带买卖价；/fapi/v1/ticker/bookTicker 带（另有 time）；
    合约与现货共用行情序列，24 小时成交量相同。"""
    ticker = await both.fetch_ticker(PERP)
    assert set(ticker["info"]) == FUTURES_24HR_KEYS and ticker["bid"] is None and ticker["ask"] is None
    spot = await both.fetch_ticker("BTC/USDT")
    assert ticker["baseVolume"] == spot["baseVolume"] and ticker["last"] == spot["last"]
    book = (await both.fetch_bids_asks([PERP]))[PERP]
    assert set(book["info"]) == {"lastUpdateId", "symbol", "bidPrice", "bidQty", "askPrice", "askQty", "time"}
    assert book["bid"] == spot["bid"] and book["ask"] == spot["ask"] and book["timestamp"] == frozen.clock.now()


async def test_futures_streams_use_the_futures_event_shapes(frozen, pro_both):
    """ccxt.pro 的合约流：@ticker 事件没有买卖价（ccxt 的 bid 为 None），@bookTicker 事件带 e=bookTicker、E、T 与买卖价。"""
    ticker = await pushed(frozen, pro_both.watch_ticker(PERP, {"name": "ticker"}))
    assert set(ticker["info"]) == FUTURES_TICKER_EVENT_KEYS and ticker["bid"] is None and ticker["baseVolume"] > 0
    book = (await pushed(frozen, pro_both.watch_bids_asks([PERP])))[PERP]
    assert set(book["info"]) == {"e", "u", "E", "T", "s", "b", "B", "a", "A"} and book["info"]["e"] == "bookTicker"
    bid, _, ask, _ = frozen.market("BTC/USDT").book_top(book["timestamp"])
    assert (book["bid"], book["ask"]) == pytest.approx((bid, ask))
    assert any(conn.futures for conn in frozen.hub.connections)
