"""请求鉴权：API key、HMAC-SHA256 签名与时间戳（recvWindow）检查，规则与 Binance 相同。

REST：签名是对“查询串 + 请求体”（去掉 signature 参数，保持原始编码与顺序）做 HMAC-SHA256 的十六进制串。
websocket API：签名是对按键名排序、`k=v` 以 & 连接（不做 URL 编码）的参数串做同样的运算。
时间戳与服务器的墙上时钟或行情的模拟时钟（serverTime）比较，任一在 recvWindow 之内即可。
"""

from __future__ import annotations

import hashlib
import hmac
import time

from tradeterm.sandbox import errors
from tradeterm.sandbox.errors import BinanceError
from tradeterm.sandbox.params import integer

# 默认的 recvWindow，毫秒（Binance 的默认值）
DEFAULT_RECV_WINDOW_MS = 5_000
# recvWindow 的上限，毫秒
MAX_RECV_WINDOW_MS = 60_000
# 允许客户端时钟领先服务器的最大毫秒数（Binance 为 1000）
MAX_AHEAD_MS = 1_000


def sign(payload: str, secret: str) -> str:
    """HMAC-SHA256(secret, payload) 的十六进制串。"""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def strip_signature(raw: str) -> tuple[str, str | None]:
    """从原始参数串中拿掉 signature=...，返回（其余部分原样拼回, 签名或 None）。"""
    kept: list[str] = []
    signature = None
    for part in raw.split("&") if raw else []:
        if part.startswith("signature="):
            signature = part[len("signature="):]
        else:
            kept.append(part)
    return "&".join(kept), signature


def check_timestamp(params: dict[str, str], clocks_ms: tuple[int, ...] = ()) -> None:
    """检查 timestamp 与 recvWindow：缺失抛 -1102，不是非负整数抛 -1100；对墙上时钟与 clocks_ms 里的每个时钟都超前 1 秒或超出窗口时抛 -1021。

    沙盒的 serverTime 是行情的模拟时钟（倍速回放时与墙上时间不同）；客户端按墙上时间签名（ccxt 默认）
    或按 serverTime 校时后签名（adjustForTimeDifference）都应被接受，所以任一时钟满足即可。
    """
    ts = integer(params, "timestamp")
    if ts is None:
        raise BinanceError(errors.missing_param("timestamp"))
    window = integer(params, "recvWindow", DEFAULT_RECV_WINDOW_MS)
    if window > MAX_RECV_WINDOW_MS:
        raise BinanceError(errors.BAD_RECV_WINDOW)
    problems = [_timestamp_problem(ts, window, now) for now in (int(time.time() * 1000), *clocks_ms)]
    if all(problems):
        raise BinanceError(problems[0])


def _timestamp_problem(ts: int, window: int, now_ms: int) -> tuple[int, str] | None:
    """相对时钟 now_ms，时间戳 ts 有什么问题（超前或过期）；没问题返回 None。"""
    if ts > now_ms + MAX_AHEAD_MS:
        return errors.TIMESTAMP_AHEAD
    if now_ms - ts > window:
        return errors.TIMESTAMP_OUTSIDE
    return None


def verify_rest(query: str, body: str, secret: str) -> None:
    """校验 REST 请求的签名：payload 为原始查询串与请求体（各自去掉 signature）直接相连；不对抛 -1022。"""
    query_payload, query_sig = strip_signature(query)
    body_payload, body_sig = strip_signature(body)
    signature = query_sig or body_sig
    if not signature:
        raise BinanceError(errors.missing_param("signature"))
    if not _matches(sign(query_payload + body_payload, secret), signature):
        raise BinanceError(errors.BAD_SIGNATURE)


def verify_ws(params: dict, secret: str) -> None:
    """校验 websocket API 请求的签名：按键名排序的 k=v&k=v（不含 signature）。"""
    signature = params.get("signature")
    if not signature:
        raise BinanceError(errors.missing_param("signature"))
    payload = "&".join(f"{key}={_ws_value(params[key])}" for key in sorted(params) if key != "signature")
    if not _matches(sign(payload, secret), str(signature)):
        raise BinanceError(errors.BAD_SIGNATURE)


def _matches(expected: str, signature: str) -> bool:
    """签名是否等于 expected（十六进制，不分大小写）；含非 ASCII 字符的签名一定不对（也不能交给 compare_digest）。"""
    return signature.isascii() and hmac.compare_digest(expected, signature.lower())


def _ws_value(value: object) -> str:
    """websocket 参数值转文本：布尔值写成 true/false（与 ccxt 的 urlencode 一致）。"""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
