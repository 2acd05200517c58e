"""沙盒的公开行情端点（不需签名）：现货 /api/v3/... 与合约 /fapi/v1/... 共用同一批处理函数（同一条行情序列）。

参数规则同 Binance：symbols 必须是交易对 id 的 JSON 数组（否则 -1100），不能与 symbol 同时给出（-1128）；
K 线的 startTime 不能大于 endTime（-1023），limit 必须在 1..1000（合约 1..1500）之内（-1130）。
"""

from __future__ import annotations

from aiohttp import web

from tradeterm.config.markets import TIMEFRAME_MS
from tradeterm.sandbox import errors, payloads
from tradeterm.sandbox.errors import BinanceError
from tradeterm.sandbox.gateway import json_response, sandbox_of
from tradeterm.sandbox.params import bounded_limit, required, strict_limit, symbol_list, time_range

# klines 的默认根数
KLINES_DEFAULT_LIMIT = 500
# klines 的最大根数：现货
KLINES_MAX_LIMIT = 1000
# klines 的最大根数：USD-M 合约（/fapi/...）
FUTURES_KLINES_MAX_LIMIT = 1500
# depth 的默认与最大档数
DEPTH_DEFAULT_LIMIT, DEPTH_MAX_LIMIT = 100, 5000
# myTrades / allOrders / trades 的默认与最大条数
LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT = 500, 1000


async def ping(request: web.Request) -> web.Response:
    """GET /api/v3/ping：连通性测试。"""
    return json_response({})


async def server_time(request: web.Request) -> web.Response:
    """GET /api/v3/time：交易所时间 = 行情的模拟时钟（倍速回放时跑在墙上时间前面）。"""
    return json_response({"serverTime": sandbox_of(request).clock.now()})


def is_futures(request: web.Request) -> bool:
    """请求是不是发给 USD-M 合约的（/fapi/...）：同一批处理函数按它给出合约的字段形状。"""
    return request.path.startswith("/fapi/")


def _wanted_markets(request: web.Request) -> tuple[list, bool]:
    """symbol（单个）、symbols（数组）或全部要返回的交易对的行情；第二项表示是否只要了单个 symbol。"""
    engine = sandbox_of(request).engine
    wanted = symbol_list(request.query)
    if wanted is not None:
        return [engine.market(m) for m in wanted], False
    if "symbol" in request.query:
        return [engine.market(request.query["symbol"])], True
    return list(engine.markets.values()), False


async def exchange_info(request: web.Request) -> web.Response:
    """GET /api/v3/exchangeInfo：全部（或 symbol/symbols 指定的）交易对及其过滤器。"""
    markets, _ = _wanted_markets(request)
    return json_response(payloads.exchange_info([m.spec for m in markets], sandbox_of(request).clock.now()))


async def klines(request: web.Request) -> web.Response:
    """GET /api/v3/klines（与 uiKlines、/fapi/v1/klines）：startTime/endTime/limit 语义同 Binance，含正在走的 K 线。"""
    sandbox = sandbox_of(request)
    params = request.query
    market = sandbox.engine.market(required(params, "symbol"))
    interval = required(params, "interval")
    if interval not in TIMEFRAME_MS or interval == "1M":
        raise BinanceError(errors.BAD_INTERVAL)
    maximum = FUTURES_KLINES_MAX_LIMIT if is_futures(request) else KLINES_MAX_LIMIT
    limit = strict_limit(params, KLINES_DEFAULT_LIMIT, maximum)
    start, end = time_range(params)
    hidden = sandbox.faults.hidden_klines
    # 有缺口时多取一些再剔除，使返回的仍是 limit 根存在的 K 线（与 Binance 一致：缺的 K 线不占名额）
    extra = sum((stop - begin) // TIMEFRAME_MS[interval] + 1 for begin, stop in hidden)
    rows = market.klines(sandbox.clock.now(), TIMEFRAME_MS[interval], start, end, limit + extra)
    rows = [row for row in rows if not sandbox.faults.is_hidden(row[0])]
    return json_response(rows[:limit] if start is not None else rows[-limit:])


async def depth(request: web.Request) -> web.Response:
    """GET /api/v3/depth：合成盘口。"""
    sandbox = sandbox_of(request)
    market = sandbox.engine.market(required(request.query, "symbol"))
    limit = bounded_limit(request.query, DEPTH_DEFAULT_LIMIT, DEPTH_MAX_LIMIT)
    return json_response(market.order_book(sandbox.clock.now(), limit))


async def ticker_24hr(request: web.Request) -> web.Response:
    """GET /api/v3/ticker/24hr（与 /fapi/v1/ticker/24hr）：滚动 24 小时统计（单个为对象，多个为数组）。

    现货带最优买卖价与挂单量；合约与 Binance 一样不带（买卖价见 bookTicker）。"""
    now = sandbox_of(request).clock.now()
    markets, single = _wanted_markets(request)
    rows = [m.ticker(now) for m in markets]
    if is_futures(request):
        rows = [payloads.futures_ticker(row) for row in rows]
    return json_response(rows[0] if single else rows)


async def ticker_price(request: web.Request) -> web.Response:
    """GET /api/v3/ticker/price：最新价。"""
    now = sandbox_of(request).clock.now()
    markets, single = _wanted_markets(request)
    rows = [{"symbol": m.spec.market_id, "price": payloads.num(m.price(now))} for m in markets]
    return json_response(rows[0] if single else rows)


async def book_ticker(request: web.Request) -> web.Response:
    """GET /api/v3/ticker/bookTicker（与 /fapi/v1/ticker/bookTicker）：最优买卖价与挂单量（= 合成盘口第一档）。"""
    now = sandbox_of(request).clock.now()
    markets, single = _wanted_markets(request)
    rows = [payloads.book_ticker_json(m.spec.market_id, m.book_top(now), now, is_futures(request)) for m in markets]
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


def add_public_routes(app: web.Application, prefix: str, paths: tuple[str, ...]) -> None:
    """把 paths 里列出的公开端点注册到 prefix（/api/v3 或 /fapi/v1）下。"""
    handlers = {"ping": ping, "time": server_time, "exchangeInfo": exchange_info, "klines": klines,
                "uiKlines": klines, "depth": depth, "ticker/24hr": ticker_24hr, "ticker/price": ticker_price,
                "ticker/bookTicker": book_ticker, "trades": recent_trades, "avgPrice": avg_price}
    for path in paths:
        app.router.add_get(f"{prefix}/{path}", handlers[path])
