"""故障注入：HTTP 429/418/5xx、慢响应、拒单、websocket 断开/静默/拒绝握手、消息重复与乱序。"""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import ccxt
import pytest

# 等待一条推送的上限，秒
WAIT_S = 5.0


async def test_http_429_carries_retry_after_and_maps_to_ddos_protection(sandbox, exchange):
    """429：正文为 Binance 的 -1003，带 Retry-After；ccxt binance 对 418/429 一律抛 DDoSProtection。只作用一次。"""
    sandbox.faults.fail_http(429, retry_after_s=2, path="/api/v3/klines")
    with pytest.raises(ccxt.DDoSProtection, match="-1003"):
        await exchange.fetch_ohlcv("BTC/USDT", "1m", limit=5)
    assert exchange.last_response_headers["Retry-After"] == "2"
    assert len(await exchange.fetch_ohlcv("BTC/USDT", "1m", limit=5)) == 5


async def test_http_418_ban_maps_to_ddos_protection(sandbox, exchange):
    """418（IP 被封）：ccxt 抛 DDoSProtection，消息带封禁截止时间。"""
    sandbox.faults.fail_http(418, retry_after_s=60)
    with pytest.raises(ccxt.DDoSProtection, match="IP banned until"):
        await exchange.fetch_ticker("BTC/USDT")


@pytest.mark.parametrize(("status", "expected"), [(500, ccxt.ExchangeNotAvailable), (502, ccxt.ExchangeNotAvailable),
                                                  (503, ccxt.ExchangeNotAvailable), (504, ccxt.RequestTimeout)])
async def test_http_5xx_maps_to_retryable_network_errors(sandbox, exchange, status, expected):
    """5xx 网关错误页：ccxt 抛 ExchangeNotAvailable（504 为 RequestTimeout），都是可重试的 NetworkError。"""
    sandbox.faults.fail_http(status, times=1)
    with pytest.raises(expected) as caught:
        await exchange.fetch_ticker("BTC/USDT")
    assert isinstance(caught.value, ccxt.NetworkError)
    assert (await exchange.fetch_ticker("BTC/USDT"))["last"] > 0


async def test_slow_response_beyond_client_timeout_raises_request_timeout(sandbox):
    """响应慢于客户端超时：ccxt 抛 RequestTimeout；故障只作用于给定路径。"""
    client = sandbox.client(timeout_ms=300)
    try:
        sandbox.faults.slow_http(1.0, path="/api/v3/ticker/24hr")
        started = time.monotonic()
        with pytest.raises(ccxt.RequestTimeout):
            await client.public_get_ticker_24hr({"symbol": "BTCUSDT"})
        assert time.monotonic() - started < 0.9
        assert (await client.public_get_time())["serverTime"] > 0
    finally:
        await client.close()


async def test_rejected_orders_fault_rejects_the_next_order_only(sandbox, exchange):
    """reject_orders：下一张订单被拒（默认余额不足），之后的订单照常成交；被拒的单不进账户。"""
    sandbox.faults.reject_orders(times=1)
    with pytest.raises(ccxt.InsufficientFunds):
        await exchange.create_order("BTC/USDT", "market", "buy", 0.001)
    assert (await exchange.create_order("BTC/USDT", "market", "buy", 0.001))["status"] == "closed"
    assert len(sandbox.account().orders) == 1


async def test_dropped_websocket_raises_network_error_then_reconnects(sandbox, pro):
    """drop_websockets：正在等待的 watch 抛 NetworkError；再次 watch 时 ccxt 重新连接并继续收到 K 线。"""
    await asyncio.wait_for(pro.watch_ohlcv("BTC/USDT", "1m"), WAIT_S)
    sandbox.faults.drop_websockets()
    with pytest.raises(ccxt.NetworkError):
        for _ in range(50):
            await asyncio.wait_for(pro.watch_ohlcv("BTC/USDT", "1m"), WAIT_S)
    bars = await asyncio.wait_for(pro.watch_ohlcv("BTC/USDT", "1m"), WAIT_S)
    assert bars and len(sandbox.hub.connections) == 1


async def test_refused_websocket_handshake_raises_network_error(sandbox, pro):
    """refuse_websockets：握手被拒（503），watch 抛 NetworkError；下一次握手成功。"""
    sandbox.faults.refuse_websockets(times=1)
    with pytest.raises(ccxt.NetworkError):
        await asyncio.wait_for(pro.watch_ticker("BTC/USDT"), WAIT_S)
    assert (await asyncio.wait_for(pro.watch_ticker("BTC/USDT"), WAIT_S))["last"] > 0


async def _receive_json(ws, timeout: float = WAIT_S) -> dict:
    """从原始 websocket 收一条 JSON 消息。"""
    return json.loads((await asyncio.wait_for(ws.receive(), timeout)).data)


async def test_silent_websocket_sends_nothing_until_the_silence_ends(sandbox):
    """silence_websockets：连接不断，但静默期内没有任何消息；之后恢复推送。"""
    url = f"ws://127.0.0.1:{sandbox.port}/ws/btcusdt@trade"
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        await _receive_json(ws)
        sandbox.faults.silence_websockets(1.2)
        for _ in range(20):  # 收完静默开始前已经发出的消息（最多几条）
            try:
                await _receive_json(ws, timeout=0.15)
            except asyncio.TimeoutError:
                break
        with pytest.raises(asyncio.TimeoutError):
            await _receive_json(ws, timeout=0.4)
        assert (await _receive_json(ws))["e"] == "trade"
        assert not ws.closed


async def test_duplicated_and_reordered_stream_messages(sandbox):
    """duplicate_messages 让一条消息连发两次；reorder_messages 让一条消息晚于它后面的那条到达。"""
    url = f"ws://127.0.0.1:{sandbox.port}/ws/btcusdt@trade"
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        await _receive_json(ws)
        sandbox.faults.duplicate_messages(1)
        ids = [(await _receive_json(ws))["t"] for _ in range(3)]
        assert ids[0] == ids[1] and ids[2] > ids[1]
        sandbox.faults.reorder_messages(1)
        ids = [(await _receive_json(ws))["t"] for _ in range(4)]
        assert any(later < earlier for earlier, later in zip(ids, ids[1:]))
