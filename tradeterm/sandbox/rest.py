"""沙盒的 REST 接口：Binance 现货 /api/v3/... 的签名端点（账户、下单、撤单、查询）与全部路由的注册。

公开行情端点见 public_rest.py，中间件、错误转换与鉴权见 gateway.py，参数规则见 params.py 与 order_params.py。
"""

from __future__ import annotations

import secrets

from aiohttp import web

from tradeterm.sandbox import errors, payloads
from tradeterm.sandbox.accounts import Account
from tradeterm.sandbox.errors import BinanceError
from tradeterm.sandbox.gateway import api_key_account, json_response, sandbox_of, signed_params
from tradeterm.sandbox.order_params import check_spot_limits, parse_order_request
from tradeterm.sandbox.params import bounded_limit, form_body, integer, required, time_range
from tradeterm.sandbox.public_rest import LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT, add_public_routes

# 接受的响应类型（newOrderRespType）
RESPONSE_TYPES = ("ACK", "RESULT", "FULL")
# 现货的公开端点（/api/v3/ 之后的路径）
SPOT_PUBLIC_PATHS = ("ping", "time", "exchangeInfo", "klines", "uiKlines", "depth", "ticker/24hr", "ticker/price",
                     "ticker/bookTicker", "trades", "avgPrice")


# ---- 签名端点 -----------------------------------------------------------------------------------------

async def account_info(request: web.Request) -> web.Response:
    """GET /api/v3/account：余额与费率。"""
    sandbox = sandbox_of(request)
    account, _ = await signed_params(request)
    config = sandbox.engine.config
    return json_response(payloads.account_json(account, sandbox.clock.now(), config.maker_fee, config.taker_fee))


async def new_order(request: web.Request) -> web.Response:
    """POST /api/v3/order：下单（故障注入可令其被拒）；响应按 newOrderRespType。"""
    sandbox = sandbox_of(request)
    account, params = await signed_params(request)
    order_request = parse_order_request(params)
    resp_type = (params.get("newOrderRespType") or "FULL").upper()
    if resp_type not in RESPONSE_TYPES:
        raise BinanceError(errors.illegal_param("newOrderRespType", ", ".join(RESPONSE_TYPES)))
    market = sandbox.engine.market(order_request.market_id)
    check_spot_limits(order_request, market.spec)
    if any(o.client_order_id == order_request.client_order_id and o.is_open for o in account.orders.values()):
        raise BinanceError((-2010, "Duplicate order sent."))
    rejection = sandbox.faults.take_order_rejection()
    if rejection is not None:
        raise BinanceError(rejection)
    order = sandbox.engine.place(account, order_request, sandbox.clock.now())
    return json_response(payloads.new_order_response(order, market.spec, resp_type))


async def test_order(request: web.Request) -> web.Response:
    """POST /api/v3/order/test：只校验参数、交易对、公布的上限与鉴权，不下单。"""
    sandbox = sandbox_of(request)
    _, params = await signed_params(request)
    order_request = parse_order_request(params)
    check_spot_limits(order_request, sandbox.engine.market(order_request.market_id).spec)
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
    start, end = time_range(params)
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
    start, end = time_range(params)
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
        _, body = await form_body(request)
        for key in [k for k in sandbox.listen_keys if k in (request.query.get("listenKey"), body.get("listenKey"))]:
            sandbox.listen_keys.pop(key, None)
    return json_response({})


async def empty_signed_list(request: web.Request) -> web.Response:
    """ccxt 在带凭证时加载市场/币种会访问的 sapi 端点（杠杆交易对、币种配置）：沙盒只有现货，返回空列表。"""
    await signed_params(request)
    return json_response([])


def add_routes(app: web.Application) -> None:
    """把全部 REST 端点注册到 app（路径与 Binance 现货相同）。"""
    get, post, delete, put = app.router.add_get, app.router.add_post, app.router.add_delete, app.router.add_put
    add_public_routes(app, "/api/v3", SPOT_PUBLIC_PATHS)
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
