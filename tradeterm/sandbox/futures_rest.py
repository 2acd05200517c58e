"""沙盒的 USD-M 永续合约 REST 接口：/fapi/v1、/fapi/v2、/fapi/v3 下 ccxt binance 用到的端点。

行情端点（K 线、盘口、ticker、时间）与现货共用处理函数（同一条行情序列）；交易端点作用于合约账户
（FuturesEngine，见 futures.py）。条件单走 /fapi/v1/algoOrder（Binance 现行做法，ccxt 4.5 亦然）。
"""

from __future__ import annotations

import secrets

from aiohttp import web

from tradeterm.sandbox import errors, payloads
from tradeterm.sandbox.errors import BinanceError
from tradeterm.sandbox.futures import (FUTURES_TO_INTERNAL, FuturesAccount, FuturesEngine, algo_order_json,
                                       futures_order_json, user_trade_json)
from tradeterm.sandbox.gateway import api_key_account, json_response, sandbox_of, signed_params
from tradeterm.sandbox.market import MarketSpec, decimals
from tradeterm.sandbox.order_params import FUTURES_TIME_IN_FORCE, check_futures_limits, parse_futures_order
from tradeterm.sandbox.params import bounded_limit, integer, required, time_range
from tradeterm.sandbox.public_rest import LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT, add_public_routes

# 合约上线时间（exchangeInfo 的 onboardDate），UTC 毫秒：2019-09-25
ONBOARD_TS = 1_569_398_400_000
# 永续合约的“交割时间”（Binance 用 2100-12-25 表示永续），UTC 毫秒
PERPETUAL_DELIVERY_TS = 4_133_404_800_000
# 维持保证金率（小数）：只用于显示（沙盒不做强平）
MAINT_MARGIN_RATE = 0.005
# 合约的公开端点（/fapi/v1/ 之后的路径；exchangeInfo 是合约自己的，见下）
FUTURES_PUBLIC_PATHS = ("ping", "time", "klines", "depth", "ticker/24hr", "ticker/price", "ticker/bookTicker",
                        "avgPrice")


def futures_engine(request: web.Request) -> FuturesEngine:
    """处理请求的沙盒的合约引擎。"""
    return sandbox_of(request).futures


async def futures_account(request: web.Request) -> tuple[FuturesAccount, dict]:
    """签名端点的鉴权（同现货），返回（合约账户, 参数）。"""
    account, params = await signed_params(request)
    return futures_engine(request).accounts[account.api_key], params


def contract_info(spec: MarketSpec) -> dict:
    """/fapi/v1/exchangeInfo 里一个永续合约的描述。"""
    return {
        "symbol": spec.market_id, "pair": spec.market_id, "contractType": "PERPETUAL",
        "deliveryDate": PERPETUAL_DELIVERY_TS, "onboardDate": ONBOARD_TS, "status": "TRADING",
        "maintMarginPercent": "2.5000", "requiredMarginPercent": "5.0000", "baseAsset": spec.base,
        "quoteAsset": spec.quote, "marginAsset": spec.quote, "pricePrecision": decimals(spec.price_tick),
        "quantityPrecision": decimals(spec.amount_step), "baseAssetPrecision": 8, "quotePrecision": 8,
        "underlyingType": "COIN", "underlyingSubType": [], "triggerProtect": "0.0500", "liquidationFee": "0.012500",
        "marketTakeBound": "0.05", "maxMoveOrderLimit": 10000,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": payloads.num(spec.price_tick),
             "maxPrice": payloads.num(payloads.FUTURES_MAX_PRICE), "tickSize": payloads.num(spec.price_tick)},
            {"filterType": "LOT_SIZE", "minQty": payloads.num(spec.min_amount),
             "maxQty": payloads.num(payloads.max_quantity(spec, payloads.FUTURES_MAX_QTY)),
             "stepSize": payloads.num(spec.amount_step)},
            {"filterType": "MARKET_LOT_SIZE", "minQty": payloads.num(spec.min_amount), "maxQty": "120",
             "stepSize": payloads.num(spec.amount_step)},
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
            {"filterType": "MIN_NOTIONAL", "notional": payloads.num(spec.min_notional)},
        ],
        "orderTypes": list(FUTURES_TO_INTERNAL), "timeInForce": list(FUTURES_TIME_IN_FORCE),
    }


