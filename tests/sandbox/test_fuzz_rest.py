"""沙盒 REST 接口的模糊测试（hypothesis）：生成的请求打在整个模块共用的一个沙盒上。

属性：每个请求的回答要么是 HTTP 2xx + 合法 JSON，要么是 4xx + Binance 的错误 JSON {"code": 负整数, "msg": 文本}；
绝不是 5xx（含 -1000 未知错误）、不是非 JSON 的正文、不会挂住（客户端超时 30 秒，只防挂死，不量速度）。
每个样例之后账户不变量成立：没有负的可用/冻结余额，冻结余额等于各挂单冻结之和，没有价格或数量 <= 0 的挂单。
另一个属性：合法的限价单（现货与合约）照常被接受，并能撤销。
"""

from __future__ import annotations

import math
import time
from urllib.parse import quote, quote_from_bytes

import pytest
from aiohttp import web
from hypothesis import event, given
from hypothesis import strategies as st

from tradeterm.execution.fills import round_amount
from tradeterm.sandbox import payloads
from tradeterm.sandbox.auth import sign
from tradeterm.sandbox.futures_rest import add_futures_routes
from tradeterm.sandbox.market import decimals
from tradeterm.sandbox.rest import add_routes
from tests.sandbox.helpers import raw_call, signed_call

# 本模块的测试都是模糊测试，跑在模块级事件循环里（与 module_sandbox 同一个循环）
pytestmark = [pytest.mark.fuzz, pytest.mark.asyncio(loop_scope="module")]


def rest_routes() -> list[tuple[str, str]]:
    """沙盒的路由表里的全部 REST 端点：(方法, 路径)，不含 aiohttp 自动加的 HEAD。"""
    app = web.Application()
    add_routes(app)
    add_futures_routes(app)
    return sorted({(route.method, route.resource.canonical) for route in app.router.routes()
                   if route.method != "HEAD"})


# 路由表里的 (方法, 路径)
ROUTES = rest_routes()
# 沙盒各端点读取的参数名，外加几个它不认识的
PARAM_NAMES = ["symbol", "symbols", "interval", "startTime", "endTime", "limit", "side", "type", "quantity", "price",
               "stopPrice", "quoteOrderQty", "timeInForce", "newClientOrderId", "newOrderRespType", "orderId",
               "origClientOrderId", "fromId", "listenKey", "leverage", "marginType", "triggerPrice", "algoType",
               "clientAlgoId", "algoId", "reduceOnly", "recvWindow", "timestamp", "signature", "foo", ""]
# 取值样本：合法值、边界值与常见的坏值
SAMPLE_VALUES = [
    "BTCUSDT", "ETHUSDT", "btcusdt", "XRPUSDT", "", "1m", "5m", "1h", "1M", "7x", "BUY", "SELL", "buy", "LIMIT",
    "MARKET", "LIMIT_MAKER", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT", "STOP",
    "STOP_MARKET", "TAKE_PROFIT_MARKET", "GTC", "IOC", "FOK", "GTX", "ACK", "RESULT", "FULL", "true", "false", "null",
    "CONDITIONAL", "CROSSED", "ISOLATED", '["BTCUSDT"]', '["BTCUSDT","ETHUSDT"]', "[]", "[1]", "{}", "[[[[", "0",
    "-0", "0.0", "0.00", "0.01", "1", "20", "125", "126", "500", "1000", "1001", "1500", "1501", "5000", "-1", "NaN",
    "nan", "inf", "-inf", "Infinity", "1e400", "1e-400", "1e5", "99999999999999999999", "9223372036854775807",
    "9223372036854775808", "0.00001", "0.001", "0.1", "20000", "20000.005", "30000.01", "1000000", "4529764",
    "9000", "9000.00001", "\u00e9", "\u4e2d\u6587", "a b", "%", "&", "=",
]
# 一个参数值：文本（按 UTF-8 编码）或原始字节（可能不是合法 UTF-8，按字节百分号编码）
VALUES = st.one_of(
    st.sampled_from(SAMPLE_VALUES),
    st.integers(-10**25, 10**25).map(str),
    st.floats().map(repr),
    st.builds(lambda whole, frac: f"{whole}.{frac}", st.integers(0, 10**6), st.integers(0, 10**9)),
    st.text(max_size=40),
    st.binary(max_size=12),
)
# 约五分之一、十分之一为 True 的布尔值（True 放在最后：hypothesis 偏向最小的取值，整数 0 或第一个样本）
ONE_IN_FIVE, ONE_IN_TEN = st.sampled_from([False] * 4 + [True]), st.sampled_from([False] * 9 + [True])
# 参数名：沙盒认识的或任意文本
NAMES = st.one_of(st.sampled_from(PARAM_NAMES), st.text(max_size=8))


