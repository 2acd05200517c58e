"""沙盒的公开 REST 接口，经由原版 ccxt 客户端与真实 HTTP 访问。"""

from __future__ import annotations

import asyncio
import time

import pytest

from tradeterm.sandbox import SandboxExchange
from tests.conftest import BTC_USDT_1M


async def test_load_markets_reads_binance_filters(sandbox, exchange):
    """load_markets 只请求 exchangeInfo，并从过滤器读出步长与最小名义金额（BTC 0.00001、ETH 0.0001、5 USDT）。"""
    btc, eth = exchange.markets["BTC/USDT"], exchange.markets["ETH/USDT"]
    assert btc["precision"]["price"] == 0.01 and btc["precision"]["amount"] == 0.00001
    assert eth["precision"]["amount"] == 0.0001
    assert btc["limits"]["cost"]["min"] == 5.0 and btc["spot"] and btc["active"]
    assert len(sandbox.requests_to("/api/v3/exchangeInfo")) == 1


async def test_fetch_time_is_the_market_clock(sandbox, exchange):
    """fetch_time 返回行情的模拟时钟（倍速回放时跑在墙上时间前面），与 K 线时间一致。"""
    server_ms = await exchange.fetch_time()
    assert abs(server_ms - sandbox.clock.now()) < 2_000
    sandbox.clock.advance(3_600_000)
    assert await exchange.fetch_time() - time.time() * 1000 > 3_000_000


async def test_history_is_available_at_start_and_includes_the_running_bar(sandbox, exchange):
    """启动即有数千根历史；最后一根是正在走的 K 线（开盘时间 = 当前模拟时间所在分钟）。"""
    bars = await exchange.fetch_ohlcv("BTC/USDT", "1m", limit=1000)
    assert len(bars) == 1000
    assert [b[0] for b in bars] == list(range(bars[0][0], bars[-1][0] + 1, 60_000))
    assert bars[-1][0] == sandbox.clock.now() // 60_000 * 60_000
    assert all(b[3] <= min(b[1], b[4]) and max(b[1], b[4]) <= b[2] for b in bars)


async def test_fetch_ohlcv_pages_with_since_and_limit(sandbox, exchange):
    """since/limit 分页：两页首尾相接、无重叠，每页开盘时间 >= since。"""
    first_ts = sandbox.market("BTC/USDT").series.start_ts
    page1 = await exchange.fetch_ohlcv("BTC/USDT", "1m", since=first_ts, limit=500)
    page2 = await exchange.fetch_ohlcv("BTC/USDT", "1m", since=page1[-1][0] + 60_000, limit=500)
    assert page1[0][0] == first_ts and len(page1) == 500 and len(page2) == 500
    assert page2[0][0] == page1[-1][0] + 60_000
    until_page = await exchange.fetch_ohlcv("BTC/USDT", "1m", since=first_ts, limit=1000,
                                            params={"until": first_ts + 9 * 60_000})
    assert len(until_page) == 10


async def test_higher_timeframes_aggregate_the_base_candles(exchange):
    """5m K 线由 1m 聚合：开=首根开、收=末根收、高低为极值、量为和。"""
    five = await exchange.fetch_ohlcv("BTC/USDT", "5m", limit=3)
    ones = await exchange.fetch_ohlcv("BTC/USDT", "1m", since=five[0][0], limit=5)
    assert five[0][1] == ones[0][1] and five[0][4] == ones[-1][4]
    assert five[0][2] == max(b[2] for b in ones) and five[0][3] == min(b[3] for b in ones)
    assert five[0][5] == pytest.approx(sum(b[5] for b in ones), rel=1e-6)


async def test_ticker_price_moves_within_a_bar(exchange):
    """同一根 K 线之内，最新价也随时间移动（沿开->高/低->收的折线）。"""
    seen = set()
    for _ in range(8):
        seen.add((await exchange.fetch_ticker("BTC/USDT"))["last"])
        await asyncio.sleep(0.15)
    assert len(seen) >= 3


async def test_fetch_tickers_and_order_book(exchange):
    """fetch_tickers 返回两个交易对；盘口买一 < 卖一、按价格排序，最新价在买一卖一之间。"""
    tickers = await exchange.fetch_tickers(["BTC/USDT", "ETH/USDT"])
    assert set(tickers) == {"BTC/USDT", "ETH/USDT"}
    assert tickers["ETH/USDT"]["last"] > 0 and tickers["BTC/USDT"]["quoteVolume"] > 0
    book = await exchange.fetch_order_book("BTC/USDT", limit=10)
    assert len(book["bids"]) == 10 and len(book["asks"]) == 10
    assert book["bids"][0][0] < book["asks"][0][0]
    assert [b[0] for b in book["bids"]] == sorted((b[0] for b in book["bids"]), reverse=True)


async def test_fetch_balance_starts_with_10000_usdt(exchange):
    """新账户有 10,000 USDT 可用。"""
    balance = await exchange.fetch_balance()
    assert balance["USDT"] == {"free": 10_000.0, "used": 0.0, "total": 10_000.0}


async def test_replays_a_real_csv_file_from_its_history_point():
    """--data 回放真实 CSV：第 history 根之前是历史，K 线与文件逐根一致。"""
    async with SandboxExchange(port=0, data=[str(BTC_USDT_1M)], history_bars=2_000) as sandbox:
        client = sandbox.client()
        try:
            bars = await client.fetch_ohlcv("BTC/USDT", "1m", since=1_677_628_800_000, limit=3)
        finally:
            await client.close()
    # 文件前三行（2023-03-01 00:00 起）
    assert bars[0][0] == 1_677_628_800_000
    assert bars[0][1:5] == [23140.48, 23150.77, 23128.52, 23142.31]
    assert sandbox.symbols == ["BTC/USDT"]
