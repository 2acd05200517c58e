"""MarketData（tradeterm/data/market_data.py）对着进程内沙盒：分页、增量缓存、重试、缺口与实时订阅。"""

from __future__ import annotations

import asyncio

import ccxt
import pytest

from tradeterm.data import CandleCache, MarketData
from tradeterm.exchange import RetryPolicy
from tradeterm.sandbox import SandboxExchange

# 1 分钟，毫秒
MINUTE = 60_000
# 测试用的快速重试策略（等待极短，测试不慢）
FAST_RETRY = RetryPolicy(attempts=4, base_delay_s=0.01, max_delay_s=0.05)


@pytest.fixture
async def sandbox():
    """合成行情的沙盒（60 倍速，3,000 根历史）。"""
    async with SandboxExchange(port=0, speed=60, tick_s=0.05, history_bars=3_000) as running:
        yield running


@pytest.fixture
async def exchange(sandbox):
    """指向沙盒的 ccxt 异步客户端。"""
    client = sandbox.client(timeout_ms=2_000)
    yield client
    await client.close()


def kline_starts(sandbox: SandboxExchange) -> list[int]:
    """沙盒收到的每个 klines 请求的 startTime（没有时为 -1）。"""
    return [int(q.get("startTime", -1)) for q in sandbox.requests_to("/api/v3/klines")]


async def test_pages_through_a_long_range_and_returns_closed_bars_in_order(sandbox, exchange, tmp_path):
    """2,500 根需要 3 页（每页 1000）；结果连续、无重复，且与沙盒的 K 线一致。"""
    start = sandbox.market("BTC/USDT").series.start_ts
    market = MarketData(exchange, CandleCache(tmp_path), exchange_id="sandbox", retry=FAST_RETRY)
    calls = []
    frame = await market.get_ohlcv("BTC/USDT", "1m", since=start, until=start + 2_500 * MINUTE,
                                   progress=lambda *args: calls.append(args))
    assert len(frame) == 2_500
    assert frame.timestamp.diff().dropna().eq(MINUTE).all()
    assert kline_starts(sandbox) == [start, start + 1000 * MINUTE, start + 2000 * MINUTE]
    # 进度：(已取根数, 已覆盖的时间折合根数, 区间折合根数)，每页一次，最后一次为 100%
    assert calls[:3] == [(1000, 1000, 2500), (2000, 2000, 2500), (2500, 2500, 2500)]
    assert calls[-1] == (2500, 2500, 2500)
    series = sandbox.market("BTC/USDT").series
    assert frame.close.iloc[1234] == pytest.approx(series.close[1234])
    assert frame.attrs["gaps"] == []


async def test_second_fetch_requests_only_the_missing_range(sandbox, exchange, tmp_path):
    """先取 [1000, 2000)，再取 [0, 2500)：第二次只请求 [0, 1000) 与 [2000, 2500)，新的客户端实例同样复用缓存。"""
    start = sandbox.market("BTC/USDT").series.start_ts
    cache = CandleCache(tmp_path)
    market = MarketData(exchange, cache, exchange_id="sandbox", retry=FAST_RETRY)
    await market.get_ohlcv("BTC/USDT", "1m", since=start + 1000 * MINUTE, until=start + 2000 * MINUTE)
    assert kline_starts(sandbox) == [start + 1000 * MINUTE]
    frame = await market.get_ohlcv("BTC/USDT", "1m", since=start, until=start + 2500 * MINUTE)
    assert len(frame) == 2500
    assert kline_starts(sandbox)[1:] == [start, start + 2000 * MINUTE]
    # 全新的 MarketData（相当于重启进程）读同一缓存目录：一个请求都不发
    again = MarketData(exchange, CandleCache(tmp_path), exchange_id="sandbox", retry=FAST_RETRY)
    await again.get_ohlcv("BTC/USDT", "1m", since=start + 100 * MINUTE, until=start + 2400 * MINUTE)
    assert len(kline_starts(sandbox)) == 3