@st.composite
def param_lists(draw) -> list:
    """参数列表：(名, 值) 对，多半不重名（否则几乎全被 -1101 挡在门外），约五分之一重复一个参数；可能缺必填参数。"""
    pairs = draw(st.lists(st.tuples(NAMES, VALUES), max_size=8, unique_by=lambda pair: pair[0]))
    if pairs and draw(ONE_IN_FIVE):
        pairs.append((pairs[0][0], draw(VALUES)))
    return pairs


# 参数列表的策略
PARAMS = param_lists()
# 请求体：没有、表单参数、或任意原始字节（含不合法的 UTF-8）
BODIES = st.one_of(st.none(), PARAMS, st.binary(max_size=64),
                   st.sampled_from([b"\xff\xfe", b"a=\xed\xa0\x80", b"symbol=BTC\xc3USDT"]))
# 签名方式：不签、签在查询串、签在请求体、坏签名、非 ASCII 签名
SIGNING = st.sampled_from(["none", "query", "body", "wrong", "non-ascii"])
# API key 头：演示账户的、没有、不存在的
API_KEYS = st.sampled_from(["demo", None, "nobody"])


def encode(pairs: list[tuple[str, str | bytes]]) -> str:
    """把 (名, 值) 对编成查询串（值为字节时逐字节百分号编码，可以造出不合法的 UTF-8）。"""
    def one(value: str | bytes) -> str:
        """一个名或值的百分号编码。"""
        return quote_from_bytes(value, safe="") if isinstance(value, bytes) else quote(value, safe="")

    return "&".join(f"{one(name)}={one(value)}" for name, value in pairs)


def with_signature(query: str, body: bytes | None, signing: str, secret: str) -> tuple[str, bytes | None]:
    """按 signing 给请求加上 timestamp 与签名（签名覆盖原始查询串 + 请求体，与沙盒、ccxt 的规则相同）。"""
    names = {part.split("=")[0] for part in query.split("&")}
    if signing == "none" or "signature" in names:  # 生成的参数里已有签名：不再加（否则成了重复参数）
        return query, body
    if "timestamp" not in names:
        stamp = f"timestamp={int(time.time() * 1000)}"
        query = f"{query}&{stamp}" if query else stamp
    try:
        text = (body or b"").decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    signature = {"wrong": "0" * 64, "non-ascii": quote("\u00e9\u00e9", safe="")}.get(signing)
    signature = signature or sign(query + text, secret)
    if signing == "body":
        return query, (body or b"") + (b"&" if body else b"") + f"signature={signature}".encode()
    return f"{query}&signature={signature}", body


def assert_binance_answer(status: int, body: object, request: str) -> None:
    """回答是 2xx + JSON，或 4xx + {"code": 负整数, "msg": 文本}；5xx 与 -1000（沙盒的程序错误）都算失败。"""
    event(f"HTTP {status} code {body.get('code') if isinstance(body, dict) else None}")  # 分布见 --hypothesis-show-statistics
    assert status < 500, f"{request} -> HTTP {status} {body}"
    if status >= 400:
        assert isinstance(body, dict) and set(body) == {"code", "msg"}, f"{request} -> {status} {body}"
        assert isinstance(body["code"], int) and body["code"] < 0 and isinstance(body["msg"], str), body
        assert body["code"] != -1000, f"{request} -> {body}"
    else:
        assert 200 <= status < 300, f"{request} -> HTTP {status}"


def assert_order_sane(order) -> None:
    """一张挂单的数量为正且有限；带限价的类型价格为正且有限；条件单触发价为正且有限。"""
    assert math.isfinite(order.amount) and order.amount > 0 and order.remaining > 0, order
    if order.type in payloads.PRICED_TYPES:
        assert math.isfinite(order.price) and order.price > 0, order
    if order.type in payloads.CONDITIONAL_TYPES:
        assert math.isfinite(order.stop_price) and order.stop_price > 0, order


