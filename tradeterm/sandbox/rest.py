"""沙盒的 REST 接口：Binance 现货 /api/v3/... 的公开与签名端点（路径、参数、响应形状与错误同 Binance）。

每个请求先经过中间件：记入请求日志（测试据此数请求）、套用故障注入、把 BinanceError 转成 {"code","msg"} 响应。
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from http import HTTPStatus
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from aiohttp import web

from tradeterm.config.markets import TIMEFRAME_MS
from tradeterm.sandbox import auth, errors, payloads
from tradeterm.sandbox.accounts import Account
from tradeterm.sandbox.errors import BinanceError
from tradeterm.sandbox.matching import OrderRequest

if TYPE_CHECKING:
    from tradeterm.sandbox.server import SandboxExchange

log = logging.getLogger(__name__)

# klines 的默认与最大根数（Binance 现货）
KLINES_DEFAULT_LIMIT, KLINES_MAX_LIMIT = 500, 1000
# depth 的默认与最大档数
DEPTH_DEFAULT_LIMIT, DEPTH_MAX_LIMIT = 100, 5000
# myTrades / allOrders 的默认与最大条数
LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT = 500, 1000
# 接受的 timeInForce
TIME_IN_FORCE = ("GTC", "IOC", "FOK")
# 接受的响应类型（newOrderRespType）
RESPONSE_TYPES = ("ACK", "RESULT", "FULL")
# 5xx 故障时返回的网关错误页（真实网关出错时也是 HTML，ccxt 按 HTTP 状态转成 ExchangeNotAvailable）
GATEWAY_ERROR_PAGE = "<html><body><h1>{status} {reason}</h1></body></html>"


# aiohttp 应用里保存沙盒实例的键
SANDBOX_KEY: web.AppKey = web.AppKey("sandbox", object)


def sandbox_of(request: web.Request) -> "SandboxExchange":
    """取出处理请求的沙盒实例。"""
    return request.app[SANDBOX_KEY]


def json_response(body: object, status: int = 200, headers: dict | None = None) -> web.Response:
    """以 application/json 返回 body。"""
    return web.Response(text=json.dumps(body), status=status, content_type="application/json", headers=headers)


@web.middleware
async def binance_middleware(request: web.Request, handler) -> web.StreamResponse:
    """全部请求的公共处理：记请求日志、注入故障、把 BinanceError 转成 Binance 的错误响应。"""
    sandbox = sandbox_of(request)
    sandbox.request_log.append((request.method, request.path, dict(request.query)))
    fault = sandbox.faults.take_http(request.method, request.path)
    if fault is not None:
        if fault.delay_s:
            await asyncio.sleep(fault.delay_s)
        if fault.status is not None:
            return _fault_response(fault.status, fault.retry_after_s)
    try:
        return await handler(request)
    except BinanceError as exc:
        log.info("request rejected path=%s code=%s msg=%s", request.path, exc.code, exc.msg)
        return json_response(exc.body(), status=exc.status)


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
    return web.Response(text=GATEWAY_ERROR_PAGE.format(status=status, reason=reason), status=status, content_type="text/html",
                        headers=headers)


# ---- 参数解析 -----------------------------------------------------------------------------------------

def required(params: dict, name: str) -> str:
    """取必填参数；缺失或为空抛 -1102。"""
    value = params.get(name)
    if value is None or value == "":
        raise BinanceError(errors.missing_param(name))
    return value


def number(params: dict, name: str, default: float = 0.0) -> float:
    """取数值参数；缺失给 default，非数字抛 -1100。"""
    value = params.get(name)
    if value is None or value == "":
        return default
    try:
        return float(value)
    except ValueError:
        raise BinanceError(errors.illegal_param(name)) from None


def integer(params: dict, name: str, default: int | None = None) -> int | None:
    """取整数参数；缺失给 default，非整数抛 -1100。"""
    value = params.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise BinanceError(errors.illegal_param(name)) from None


def bounded_limit(params: dict, default: int, maximum: int) -> int:
    """limit 参数：缺省为 default，超过 maximum 时截到 maximum（与 Binance 一致），小于 1 抛 -1100。"""
    limit = integer(params, "limit", default)
    if limit is None or limit < 1:
        raise BinanceError(errors.illegal_param("limit"))
    return min(limit, maximum)


def symbol_list(params: dict) -> list[str] | None:
    """symbols 参数（JSON 数组，如 ["BTCUSDT","ETHUSDT"]）；没给时返回 None。"""
    raw = params.get("symbols")
    if not raw:
        return None
    try:
        values = json.loads(raw)
    except json.JSONDecodeError:
        raise BinanceError(errors.illegal_param("symbols")) from None
    return [str(v) for v in values]


async def signed_params(request: web.Request) -> tuple[Account, dict]:
    """签名端点的鉴权：API key 头、签名、时间戳；返回（账户, 查询串与请求体合并后的参数）。"""
    sandbox = sandbox_of(request)
    body = await request.text() if request.can_read_body else ""
    params = dict(request.query)
    if body:
        params.update(dict(parse_qsl(body, keep_blank_values=True)))
    account = api_key_account(request)
    auth.verify_rest(request.query_string, body, account.secret)
    auth.check_timestamp(params, (sandbox.clock.now(),))
    return account, params


def api_key_account(request: web.Request) -> Account:
    """按 X-MBX-APIKEY 头找账户：缺失抛 -2014，不存在抛 -2015。"""
    key = request.headers.get("X-MBX-APIKEY", "")
    if not key:
        raise BinanceError(errors.BAD_API_KEY_FORMAT, status=401)
    account = sandbox_of(request).engine.accounts.get(key)
    if account is None:
        raise BinanceError(errors.REJECTED_API_KEY, status=401)
    return account


# ---- 公开端点 -----------------------------------------------------------------------------------------

async def ping(request: web.Request) -> web.Response:
    """GET /api/v3/ping：连通性测试。"""
    return json_response({})


async def server_time(request: web.Request) -> web.Response:
    """GET /api/v3/time：交易所时间 = 行情的模拟时钟（倍速回放时跑在墙上时间前面）。"""
    return json_response({"serverTime": sandbox_of(request).clock.now()})


async def exchange_info(request: web.Request) -> web.Response:
    """GET /api/v3/exchangeInfo：全部（或 symbol/symbols 指定的）交易对及其过滤器。"""
    engine = sandbox_of(request).engine
    wanted = symbol_list(request.query) or ([request.query["symbol"]] if "symbol" in request.query else None)
    specs = [engine.market(m).spec for m in wanted] if wanted else [m.spec for m in engine.markets.values()]
    return json_response(payloads.exchange_info(specs, sandbox_of(request).clock.now()))


async def klines(request: web.Request) -> web.Response:
    """GET /api/v3/klines（与 uiKlines）：startTime/endTime/limit 语义同 Binance，含正在走的 K 线。"""
    sandbox = sandbox_of(request)
    params = request.query
    market = sandbox.engine.market(required(params, "symbol"))
    interval = required(params, "interval")
    if interval not in TIMEFRAME_MS or interval == "1M":
        raise BinanceError(errors.BAD_INTERVAL)
    limit = bounded_limit(params, KLINES_DEFAULT_LIMIT, KLINES_MAX_LIMIT)
    start = integer(params, "startTime")
    hidden = sandbox.faults.hidden_klines
    # 有缺口时多取一些再剔除，使返回的仍是 limit 根存在的 K 线（与 Binance 一致：缺的 K 线不占名额）
    extra = sum((end - begin) // TIMEFRAME_MS[interval] + 1 for begin, end in hidden)
    rows = market.klines(sandbox.clock.now(), TIMEFRAME_MS[interval], start, integer(params, "endTime"),
                         limit + extra)
    rows = [row for row in rows if not sandbox.faults.is_hidden(row[0])]
    return json_response(rows[:limit] if start is not None else rows[-limit:])


async def depth(request: web.Request) -> web.Response:
    """GET /api/v3/depth：合成盘口。"""
    sandbox = sandbox_of(request)
    market = sandbox.engine.market(required(request.query, "symbol"))
    limit = bounded_limit(request.query, DEPTH_DEFAULT_LIMIT, DEPTH_MAX_LIMIT)
    return json_response(market.order_book(sandbox.clock.now(), limit))


def _ticker_markets(request: web.Request) -> tuple[list, bool]:
    """ticker 类端点要返回的交易对：symbol（单个，返回对象）、symbols（数组）或全部；第二项表示是否单个。"""
    engine = sandbox_of(request).engine
    if "symbol" in request.query:
        return [engine.market(request.query["symbol"])], True
    wanted = symbol_list(request.query)
    return ([engine.market(m) for m in wanted] if wanted else list(engine.markets.values())), False


async def ticker_24hr(request: web.Request) -> web.Response:
    """GET /api/v3/ticker/24hr：24 小时统计（单个为对象，多个为数组）。"""
    now = sandbox_of(request).clock.now()
    markets, single = _ticker_markets(request)
    rows = [m.ticker(now) for m in markets]
    return json_response(rows[0] if single else rows)


async def ticker_price(request: web.Request) -> web.Response:
    """GET /api/v3/ticker/price：最新价。"""
    now = sandbox_of(request).clock.now()
    markets, single = _ticker_markets(request)
    rows = [{"symbol": m.spec.market_id, "price": payloads.num(m.price(now))} for m in markets]
    return json_response(rows[0] if single else rows)


async def book_ticker(request: web.Request) -> web.Response:
    """GET /api/v3/ticker/bookTicker：最优买卖价。"""
    now = sandbox_of(request).clock.now()
    markets, single = _ticker_markets(request)
    rows = []
    for market in markets:
        bid, ask = market.best_bid_ask(now)
        rows.append({"symbol": market.spec.market_id, "bidPrice": payloads.num(bid), "bidQty": "1.00000000",
                     "askPrice": payloads.num(ask), "askQty": "1.00000000"})
    return json_response(rows[0] if single else rows)


async def recent_trades(request: web.Request) -> web.Response:
    """GET /api/v3/trades：最近的公开成交。"""
    market = sandbox_of(request).engine.market(required(request.query, "symbol"))
    limit = bounded_limit(request.query, LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT)
    return json_response(list(market.tape)[-limit:])


async def avg_price(request: web.Request) -> web.Response:
    """GET /api/v3/avgPrice：近 5 分钟均价（沙盒取最新价）。"""
    sandbox = sandbox_of(request)
    market = sandbox.engine.market(required(request.query, "symbol"))
    return json_response({"mins": 5, "price": payloads.num(market.price(sandbox.clock.now())),
                          "closeTime": sandbox.clock.now()})


# ---- 签名端点 -----------------------------------------------------------------------------------------

async def account_info(request: web.Request) -> web.Response:
    """GET /api/v3/account：余额与费率。"""
    sandbox = sandbox_of(request)
    account, _ = await signed_params(request)
    config = sandbox.engine.config
    return json_response(payloads.account_json(account, sandbox.clock.now(), config.maker_fee, config.taker_fee))


def parse_order_request(params: dict) -> OrderRequest:
    """把下单参数解析成 OrderRequest：检查类型、方向、各类型的必填参数（-1102/-1116/-1117/-1115）。"""
    side = required(params, "side").upper()
    if side not in ("BUY", "SELL"):
        raise BinanceError(errors.BAD_SIDE)
    kind = required(params, "type").upper()
    if kind not in payloads.ORDER_TYPES:
        raise BinanceError(errors.BAD_ORDER_TYPE)
    needs_price = kind in ("LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT")
    needs_stop = kind in ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")
    needs_tif = kind in ("LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT")
    quote_amount = number(params, "quoteOrderQty") if kind == "MARKET" else 0.0
    if not quote_amount:
        required(params, "quantity")
    if needs_price:
        required(params, "price")
    if needs_stop:
        required(params, "stopPrice")
    time_in_force = (required(params, "timeInForce") if needs_tif else params.get("timeInForce") or "GTC").upper()
    if time_in_force not in TIME_IN_FORCE:
        raise BinanceError(errors.BAD_TIME_IN_FORCE)
    amount = number(params, "quantity")
    price = number(params, "price") if needs_price else 0.0
    stop_price = number(params, "stopPrice") if needs_stop else 0.0
    if amount < 0 or price < 0 or stop_price < 0 or quote_amount < 0:
        raise BinanceError(errors.illegal_param("quantity"))
    client_id = params.get("newClientOrderId") or f"sandbox{secrets.token_hex(8)}"
    return OrderRequest(required(params, "symbol"), side, kind, amount, price, stop_price, quote_amount,
                        time_in_force, client_id)


async def new_order(request: web.Request) -> web.Response:
    """POST /api/v3/order：下单（故障注入可令其被拒）；响应按 newOrderRespType。"""
    sandbox = sandbox_of(request)
    account, params = await signed_params(request)
    order_request = parse_order_request(params)
    resp_type = (params.get("newOrderRespType") or "FULL").upper()
    if resp_type not in RESPONSE_TYPES:
        raise BinanceError(errors.illegal_param("newOrderRespType"))
    market = sandbox.engine.market(order_request.market_id)
    if any(o.client_order_id == order_request.client_order_id and o.is_open for o in account.orders.values()):
        raise BinanceError((-2010, "Duplicate order sent."))
    rejection = sandbox.faults.take_order_rejection()
    if rejection is not None:
        raise BinanceError(rejection)
    order = sandbox.engine.place(account, order_request, sandbox.clock.now())
    return json_response(payloads.new_order_response(order, market.spec, resp_type))


async def test_order(request: web.Request) -> web.Response:
    """POST /api/v3/order/test：只校验参数与鉴权，不下单。"""
    _, params = await signed_params(request)
    parse_order_request(params)
    return json_response({})


def _find_order(account: Account, params: dict):
    """按 orderId 或 origClientOrderId 找本账户的订单（两者都没给抛 -1102）。"""
    order_id = integer(params, "orderId")
    client_id = params.get("origClientOrderId")
    if order_id is None and not client_id:
        raise BinanceError(errors.missing_param("orderId"))
    order = account.find_order(order_id, client_id)
    if order is not None and order.market_id != params.get("symbol"):
        return None
    return order


async def cancel_order(request: web.Request) -> web.Response:
    """DELETE /api/v3/order：撤单；订单不存在或已结束返回 -2011。"""
    sandbox = sandbox_of(request)
    account, params = await signed_params(request)
    market = sandbox.engine.market(required(params, "symbol"))
    order = sandbox.engine.cancel(account, _find_order(account, params), sandbox.clock.now())
    body = payloads.order_json(order, market.spec)
    body["origClientOrderId"] = order.client_order_id
    return json_response(body)


async def cancel_open_orders(request: web.Request) -> web.Response:
    """DELETE /api/v3/openOrders：撤销某交易对的全部挂单。"""
    sandbox = sandbox_of(request)
    account, params = await signed_params(request)
    market = sandbox.engine.market(required(params, "symbol"))
    now = sandbox.clock.now()
    orders = [o for o in account.orders.values() if o.market_id == market.spec.market_id and o.is_open]
    return json_response([payloads.order_json(sandbox.engine.cancel(account, o, now), market.spec) for o in orders])


async def query_order(request: web.Request) -> web.Response:
    """GET /api/v3/order：查询一张订单；不存在返回 -2013。"""
    sandbox = sandbox_of(request)
    account, params = await signed_params(request)
    market = sandbox.engine.market(required(params, "symbol"))
    order = _find_order(account, params)
    if order is None:
        raise BinanceError(errors.NO_SUCH_ORDER)
    return json_response(payloads.order_json(order, market.spec))


async def open_orders(request: web.Request) -> web.Response:
    """GET /api/v3/openOrders：挂单（可按 symbol 过滤）。"""
    sandbox = sandbox_of(request)
    account, params = await signed_params(request)
    wanted = sandbox.engine.market(params["symbol"]).spec.market_id if params.get("symbol") else None
    rows = [payloads.order_json(o, sandbox.engine.markets[o.market_id].spec) for o in account.orders.values()
            if o.is_open and (wanted is None or o.market_id == wanted)]
    return json_response(rows)


async def all_orders(request: web.Request) -> web.Response:
    """GET /api/v3/allOrders：某交易对的全部订单（startTime/endTime/orderId/limit 过滤）。"""
    sandbox = sandbox_of(request)
    account, params = await signed_params(request)
    market = sandbox.engine.market(required(params, "symbol"))
    start, end = integer(params, "startTime"), integer(params, "endTime")
    from_id = integer(params, "orderId")
    limit = bounded_limit(params, LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT)
    rows = [o for o in account.orders.values() if o.market_id == market.spec.market_id
            and (start is None or o.created_ts >= start) and (end is None or o.created_ts <= end)
            and (from_id is None or o.order_id >= from_id)]
    return json_response([payloads.order_json(o, market.spec) for o in rows[:limit]])


async def my_trades(request: web.Request) -> web.Response:
    """GET /api/v3/myTrades：本账户在某交易对的成交（startTime/endTime/fromId/orderId/limit 过滤）。"""
    sandbox = sandbox_of(request)
    account, params = await signed_params(request)
    market = sandbox.engine.market(required(params, "symbol"))
    start, end = integer(params, "startTime"), integer(params, "endTime")
    from_id, order_id = integer(params, "fromId"), integer(params, "orderId")
    limit = bounded_limit(params, LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT)
    rows = [t for t in account.trades if t.market_id == market.spec.market_id
            and (start is None or t.ts >= start) and (end is None or t.ts <= end)
            and (from_id is None or t.trade_id >= from_id) and (order_id is None or t.order_id == order_id)]
    return json_response([payloads.my_trade_json(t) for t in rows[:limit]])


async def user_data_stream(request: web.Request) -> web.Response:
    """POST/PUT/DELETE /api/v3/userDataStream：旧式 listenKey（只需 API key 头，不签名）。"""
    sandbox = sandbox_of(request)
    account = api_key_account(request)
    if request.method == "POST":
        key = secrets.token_hex(32)
        sandbox.listen_keys[key] = account
        return json_response({"listenKey": key})
    if request.method == "DELETE":
        body = await request.text()
        for key in [k for k in sandbox.listen_keys if k in (request.query.get("listenKey"), body.split("=")[-1])]:
            sandbox.listen_keys.pop(key, None)
    return json_response({})


async def empty_signed_list(request: web.Request) -> web.Response:
    """ccxt 在带凭证时加载市场/币种会访问的 sapi 端点（杠杆交易对、币种配置）：沙盒只有现货，返回空列表。"""
    await signed_params(request)
    return json_response([])


def add_routes(app: web.Application) -> None:
    """把全部 REST 端点注册到 app（路径与 Binance 现货相同）。"""
    get, post, delete, put = app.router.add_get, app.router.add_post, app.router.add_delete, app.router.add_put
    get("/api/v3/ping", ping)
    get("/api/v3/time", server_time)
    get("/api/v3/exchangeInfo", exchange_info)
    get("/api/v3/klines", klines)
    get("/api/v3/uiKlines", klines)
    get("/api/v3/depth", depth)
    get("/api/v3/ticker/24hr", ticker_24hr)
    get("/api/v3/ticker/price", ticker_price)
    get("/api/v3/ticker/bookTicker", book_ticker)
    get("/api/v3/trades", recent_trades)
    get("/api/v3/avgPrice", avg_price)
    get("/api/v3/account", account_info)
    post("/api/v3/order", new_order)
    post("/api/v3/order/test", test_order)
    delete("/api/v3/order", cancel_order)
    get("/api/v3/order", query_order)
    delete("/api/v3/openOrders", cancel_open_orders)
    get("/api/v3/openOrders", open_orders)
    get("/api/v3/allOrders", all_orders)
    get("/api/v3/myTrades", my_trades)
    post("/api/v3/userDataStream", user_data_stream)
    put("/api/v3/userDataStream", user_data_stream)
    delete("/api/v3/userDataStream", user_data_stream)
    get("/sapi/v1/margin/allPairs", empty_signed_list)
    get("/sapi/v1/margin/isolated/allPairs", empty_signed_list)
    get("/sapi/v1/capital/config/getall", empty_signed_list)