async def exchange_info(request: web.Request) -> web.Response:
    """GET /fapi/v1/exchangeInfo：全部永续合约。"""
    sandbox = sandbox_of(request)
    specs = [m.spec for m in sandbox.futures.markets.values()]
    return json_response({"timezone": "UTC", "serverTime": sandbox.clock.now(), "futuresType": "U_MARGINED",
                          "rateLimits": [], "exchangeFilters": [], "assets": [], "symbols": [contract_info(s)
                                                                                           for s in specs]})


async def premium_index(request: web.Request) -> web.Response:
    """GET /fapi/v1/premiumIndex：标记价（= 最新价）与资金费率（沙盒不收资金费，恒为 0）。"""
    sandbox = sandbox_of(request)
    now = sandbox.clock.now()
    wanted = request.query.get("symbol")
    rows = [{"symbol": m, "markPrice": payloads.num(market.price(now)), "indexPrice": payloads.num(market.price(now)),
             "estimatedSettlePrice": payloads.num(market.price(now)), "lastFundingRate": "0.00000000",
             "interestRate": "0.00000000", "nextFundingTime": (now // 28_800_000 + 1) * 28_800_000, "time": now}
            for m, market in sandbox.futures.markets.items() if wanted in (None, m)]
    if wanted and not rows:
        raise BinanceError(errors.BAD_SYMBOL)
    return json_response(rows[0] if wanted else rows)


def _asset_row(engine: FuturesEngine, account: FuturesAccount, now: int) -> dict:
    """合约账户里 USDT 一项（account 与 balance 端点共用）。"""
    unrealized = engine.unrealized_pnl(account, now)
    position_margin = engine.position_margin(account, now)
    order_margin = engine.order_margin(account, now)
    available = engine.available(account, now)
    return {"asset": "USDT", "walletBalance": payloads.num(account.wallet),
            "unrealizedProfit": payloads.num(unrealized), "marginBalance": payloads.num(account.wallet + unrealized),
            "maintMargin": payloads.num(engine.position_notional(account, now) * MAINT_MARGIN_RATE), "initialMargin": payloads.num(position_margin
                                                                                              + order_margin),
            "positionInitialMargin": payloads.num(position_margin), "openOrderInitialMargin": payloads.num(order_margin),
            "crossWalletBalance": payloads.num(account.wallet), "crossUnPnl": payloads.num(unrealized),
            "availableBalance": payloads.num(available), "maxWithdrawAmount": payloads.num(max(available, 0.0)),
            "balance": payloads.num(account.wallet), "updateTime": now}


def _position_rows(engine: FuturesEngine, account: FuturesAccount, now: int, symbol: str | None,
                   include_flat: bool) -> list[dict]:
    """positionRisk 的行：每个交易对一行（v3 只列有持仓的，v2 列全部）。"""
    rows = []
    for market_id, market in engine.markets.items():
        position = account.position(market.spec)
        if (symbol and market_id != symbol) or (not include_flat and not position.amount):
            continue
        mark = market.price(now)
        leverage = account.leverage_of(market_id)
        rows.append({
            "symbol": market_id, "positionSide": "BOTH", "positionAmt": payloads.num(position.amount),
            "entryPrice": payloads.num(position.entry_price), "breakEvenPrice": payloads.num(position.entry_price),
            "markPrice": payloads.num(mark), "unRealizedProfit": payloads.num(position.unrealized_pnl(mark)),
            "liquidationPrice": "0", "isolatedMargin": "0", "notional": payloads.num(position.amount * mark),
            "marginAsset": "USDT", "isolatedWallet": "0",
            "initialMargin": payloads.num(abs(position.amount) * mark / leverage),
            "maintMargin": payloads.num(abs(position.amount) * mark * MAINT_MARGIN_RATE),
            "positionInitialMargin": payloads.num(abs(position.amount) * mark / leverage),
            "openOrderInitialMargin": "0", "adl": 0, "bidNotional": "0", "askNotional": "0",
            "leverage": str(leverage), "marginType": "cross", "isAutoAddMargin": "false",
            "maxNotionalValue": "1000000000", "updateTime": now})
    return rows


async def account_info(request: web.Request) -> web.Response:
    """GET /fapi/v2|v3/account：合约账户汇总、资产与持仓。"""
    engine = futures_engine(request)
    account, _ = await futures_account(request)
    now = sandbox_of(request).clock.now()
    asset = _asset_row(engine, account, now)
    return json_response({
        "totalInitialMargin": asset["initialMargin"], "totalMaintMargin": asset["maintMargin"],
        "totalWalletBalance": asset["walletBalance"], "totalUnrealizedProfit": asset["unrealizedProfit"],
        "totalMarginBalance": asset["marginBalance"], "totalPositionInitialMargin": asset["positionInitialMargin"],
        "totalOpenOrderInitialMargin": asset["openOrderInitialMargin"],
        "totalCrossWalletBalance": asset["crossWalletBalance"], "totalCrossUnPnl": asset["crossUnPnl"],
        "availableBalance": asset["availableBalance"], "maxWithdrawAmount": asset["maxWithdrawAmount"],
        "assets": [asset], "positions": _position_rows(engine, account, now, None, False)})


async def balance(request: web.Request) -> web.Response:
    """GET /fapi/v2|v3/balance：合约账户各资产余额。"""
    engine = futures_engine(request)
    account, _ = await futures_account(request)
    row = _asset_row(engine, account, sandbox_of(request).clock.now())
    return json_response([{**row, "accountAlias": "sandbox"}])


async def position_risk(request: web.Request) -> web.Response:
    """GET /fapi/v2|v3/positionRisk：持仓（v3 只列有持仓的交易对）。"""
    engine = futures_engine(request)
    account, params = await futures_account(request)
    include_flat = request.path.startswith("/fapi/v2")
    return json_response(_position_rows(engine, account, sandbox_of(request).clock.now(), params.get("symbol"),
                                        include_flat))


async def leverage_bracket(request: web.Request) -> web.Response:
    """GET /fapi/v1/leverageBracket：每个交易对一档（最高 125 倍，维持保证金率 MAINT_MARGIN_RATE）。"""
    engine = futures_engine(request)
    _, params = await futures_account(request)
    wanted = params.get("symbol")
    return json_response([{"symbol": m, "notionalCoef": 1.0, "brackets": [
        {"bracket": 1, "initialLeverage": 125, "notionalCap": 1_000_000_000, "notionalFloor": 0,
         "maintMarginRatio": MAINT_MARGIN_RATE, "cum": 0.0}]} for m in engine.markets if wanted in (None, m)])


async def leverage(request: web.Request) -> web.Response:
    """POST /fapi/v1/leverage：设置某交易对的杠杆。"""
    engine = futures_engine(request)
    account, params = await futures_account(request)
    value = engine.set_leverage(account, required(params, "symbol"), integer(params, "leverage") or 0)
    return json_response({"leverage": value, "maxNotionalValue": "1000000000", "symbol": params["symbol"]})


async def margin_type(request: web.Request) -> web.Response:
    """POST /fapi/v1/marginType：沙盒只有全仓（CROSSED）；设为 CROSSED 返回 -4046，设为 ISOLATED 被拒。"""
    _, params = await futures_account(request)
    if required(params, "marginType").upper() == "CROSSED":
        raise BinanceError((-4046, "No need to change margin type."))
    raise BinanceError((-4047, "Margin type cannot be changed if there exists open orders."))


async def new_order(request: web.Request) -> web.Response:
    """POST /fapi/v1/order：普通合约单（MARKET/LIMIT）。"""
    sandbox = sandbox_of(request)
    account, params = await futures_account(request)
    order_request = parse_futures_order(params, conditional=False)
    check_futures_limits(order_request, sandbox.futures.market(order_request.market_id).spec)
    rejection = sandbox.faults.take_order_rejection()
    if rejection is not None:
        raise BinanceError(rejection)
    order = sandbox.futures.place(account, order_request, sandbox.clock.now())
    return json_response(futures_order_json(order, sandbox.futures.market(order.market_id).spec))


async def new_algo_order(request: web.Request) -> web.Response:
    """POST /fapi/v1/algoOrder：条件单（STOP_MARKET/TAKE_PROFIT_MARKET/STOP/TAKE_PROFIT）。"""
    sandbox = sandbox_of(request)
    account, params = await futures_account(request)
    if (params.get("algoType") or "").upper() != "CONDITIONAL":
        raise BinanceError(errors.missing_param("algoType"))
    order_request = parse_futures_order(params, conditional=True)
    check_futures_limits(order_request, sandbox.futures.market(order_request.market_id).spec)
    rejection = sandbox.faults.take_order_rejection()
    if rejection is not None:
        raise BinanceError(rejection)
    order = sandbox.futures.place(account, order_request, sandbox.clock.now())
    return json_response(algo_order_json(order))


def _find(account: FuturesAccount, params: dict, id_key: str, client_key: str, algo: bool):
    """按编号或客户端编号找本账户的订单；algo 指定找条件单还是普通单。"""
    order_id = integer(params, id_key)
    client_id = params.get(client_key)
    if order_id is None and not client_id:
        raise BinanceError(errors.missing_param(id_key))
    order = account.find_order(order_id, client_id)
    if order is None or (order.type in payloads.CONDITIONAL_TYPES) != algo:
        return None
    if params.get("symbol") and order.market_id != params["symbol"]:
        return None
    return order


async def query_order(request: web.Request) -> web.Response:
    """GET /fapi/v1/order：查询普通合约单；不存在 -2013。"""
    engine = futures_engine(request)
    account, params = await futures_account(request)
    order = _find(account, params, "orderId", "origClientOrderId", algo=False)
    if order is None:
        raise BinanceError(errors.NO_SUCH_ORDER)
    return json_response(futures_order_json(order, engine.market(order.market_id).spec))


async def cancel_order(request: web.Request) -> web.Response:
    """DELETE /fapi/v1/order：撤销普通合约单；不存在或已结束 -2011。"""
    sandbox = sandbox_of(request)
    account, params = await futures_account(request)
    order = sandbox.futures.cancel(account, _find(account, params, "orderId", "origClientOrderId", algo=False),
                                   sandbox.clock.now())
    return json_response(futures_order_json(order, sandbox.futures.market(order.market_id).spec))


async def query_algo_order(request: web.Request) -> web.Response:
    """GET /fapi/v1/algoOrder：查询条件单；不存在 -2013。"""
    account, params = await futures_account(request)
    order = _find(account, params, "algoId", "clientAlgoId", algo=True)
    if order is None:
        raise BinanceError(errors.NO_SUCH_ORDER)
    return json_response(algo_order_json(order))


async def cancel_algo_order(request: web.Request) -> web.Response:
    """DELETE /fapi/v1/algoOrder：撤销条件单；不存在或已结束 -2011。"""
    sandbox = sandbox_of(request)
    account, params = await futures_account(request)
    order = sandbox.futures.cancel(account, _find(account, params, "algoId", "clientAlgoId", algo=True),
                                   sandbox.clock.now())
    return json_response({"algoId": order.order_id, "clientAlgoId": order.client_order_id, "code": "200",
                          "msg": "success"})


def _orders(account: FuturesAccount, params: dict, algo: bool, open_only: bool) -> list:
    """本账户的订单（按交易对、是否条件单、是否只要挂单过滤），按订单号排序。"""
    symbol = params.get("symbol")
    return [o for o in account.orders.values() if (symbol is None or o.market_id == symbol)
            and (o.type in payloads.CONDITIONAL_TYPES) == algo and (o.is_open or not open_only)]


async def open_orders(request: web.Request) -> web.Response:
    """GET /fapi/v1/openOrders：普通挂单。"""
    engine = futures_engine(request)
    account, params = await futures_account(request)
    return json_response([futures_order_json(o, engine.market(o.market_id).spec)
                          for o in _orders(account, params, algo=False, open_only=True)])


async def open_algo_orders(request: web.Request) -> web.Response:
    """GET /fapi/v1/openAlgoOrders：未结束的条件单。"""
    account, params = await futures_account(request)
    return json_response([algo_order_json(o) for o in _orders(account, params, algo=True, open_only=True)])


async def all_orders(request: web.Request) -> web.Response:
    """GET /fapi/v1/allOrders：某交易对的全部普通单。"""
    engine = futures_engine(request)
    account, params = await futures_account(request)
    engine.market(required(params, "symbol"))
    limit = bounded_limit(params, LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT)
    rows = _orders(account, params, algo=False, open_only=False)[:limit]
    return json_response([futures_order_json(o, engine.market(o.market_id).spec) for o in rows])


async def cancel_all(request: web.Request) -> web.Response:
    """DELETE /fapi/v1/allOpenOrders：撤销某交易对的全部普通挂单。"""
    sandbox = sandbox_of(request)
    account, params = await futures_account(request)
    sandbox.futures.market(required(params, "symbol"))
    for order in _orders(account, params, algo=False, open_only=True):
        sandbox.futures.cancel(account, order, sandbox.clock.now())
    return json_response({"code": 200, "msg": "The operation of cancel all open order is done."})


async def user_trades(request: web.Request) -> web.Response:
    """GET /fapi/v1/userTrades：本账户在某交易对的成交（含已实现盈亏）。"""
    engine = futures_engine(request)
    account, params = await futures_account(request)
    market_id = engine.market(required(params, "symbol")).spec.market_id
    start, end = time_range(params)
    limit = bounded_limit(params, LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT)
    rows = [t for t in account.trades if t.market_id == market_id and (start is None or t.ts >= start)
            and (end is None or t.ts <= end)]
    return json_response([user_trade_json(t) for t in rows[:limit]])


async def listen_key(request: web.Request) -> web.Response:
    """POST/PUT/DELETE /fapi/v1/listenKey：合约用户数据流的 listenKey（只需 API key 头）。"""
    sandbox = sandbox_of(request)
    account = sandbox.futures.accounts[api_key_account(request).api_key]
    if request.method == "POST":
        key = secrets.token_hex(32)
        sandbox.listen_keys[key] = account
        return json_response({"listenKey": key})
    if request.method == "PUT":
        key = next((k for k, a in sandbox.listen_keys.items() if a is account), None)
        return json_response({"listenKey": key})
    for key in [k for k, a in sandbox.listen_keys.items() if a is account]:
        sandbox.listen_keys.pop(key)
    return json_response({})


def add_futures_routes(app: web.Application) -> None:
    """把全部合约端点注册到 app。"""
    get, post, delete, put = app.router.add_get, app.router.add_post, app.router.add_delete, app.router.add_put
    add_public_routes(app, "/fapi/v1", FUTURES_PUBLIC_PATHS)
    get("/fapi/v1/exchangeInfo", exchange_info)
    get("/fapi/v1/premiumIndex", premium_index)
    for version in ("v2", "v3"):
        get(f"/fapi/{version}/account", account_info)
        get(f"/fapi/{version}/balance", balance)
        get(f"/fapi/{version}/positionRisk", position_risk)
    post("/fapi/v1/leverage", leverage)
    get("/fapi/v1/leverageBracket", leverage_bracket)
    post("/fapi/v1/marginType", margin_type)
    post("/fapi/v1/order", new_order)
    get("/fapi/v1/order", query_order)
    delete("/fapi/v1/order", cancel_order)
    post("/fapi/v1/algoOrder", new_algo_order)
    get("/fapi/v1/algoOrder", query_algo_order)
    delete("/fapi/v1/algoOrder", cancel_algo_order)
    get("/fapi/v1/openOrders", open_orders)
    get("/fapi/v1/openAlgoOrders", open_algo_orders)
    get("/fapi/v1/allOrders", all_orders)
    delete("/fapi/v1/allOpenOrders", cancel_all)
    get("/fapi/v1/userTrades", user_trades)
    post("/fapi/v1/listenKey", listen_key)
    put("/fapi/v1/listenKey", listen_key)
    delete("/fapi/v1/listenKey", listen_key)