def assert_invariants(sandbox) -> None:
    """账户不变量：现货余额非负且有限、冻结余额等于各挂单冻结之和；现货与合约都没有坏挂单；合约钱包有限。"""
    for account in sandbox.engine.accounts.values():
        open_orders = [o for o in account.orders.values() if o.is_open]
        for asset in set(account.free) | set(account.locked):
            free, locked = account.balance(asset)
            assert math.isfinite(free) and free >= 0 and math.isfinite(locked) and locked >= 0, (asset, free, locked)
            reserved = sum(o.locked for o in open_orders if o.locked_asset == asset)
            assert locked == pytest.approx(reserved, rel=1e-9, abs=1e-9), (asset, locked, reserved)
        for order in open_orders:
            assert_order_sane(order)
    for account in sandbox.futures.accounts.values():
        assert math.isfinite(account.wallet)
        for order in account.orders.values():
            if order.is_open:
                assert_order_sane(order)


@given(route=st.sampled_from(ROUTES), params=PARAMS, body=BODIES, signing=SIGNING, api_key=API_KEYS)
async def test_any_request_gets_json_or_a_binance_error(module_sandbox, route, params, body, signing, api_key):
    """任意（多半是坏的）请求：2xx + JSON 或 4xx + Binance 错误 JSON，绝不 5xx；之后账户不变量成立。"""
    sandbox = module_sandbox
    method, path = route
    raw_body = encode(body).encode() if isinstance(body, list) else body
    query, raw_body = with_signature(encode(params), raw_body, signing, sandbox.secret)
    key = sandbox.api_key if api_key == "demo" else api_key
    status, answer = await raw_call(sandbox, method, path, query, raw_body, api_key=key)
    assert_binance_answer(status, answer, f"{method} {path}?{query[:300]} body={raw_body!r:.300}")
    assert_invariants(sandbox)


# 各端点的一个合法请求（变异的起点）：(方法, 路径) -> 参数
TEMPLATES = {
    ("POST", "/api/v3/order"): {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                                "quantity": "0.001", "price": "20000", "newClientOrderId": "fuzz1"},
    ("POST", "/api/v3/order/test"): {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.001",
                                     "quoteOrderQty": "50"},
    ("POST", "/fapi/v1/order"): {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                                 "quantity": "0.01", "price": "20000", "reduceOnly": "false"},
    ("POST", "/fapi/v1/algoOrder"): {"symbol": "BTCUSDT", "side": "SELL", "type": "STOP_MARKET",
                                     "algoType": "CONDITIONAL", "quantity": "0.01", "triggerPrice": "15000"},
    ("GET", "/api/v3/klines"): {"symbol": "BTCUSDT", "interval": "1m", "startTime": "1600000000000",
                                "endTime": "1900000000000", "limit": "5"},
    ("GET", "/fapi/v1/klines"): {"symbol": "ETHUSDT", "interval": "5m", "limit": "1500"},
    ("GET", "/api/v3/myTrades"): {"symbol": "BTCUSDT", "startTime": "0", "fromId": "1", "limit": "5"},
    ("GET", "/api/v3/allOrders"): {"symbol": "BTCUSDT", "orderId": "1", "limit": "5"},
    ("DELETE", "/api/v3/order"): {"symbol": "BTCUSDT", "orderId": "1"},
    ("POST", "/fapi/v1/leverage"): {"symbol": "BTCUSDT", "leverage": "20"},
    ("GET", "/api/v3/ticker/price"): {"symbols": '["BTCUSDT","ETHUSDT"]'},
    ("GET", "/api/v3/depth"): {"symbol": "BTCUSDT", "limit": "5"},
}


@st.composite
def mutated_requests(draw) -> tuple[tuple[str, str], list]:
    """从 TEMPLATES 里的一个合法请求出发：每个参数保留、换成生成的值或去掉，再可能加几个参数、打乱顺序。"""
    route = draw(st.sampled_from(sorted(TEMPLATES)))
    pairs: list = []
    for name, value in TEMPLATES[route].items():
        action = draw(st.sampled_from(["keep", "keep", "keep", "replace", "drop"]))
        if action != "drop":
            pairs.append((name, value if action == "keep" else draw(VALUES)))
    known = {name for name, _ in pairs} | {"timestamp", "signature"}  # 这两个由 with_signature 加
    pairs += draw(st.lists(st.tuples(st.sampled_from([n for n in PARAM_NAMES if n not in known]), VALUES),
                           max_size=2, unique_by=lambda pair: pair[0]))
    if draw(ONE_IN_TEN):  # 偶尔重复一个参数（-1101）
        pairs.append(draw(st.sampled_from(pairs or [("symbol", "BTCUSDT")])))
    return route, draw(st.permutations(pairs))