async def test_only_closed_bars_up_to_exchange_time_are_returned_and_cached(sandbox, exchange, tmp_path):
    """until 省略：截到交易所时间（fetch_time），正在走的 K 线不返回也不缓存；两根之后再取，只请求新收盘的部分。"""
    start = sandbox.market("BTC/USDT").series.start_ts
    cache = CandleCache(tmp_path)
    market = MarketData(exchange, cache, exchange_id="sandbox", retry=FAST_RETRY)
    frame = await market.get_ohlcv("BTC/USDT", "1m", since=start)
    running_bar = sandbox.clock.now() // MINUTE * MINUTE
    assert frame.timestamp.iloc[-1] < running_bar
    cached = cache.load("sandbox", "BTC/USDT", "1m")
    assert cached.ts[-1] == frame.timestamp.iloc[-1]
    before = len(kline_starts(sandbox))
    sandbox.clock.advance(2 * MINUTE)
    later = await market.get_ohlcv("BTC/USDT", "1m", since=start)
    assert kline_starts(sandbox)[before:] == [int(cached.ts[-1]) + MINUTE]
    assert len(later) >= len(frame) + 2


@pytest.mark.parametrize("status", [429, 503])
async def test_retries_rate_limits_and_server_errors_then_succeeds(sandbox, exchange, status):
    """klines 连续两次返回 429（带 Retry-After: 0）或 503：退避重试，第三次成功。"""
    sandbox.faults.fail_http(status, times=2, path="/api/v3/klines", retry_after_s=0)
    start = sandbox.market("BTC/USDT").series.start_ts
    market = MarketData(exchange, None, retry=FAST_RETRY)
    frame = await market.get_ohlcv("BTC/USDT", "1m", since=start, until=start + 10 * MINUTE)
    assert len(frame) == 10
    assert len(kline_starts(sandbox)) == 3


async def test_gives_up_after_the_retry_budget_and_raises_the_network_error(sandbox, exchange):
    """一直超时：重试 attempts 次后抛出 ccxt 的 RequestTimeout。"""
    client = sandbox.client(timeout_ms=200)
    try:
        sandbox.faults.slow_http(0.5, times=-1, path="/api/v3/klines")
        market = MarketData(client, None, retry=RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.02))
        start = sandbox.market("BTC/USDT").series.start_ts
        with pytest.raises(ccxt.RequestTimeout):
            await market.get_ohlcv("BTC/USDT", "1m", since=start, until=start + 10 * MINUTE)
        assert len(kline_starts(sandbox)) == 3
    finally:
        sandbox.faults.clear()
        await client.close()


async def test_does_not_retry_errors_that_are_not_transient(sandbox, exchange):
    """不存在的交易对（BadSymbol）不重试，立即抛出。"""
    market = MarketData(exchange, None, retry=FAST_RETRY)
    with pytest.raises(ccxt.BadSymbol):
        await market.get_ohlcv("FOO/USDT", "1m", since=0, until=10 * MINUTE)
    assert kline_starts(sandbox) == []


async def test_reports_gaps_in_exchange_data(sandbox, exchange, tmp_path, caplog):
    """交易所在 [500, 505) 分钟没有 K 线（维护）：结果里报告一个 5 根的缺口，并记警告日志；分页不受影响。
    since 早于交易所的第一根（上市前）：那一段不算缺口，进度按时间覆盖直接跳过。"""
    start = sandbox.market("BTC/USDT").series.start_ts
    sandbox.faults.hide_klines(start + 500 * MINUTE, start + 505 * MINUTE)
    market = MarketData(exchange, CandleCache(tmp_path), exchange_id="sandbox", retry=FAST_RETRY)
    calls = []
    frame = await market.get_ohlcv("BTC/USDT", "1m", since=start - 100_000 * MINUTE, until=start + 1500 * MINUTE,
                                   progress=lambda *args: calls.append(args))
    assert len(frame) == 1495
    # 交易所在 start 之前没有数据：第一页就越过那 100,000 根的空白，进度按时间覆盖跳到 98% 以上
    assert calls[0][0] == 1000 and calls[0][1] / calls[0][2] > 0.98
    [gap] = frame.attrs["gaps"]
    assert (gap.start, gap.end, gap.missing) == (start + 500 * MINUTE, start + 505 * MINUTE, 5)
    assert "gaps in candles" in caplog.text


