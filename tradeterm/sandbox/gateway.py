"""沙盒 HTTP 的公共层：中间件（请求日志、故障注入、错误转换、兜底）、JSON 响应与签名端点的鉴权。

每个 REST 请求的回答只有两种：2xx + JSON，或 4xx + Binance 的错误 JSON {"code": 负整数, "msg": 文本}。
坏输入在各处理函数里就地给出具体的错误码；处理函数里漏网的异常是沙盒自身的程序错误，
记下完整的堆栈并以 HTTP 500 + {"code": -1000, ...} 回答（与 Binance 的未知错误相同），连接不会断、服务不会停。
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from http import HTTPStatus
from typing import TYPE_CHECKING

from aiohttp import web

from tradeterm.sandbox import auth, errors, params
from tradeterm.sandbox.accounts import Account
from tradeterm.sandbox.errors import BinanceError

if TYPE_CHECKING:
    from tradeterm.sandbox.server import SandboxExchange

log = logging.getLogger(__name__)

# 5xx 故障时返回的网关错误页（真实网关出错时也是 HTML，ccxt 按 HTTP 状态转成 ExchangeNotAvailable）
GATEWAY_ERROR_PAGE = "<html><body><h1>{status} {reason}</h1></body></html>"
# REST 端点的路径前缀：只有这些路径做参数重复检查与异常兜底（websocket 路径由 streams.py 自己处理）
REST_PREFIXES = ("/api/", "/fapi/", "/sapi/")
# 程序错误的 HTTP 状态
INTERNAL_ERROR_STATUS = 500

# aiohttp 应用里保存沙盒实例的键
SANDBOX_KEY: web.AppKey = web.AppKey("sandbox", object)


def sandbox_of(request: web.Request) -> "SandboxExchange":
    """取出处理请求的沙盒实例。"""
    return request.app[SANDBOX_KEY]


def json_response(body: object, status: int = 200, headers: dict | None = None) -> web.Response:
    """以 application/json 返回 body。"""
    return web.Response(text=json.dumps(body), status=status, content_type="application/json", headers=headers)


def error_response(error: tuple[int, str], status: int) -> web.Response:
    """Binance 的错误响应：HTTP status + {"code", "msg"}。"""
    return json_response({"code": error[0], "msg": error[1]}, status)


@web.middleware
async def binance_middleware(request: web.Request, handler) -> web.StreamResponse:
    """全部请求的公共处理：记请求日志、注入故障、拒绝重复参数、把 BinanceError 转成 Binance 的错误响应；
    REST 处理函数里漏网的异常记日志并回答 500 + -1000（见模块说明）。"""
    sandbox = sandbox_of(request)
    rest = request.path.startswith(REST_PREFIXES)
    try:
        sandbox.request_log.append((request.method, request.path, dict(request.query)))
        fault = sandbox.faults.take_http(request.method, request.path)
        if fault is not None:
            if fault.delay_s:
                await asyncio.sleep(fault.delay_s)
            if fault.status is not None:
                return _fault_response(fault.status, fault.retry_after_s)
        if rest:
            params.unique(list(request.query.items()))
        return await handler(request)
    except BinanceError as exc:
        log.info("request rejected path=%s code=%s msg=%s", request.path, exc.code, exc.msg)
        return json_response(exc.body(), status=exc.status)
    except web.HTTPException:
        raise  # aiohttp 自己的 404/405/413 等：照常回答
    except Exception:
        if not rest:
            raise
        log.exception("sandbox internal error method=%s path=%s query=%s", request.method, request.path,
                      request.query_string[:200])
        return error_response(errors.UNKNOWN_ERROR, INTERNAL_ERROR_STATUS)


def _fault_response(status: int, retry_after_s: int | None) -> web.Response:
    """注入的 HTTP 故障响应：429/418 带 Binance 的 -1003 正文与 Retry-After，其余为网关错误页。"""
    headers = {"Retry-After": str(retry_after_s)} if retry_after_s is not None else None
    if status == 429:
        return json_response({"code": errors.TOO_MANY_REQUESTS[0], "msg": errors.TOO_MANY_REQUESTS[1]}, status,
                             headers)
    if status == 418:
        until = int(time.time() * 1000) + 1000 * (retry_after_s or 60)
        return json_response({"code": errors.IP_BANNED[0], "msg": errors.IP_BANNED[1].format(until=until)}, status,
                             headers)
    reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    return web.Response(text=GATEWAY_ERROR_PAGE.format(status=status, reason=reason), status=status,
                        content_type="text/html", headers=headers)


async def signed_params(request: web.Request) -> tuple[Account, dict]:
    """签名端点的鉴权：API key 头、签名、时间戳；返回（账户, 查询串与请求体合并后的参数）。

    同一参数在查询串与请求体里都有时以查询串为准（Binance 的规则）；签名按原始（未解码的）查询串与请求体校验。
    """
    sandbox = sandbox_of(request)
    body, body_params = await params.form_body(request)
    merged = {**body_params, **request.query}
    account = api_key_account(request)
    auth.verify_rest(request.rel_url.raw_query_string, body, account.secret)
    auth.check_timestamp(merged, (sandbox.clock.now(),))
    return account, merged


def api_key_account(request: web.Request) -> Account:
    """按 X-MBX-APIKEY 头找账户：缺失抛 -2014，不存在抛 -2015。"""
    key = request.headers.get("X-MBX-APIKEY", "")
    if not key:
        raise BinanceError(errors.BAD_API_KEY_FORMAT, status=401)
    account = sandbox_of(request).engine.accounts.get(key)
    if account is None:
        raise BinanceError(errors.REJECTED_API_KEY, status=401)
    return account