@given(request=mutated_requests(), signing=st.sampled_from(["query", "query", "body", "none"]))
async def test_mutated_valid_requests_get_json_or_a_binance_error(module_sandbox, request, signing):
    """合法请求的变异（深入到下单、K 线、成交查询的参数校验与撮合）：同样的回答规则与账户不变量。"""
    sandbox = module_sandbox
    (method, path), params = request
    if signing == "body":  # 参数与签名在请求体里（timestamp 在查询串里，签名覆盖两者）
        query, body = with_signature("", encode(params).encode(), signing, sandbox.secret)
    else:
        query, body = with_signature(encode(params), None, signing, sandbox.secret)
    status, answer = await raw_call(sandbox, method, path, query, body, api_key=sandbox.api_key)
    assert_binance_answer(status, answer, f"{method} {path}?{query[:300]} body={body!r:.300}")
    assert_invariants(sandbox)


# 合法限价单属性测试用的账户：API key、密钥与初始余额（现货有 USDT 也有币，可以买也可以卖）
VALID_KEY, VALID_SECRET = "fuzz-valid-orders", "fuzz-valid-secret"
# 合法限价单账户的初始现货余额
VALID_BALANCES = {"USDT": 1_000_000.0, "BTC": 50.0, "ETH": 500.0}


@given(product=st.sampled_from(["spot", "futures"]), symbol=st.sampled_from(["BTCUSDT", "ETHUSDT"]),
       side=st.sampled_from(["BUY", "SELL"]), offset_bps=st.integers(20, 2_000), extra_steps=st.integers(0, 400),
       in_body=st.booleans())
async def test_valid_limit_orders_are_accepted_and_can_be_cancelled(module_sandbox, product, symbol, side,
                                                                     offset_bps, extra_steps, in_body):
    """不穿价的合法限价单（价格在网格上、数量在步长上且名义金额达标）：HTTP 200 并挂上（或行情已走到而成交），
    能撤销（或撤时已成交：-2011）；之后账户不变量成立。"""
    sandbox = module_sandbox
    if VALID_KEY not in sandbox.engine.accounts:
        sandbox.add_account(VALID_KEY, VALID_SECRET, dict(VALID_BALANCES))
    engine = sandbox.engine if product == "spot" else sandbox.futures
    spec = engine.markets[symbol].spec
    current = engine.markets[symbol].price(sandbox.clock.now())
    factor = 1 - offset_bps / 10_000 if side == "BUY" else 1 + offset_bps / 10_000
    price = round(current * factor / spec.price_tick) * spec.price_tick
    min_steps = math.ceil(spec.min_notional * 1.01 / (price * spec.amount_step))
    quantity = round_amount((max(min_steps, round(spec.min_amount / spec.amount_step)) + extra_steps)
                            * spec.amount_step, spec.amount_step)
    order = {"symbol": symbol, "side": side, "type": "LIMIT", "timeInForce": "GTC",
             "quantity": f"{quantity:.{decimals(spec.amount_step)}f}",
             "price": f"{price:.{decimals(spec.price_tick)}f}"}
    base = "/api/v3" if product == "spot" else "/fapi/v1"
    status, body = await signed_call(sandbox, "POST", f"{base}/order", order, in_body, VALID_KEY, VALID_SECRET)
    assert status == 200 and body["status"] in ("NEW", "PARTIALLY_FILLED", "FILLED"), (order, body)
    cancel = {"symbol": symbol, "orderId": str(body["orderId"])}
    status, body = await signed_call(sandbox, "DELETE", f"{base}/order", cancel, False, VALID_KEY, VALID_SECRET)
    assert (status == 200 and body["status"] == "CANCELED") or (status == 400 and body["code"] == -2011), body
    assert_invariants(sandbox)
