"""创建原版（未修改的）ccxt binance 客户端，并可把它的全部 URL 指向另一个地址（本地沙盒）。

做法：递归遍历 `exchange.urls['api']`，把每个 URL 字符串的协议与主机替换为给定的 http/ws 基地址，
路径保持不变（`/api/v3`、`/ws`、`/ws-api/v3` ...），所以沙盒必须在 Binance 自己的路径上提供服务。
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro

# 只加载现货市场、不拉取币种信息（否则 load_markets 会访问 sapi 与合约接口）
SPOT_ONLY_OPTIONS = {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False}


def _rebase(url: str, http_base: str, ws_base: str) -> str:
    """把一个 URL 的协议与主机换成沙盒的：http(s) -> http_base，ws(s) -> ws_base，保留路径与查询串。"""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "ws", "wss"):
        return url
    base = ws_base if parts.scheme in ("ws", "wss") else http_base
    rest = url[len(f"{parts.scheme}://{parts.netloc}"):]
    return base.rstrip("/") + rest


def point_urls_at(value: Any, http_base: str, ws_base: str) -> Any:
    """递归替换嵌套字典/列表里每个 URL 字符串的协议与主机，返回新结构（不修改原对象）。"""
    if isinstance(value, dict):
        return {key: point_urls_at(item, http_base, ws_base) for key, item in value.items()}
    if isinstance(value, list):
        return [point_urls_at(item, http_base, ws_base) for item in value]
    if isinstance(value, str):
        return _rebase(value, http_base, ws_base)
    return value


def make_client(
    base_url: str | None = None,
    *,
    api_key: str | None = None,
    secret: str | None = None,
    pro: bool = False,
    options: dict[str, Any] | None = None,
    timeout_ms: int = 10_000,
    market_types: tuple[str, ...] = ("spot",),
    rate_limit: bool = True,
) -> Any:
    """创建 ccxt 的 binance 客户端（异步版，pro=True 时为带 websocket 的 ccxt.pro 版）。

    base_url 形如 http://127.0.0.1:8765：给出时把全部 REST/websocket URL 指向它（websocket 用 ws://）；
    为 None 时连接真实的 Binance。api_key/secret 可省略（只用公开接口时）。timeout_ms 为单次请求超时（毫秒）。
    market_types 为 load_markets 加载的市场类型：("spot",) 只有现货；("spot", "linear") 再加 USD-M 永续合约。
    rate_limit 为 ccxt 的客户端限流（enableRateLimit，按 Binance 的请求权重排队）；只有连本进程里的沙盒时才关掉它
    （沙盒没有请求权重限制，排队只会让每次启动多等约一秒）。
    """
    config: dict[str, Any] = {
        "enableRateLimit": rate_limit,
        "timeout": timeout_ms,
        "options": {**SPOT_ONLY_OPTIONS, "fetchMarkets": {"types": list(market_types)}, **(options or {})},
    }
    if api_key:
        config["apiKey"] = api_key
    if secret:
        config["secret"] = secret
    exchange = (ccxt_pro if pro else ccxt_async).binance(config)
    if base_url:
        http_base = base_url.rstrip("/")
        parts = urlsplit(http_base)
        ws_base = f"{'wss' if parts.scheme == 'https' else 'ws'}://{parts.netloc}"
        exchange.urls["api"] = point_urls_at(exchange.urls["api"], http_base, ws_base)
    return exchange


def failed_url(exc: BaseException) -> str | None:
    """ccxt 错误消息里请求的地址（协议与主机，如 https://api.binance.com）；消息里没有时为 None。

    ccxt 的网络错误消息形如 'binance GET https://api.binance.com/api/v3/exchangeInfo'。"""
    match = re.search(r"\b(https?|wss?)://[^/\s\"']+", str(exc))
    return match.group(0) if match else None


def network_failure(exc: BaseException) -> str:
    """一次网络失败的简短原因（英文）：DNS 解析失败、连接被拒、超时、TLS 失败；认不出时为异常类名。

    沿 __cause__/__context__ 与 aiohttp 的 os_error 找最底层的原因（ccxt 把 aiohttp 的错误包成 ExchangeNotAvailable）。"""
    import socket
    import ssl

    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 20:
        seen.append(current)
        current = getattr(current, "os_error", None) or current.__cause__ or current.__context__
    for cause in reversed(seen):
        if isinstance(cause, socket.gaierror):
            return f"DNS lookup failed: {cause.strerror or cause}"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused: nothing is listening there"
        if isinstance(cause, ssl.SSLError):
            return f"TLS handshake failed: {cause.reason or cause}"
        if isinstance(cause, TimeoutError):
            return "timed out"
    if isinstance(exc, ccxt_async.RequestTimeout):
        return "timed out"
    if isinstance(exc, ccxt_async.ExchangeNotAvailable) and exc.__cause__ is None:
        # 有回答但不是可用的 API：ccxt 的消息形如 'binance GET http://host/api/v3/exchangeInfo 503 Service ...'
        status = re.search(r"https?://\S+ (\d{3})\b", str(exc))
        if status is None:
            return "the exchange answered that it is not available (maintenance or overload)"
        if status.group(1).startswith("5"):
            return f"it answered HTTP {status.group(1)}: not available, maintenance or overload"
        return f"it answered HTTP {status.group(1)}, which is not an answer of a Binance-compatible API"
    return type(exc).__name__