async def test_subscribe_yields_running_updates_and_closed_bars(sandbox):
    """subscribe：先有正在走的 K 线更新（closed=False）；拨过一根后产出上一根的收盘值（closed=True）。"""
    client = sandbox.client(pro=True)
    try:
        market = MarketData(client, None, retry=FAST_RETRY)
        updates = market.subscribe("BTC/USDT", "1m", max_failures=3)
        first = await asyncio.wait_for(updates.__anext__(), 5)
        assert not first.closed and first.low <= first.close <= first.high
        sandbox.clock.advance(MINUTE)
        closed = None
        for _ in range(100):
            update = await asyncio.wait_for(updates.__anext__(), 5)
            if update.closed:
                closed = update
                break
        assert closed is not None and closed.ts == first.ts
        rest = await client.fetch_ohlcv("BTC/USDT", "1m", since=first.ts, limit=1)
        assert closed.close == rest[0][4]
        await updates.aclose()
    finally:
        await client.close()


async def test_subscribe_reconnects_after_a_dropped_websocket(sandbox, caplog):
    """断线后 subscribe 自动重连并继续产出更新（记一条 reconnecting 警告）。"""
    client = sandbox.client(pro=True)
    try:
        market = MarketData(client, None, retry=FAST_RETRY)
        updates = market.subscribe("ETH/USDT", "1m", max_failures=5)
        await asyncio.wait_for(updates.__anext__(), 5)
        sandbox.faults.drop_websockets()
        for _ in range(200):
            await asyncio.wait_for(updates.__anext__(), 5)
            if "reconnecting" in caplog.text:
                break
        after = await asyncio.wait_for(updates.__anext__(), 5)
        assert "reconnecting" in caplog.text and after.symbol == "ETH/USDT"
        await updates.aclose()
    finally:
        await client.close()


async def test_subscribe_backfills_bars_that_closed_while_disconnected(sandbox):
    """断线期间走过 3 根 K 线：重连后用 REST 补上，每一根都以 closed=True 按顺序产出，一根不少。"""
    client = sandbox.client(pro=True)
    try:
        market = MarketData(client, None, retry=FAST_RETRY)
        updates = market.subscribe("BTC/USDT", "1m", max_failures=5)
        first = await asyncio.wait_for(updates.__anext__(), 5)
        sandbox.faults.drop_websockets()
        sandbox.clock.advance(3 * MINUTE)
        closed = []
        for _ in range(300):
            update = await asyncio.wait_for(updates.__anext__(), 5)
            if update.closed:
                closed.append(update.ts)
            if len(closed) >= 4:
                break
        await updates.aclose()
    finally:
        await client.close()
    assert closed[:4] == [first.ts + k * MINUTE for k in range(4)]


async def test_quotes_stream_the_last_price(sandbox):
    """quotes：实时最新价，时间不倒退。"""
    client = sandbox.client(pro=True)
    try:
        market = MarketData(client, None, retry=FAST_RETRY)
        stream = market.quotes("BTC/USDT", max_failures=1)
        quotes = [await asyncio.wait_for(stream.__anext__(), 5) for _ in range(5)]
        await stream.aclose()
    finally:
        await client.close()
    assert all(q.last > 0 for q in quotes)
    assert [q.ts for q in quotes] == sorted(q.ts for q in quotes)


async def test_subscribe_yields_every_closed_bar_when_the_clock_jumps():
    """600 倍速（一个节拍走过一根多）且时钟再拨快 5 根：每根已收盘的 K 线都按顺序产出一次，不跳根、不重复。"""
    async with SandboxExchange(port=0, speed=600, tick_s=0.15, history_bars=500) as sandbox:
        client = sandbox.client(pro=True)
        try:
            market = MarketData(client, None, retry=FAST_RETRY)
            updates = market.subscribe("BTC/USDT", "1m", max_failures=3)
            closed = []
            first = await asyncio.wait_for(updates.__anext__(), 5)
            sandbox.clock.advance(5 * MINUTE)
            while len(closed) < 12:
                update = await asyncio.wait_for(updates.__anext__(), 5)
                if update.closed:
                    closed.append(update.ts)
            await updates.aclose()
        finally:
            await client.close()
    assert closed == [first.ts + k * MINUTE for k in range(12)]


