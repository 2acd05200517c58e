"""沙盒测试的小工具：在回放序列里找“之后会被穿过”的价格并把模拟时钟拨到那里；用 aiohttp 直接发（签名的）原始请求。"""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import aiohttp
from yarl import URL

from tradeterm.sandbox import SandboxExchange
from tradeterm.sandbox.auth import sign

# 原始请求的客户端超时，秒：足够宽，机器再忙也不会因慢而失败，只用来防止挂死
RAW_TIMEOUT_S = 30.0
# 表单请求体的 Content-Type
FORM = "application/x-www-form-urlencoded"


def future_cross(sandbox: SandboxExchange, symbol: str, direction: int, distance: float = 0.002,
                 horizon: int = 600) -> tuple[float, int]:
    """找之后 horizon 根内第一根最低价（direction=-1）或最高价（+1）离当前价超过 distance（比例）的 K 线。

    返回（在那根 K 线里一定会被穿过的价格，落在价格网格上, 那根 K 线收盘时的模拟时间 UTC 毫秒）。
    """
    market = sandbox.market(symbol)
    series = market.series
    now = sandbox.clock.now()
    index, _ = series.position(now)
    series.ensure(index + horizon)
    current = market.price(now)
    tick = market.spec.price_tick
    for j in range(index + 1, index + horizon):
        if direction < 0 and series.low[j] < current * (1 - distance):
            return round((series.low[j] + 2 * tick) / tick) * tick, series.bar_ts(j + 1)
        if direction > 0 and series.high[j] > current * (1 + distance):
            return round((series.high[j] - 2 * tick) / tick) * tick, series.bar_ts(j + 1)
    raise AssertionError("no bar in the horizon crosses the wanted distance")


async def run_until(sandbox: SandboxExchange, ts: int) -> None:
    """把模拟时钟拨到 ts（UTC 毫秒）之后，并立即推进一个节拍（撮合期间经过的每根 K 线）。"""
    gap = ts - sandbox.clock.now()
    if gap > 0:
        sandbox.clock.advance(gap + 1)
    await sandbox.tick()


def signed_query(params: dict[str, str], secret: str) -> str:
    """把 params 加上当前 timestamp 编成查询串，再附上 HMAC-SHA256 签名（与 ccxt 的做法相同）。"""
    query = urlencode({**params, "timestamp": str(int(time.time() * 1000))})
    return f"{query}&signature={sign(query, secret)}"


async def raw_call(sandbox: SandboxExchange, method: str, path: str, query: str = "", body: bytes | None = None,
                   api_key: str | None = None) -> tuple[int, object]:
    """向沙盒发一个原始请求（query 为已编码的查询串，原样发出；body 为表单请求体的原始字节）。

    返回（HTTP 状态, 解析后的 JSON 正文）；正文不是 JSON 时抛 AssertionError（沙盒必须总是回答 JSON）。
    """
    url = URL(f"{sandbox.url}{path}" + (f"?{query}" if query else ""), encoded=True)
    headers = {"Content-Type": FORM}
    if api_key is not None:
        headers["X-MBX-APIKEY"] = api_key
    timeout = aiohttp.ClientTimeout(total=RAW_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async with session.request(method, url, data=body, headers=headers) as response:
            text = await response.text(errors="replace")
            try:
                return response.status, json.loads(text)
            except ValueError:
                raise AssertionError(f"{method} {path}?{query} -> HTTP {response.status}, not JSON: {text[:200]!r}")


async def signed_call(sandbox: SandboxExchange, method: str, path: str, params: dict[str, str],
                      in_body: bool = False, api_key: str | None = None, secret: str | None = None
                      ) -> tuple[int, object]:
    """签名发请求（默认用演示账户的凭证）：参数放查询串（默认）或表单请求体；返回（HTTP 状态, JSON 正文）。"""
    signed = signed_query(params, secret or sandbox.secret)
    key = api_key or sandbox.api_key
    if in_body:
        return await raw_call(sandbox, method, path, body=signed.encode(), api_key=key)
    return await raw_call(sandbox, method, path, signed, api_key=key)
