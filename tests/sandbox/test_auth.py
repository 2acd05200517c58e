"""沙盒的鉴权：签名、API key 与时间戳（recvWindow），错误码映射到 ccxt 的异常类。"""

from __future__ import annotations

import time

import aiohttp
import ccxt
import pytest

from tradeterm.sandbox import DEFAULT_API_KEY, SandboxExchange
from tradeterm.sandbox.auth import sign


async def test_wrong_secret_is_rejected_with_signature_error(sandbox):
    """密钥不对时签名不符：-1022，ccxt 抛 AuthenticationError。"""
    client = sandbox.client(secret="not-the-secret")
    try:
        with pytest.raises(ccxt.AuthenticationError, match="-1022"):
            await client.fetch_balance()
    finally:
        await client.close()


async def test_unknown_api_key_is_rejected(sandbox):
    """不存在的 API key：-2015，ccxt 抛 AuthenticationError。"""
    client = sandbox.client(api_key="nobody")
    try:
        with pytest.raises(ccxt.AuthenticationError, match="-2015"):
            await client.fetch_balance()
    finally:
        await client.close()


@pytest.mark.parametrize("offset_ms", [3_600_000, -3_600_000], ids=["stale", "ahead"])
async def test_timestamp_outside_recv_window_raises_invalid_nonce(sandbox, offset_ms):
    """时间戳落后超过 recvWindow 或领先超过 1 秒：-1021，ccxt 抛 InvalidNonce。

    偏移取一小时：沙盒同时接受墙上时钟与行情模拟时钟（60 倍速下两者可相差数十秒），偏移须远离两者。
    """
    client = sandbox.client(options={"timeDifference": offset_ms, "recvWindow": 5_000})
    try:
        with pytest.raises(ccxt.InvalidNonce, match="-1021"):
            await client.fetch_balance()
    finally:
        await client.close()


async def test_client_synced_to_server_time_can_sign_with_the_market_clock():
    """模拟时钟领先一小时（实时速度）：开启 adjustForTimeDifference 的 ccxt 按 serverTime 签名，同样被接受。"""
    async with SandboxExchange(port=0, speed=1, history_bars=100) as sandbox:
        sandbox.clock.advance(3_600_000)
        client = sandbox.client(options={"adjustForTimeDifference": True})
        try:
            await client.load_time_difference()
            assert client.options["timeDifference"] < -3_000_000
            assert (await client.fetch_balance())["USDT"]["free"] == 10_000
        finally:
            await client.close()


async def test_raw_requests_without_key_or_signature_get_binance_errors(sandbox):
    """不带 API key 头 -> 401 + -2014；带 key 不带签名 -> -1102；正确签名 -> 200。"""
    query = f"timestamp={int(time.time() * 1000)}"
    url = f"{sandbox.url}/api/v3/account"
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{url}?{query}") as response:
            assert response.status == 401 and (await response.json())["code"] == -2014
        headers = {"X-MBX-APIKEY": DEFAULT_API_KEY}
        async with session.get(f"{url}?{query}", headers=headers) as response:
            assert (await response.json()) == {"code": -1102, "msg": "Mandatory parameter 'signature' was not sent, "
                                                                     "was empty/null, or malformed."}
        signed = f"{query}&signature={sign(query, sandbox.secret)}"
        async with session.get(f"{url}?{signed}", headers=headers) as response:
            assert response.status == 200 and (await response.json())["accountType"] == "SPOT"


async def test_user_data_subscription_with_bad_signature_is_refused(sandbox):
    """websocket API 的用户数据订阅签名不对：ccxt.pro 的 watch_balance 抛 AuthenticationError。"""
    client = sandbox.client(pro=True, secret="wrong")
    try:
        with pytest.raises(ccxt.AuthenticationError):
            await client.watch_balance()
    finally:
        await client.close()