async def test_subscribe_backfills_more_than_one_page_after_a_long_disconnect(sandbox):
    """断线期间走过 1,500 根（超过一页 1,000 根）：重连后分页补齐，1,501 根已收盘 K 线按顺序各出现一次，
    且与 REST 的收盘价一致。"""
    client = sandbox.client(pro=True)
    try:
        market = MarketData(client, None, retry=FAST_RETRY)
        updates = market.subscribe("BTC/USDT", "1m", max_failures=5)
        first = await asyncio.wait_for(updates.__anext__(), 5)
        sandbox.faults.drop_websockets()
        sandbox.clock.advance(1_500 * MINUTE)
        closed = []
        while len(closed) < 1_501:
            update = await asyncio.wait_for(updates.__anext__(), 5)
            if update.closed:
                closed.append(update)
        await updates.aclose()
        rest = await client.fetch_ohlcv("BTC/USDT", "1m", since=first.ts + 1_000 * MINUTE, limit=1)
    finally:
        await client.close()
    assert [u.ts for u in closed] == [first.ts + k * MINUTE for k in range(1_501)]
    assert closed[1_000].close == rest[0][4]


async def test_subscribe_ignores_duplicated_stream_messages(sandbox):
    """每条推送都重复发送两次：已收盘的 K 线仍然按顺序各产出一次，正在走的 K 线不会连续出现两条相同的更新。"""
    client = sandbox.client(pro=True)
    try:
        market = MarketData(client, None, retry=FAST_RETRY)
        updates = market.subscribe("BTC/USDT", "1m", max_failures=3)
        first = await asyncio.wait_for(updates.__anext__(), 5)
        sandbox.faults.duplicate_messages(1_000)
        sandbox.clock.advance(MINUTE)  # 第一根立即收盘，测试不必等满三分钟（60 倍速下三秒）
        seen, closed = [first], []
        while len(closed) < 3:
            update = await asyncio.wait_for(updates.__anext__(), 5)
            seen.append(update)
            if update.closed:
                closed.append(update.ts)
        await updates.aclose()
    finally:
        await client.close()
    assert closed == [first.ts + k * MINUTE for k in range(3)]
    assert all(a != b for a, b in zip(seen, seen[1:]))


async def test_subscribe_flags_stale_data_when_the_stream_goes_silent_and_recovers(sandbox):
    """websocket 静默 1.5 秒（连接不断）：stale_after_s=0.4 时产出一条 stale=True 的更新（最近状态），
    每段静默只一条；推送恢复后的更新 stale=False。quotes 同理。"""
    client = sandbox.client(pro=True)
    try:
        market = MarketData(client, None, retry=FAST_RETRY)
        updates = market.subscribe("BTC/USDT", "1m", stale_after_s=0.4)
        last = await asyncio.wait_for(updates.__anext__(), 5)
        assert not last.stale
        sandbox.faults.silence_websockets(1.5)
        after = []
        for _ in range(200):  # 静默开始前已发出的几条消息先到，然后是 stale，再是恢复后的更新
            after.append(await asyncio.wait_for(updates.__anext__(), 5))
            if any(u.stale for u in after) and not after[-1].stale:
                break
        await updates.aclose()
        stale = [k for k, u in enumerate(after) if u.stale]
        assert len(stale) == 1 and not after[-1].stale
        before = after[stale[0] - 1] if stale[0] > 0 else last
        assert after[stale[0]].ts == before.ts and after[stale[0]].close == before.close
        assert not after[stale[0]].closed

        quotes = market.quotes("ETH/USDT", stale_after_s=0.4)
        await asyncio.wait_for(quotes.__anext__(), 5)
        sandbox.faults.silence_websockets(1.0)
        flagged = None
        for _ in range(30):
            quote = await asyncio.wait_for(quotes.__anext__(), 5)
            if quote.stale:
                flagged = quote
                break
        await quotes.aclose()
        assert flagged is not None and flagged.last > 0
    finally:
        await client.close()


async def test_rate_limit_retry_waits_at_least_the_retry_after_header(sandbox, exchange):
    """429 带 Retry-After: 1：退避时间本来只有 0.01 秒，重试前仍至少等满 1 秒。"""
    sandbox.faults.fail_http(429, times=1, path="/api/v3/klines", retry_after_s=1)
    start = sandbox.market("BTC/USDT").series.start_ts
    market = MarketData(exchange, None, retry=RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=5.0))
    started = asyncio.get_running_loop().time()
    frame = await market.get_ohlcv("BTC/USDT", "1m", since=start, until=start + 10 * MINUTE)
    assert len(frame) == 10 and asyncio.get_running_loop().time() - started >= 1.0
