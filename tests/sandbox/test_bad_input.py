"""沙盒对坏输入的回答（issue 19 的复现）：每个都是真实 HTTP 请求，断言 Binance 的错误 JSON，绝不 500。

全部测试共用模块级的一个沙盒（module_sandbox，跑在模块级事件循环里）：被拒的请求不应改变任何状态，
所以各测试比较请求前后的订单数与余额，而不是要求一个全新的账户。
"""

from __future__ import annotations

import logging
from urllib.parse import quote

import aiohttp
import ccxt
import pytest
import pytest_asyncio

from tradeterm.sandbox import errors
from tradeterm.sandbox.auth import sign
from tests.sandbox.helpers import RAW_TIMEOUT_S, raw_call, signed_call

# symbols 参数的 -1100 错误
BAD_SYMBOLS = errors.illegal_param("symbols", errors.SYMBOLS_RANGE)
# 接受 symbol/symbols 的公开端点
SYMBOLS_ENDPOINTS = ["/api/v3/ticker/price", "/api/v3/ticker/24hr", "/api/v3/ticker/bookTicker",
                     "/api/v3/exchangeInfo", "/fapi/v1/ticker/price", "/fapi/v1/ticker/24hr",
                     "/fapi/v1/ticker/bookTicker"]
# 现货 PRICE_FILTER / LOT_SIZE / NOTIONAL 过滤器失败
PRICE_FILTER, LOT_SIZE, NOTIONAL = (errors.filter_failure(name) for name in ("PRICE_FILTER", "LOT_SIZE", "NOTIONAL"))


# 本模块的测试都跑在模块级事件循环里（与 module_sandbox 同一个循环）
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture
def sandbox(module_sandbox):
    """本模块共用的沙盒（见 conftest 的 module_sandbox）。"""
    return module_sandbox


@pytest_asyncio.fixture(loop_scope="module")
async def exchange(module_sandbox):
    """指向共用沙盒的 ccxt.async_support.binance（已加载市场），每个测试一个。"""
    client = module_sandbox.client(timeout_ms=30_000)
    await client.load_markets()
    yield client
    await client.close()


def state(sandbox) -> tuple:
    """账户状态的快照：现货订单数、合约订单数、现货 USDT（可用, 冻结）、合约钱包。"""
    futures = sandbox.futures.accounts[sandbox.api_key]
    return len(sandbox.account().orders), len(futures.orders), sandbox.account().balance("USDT"), futures.wallet


def body_of(error: tuple[int, str]) -> dict:
    """(错误码, 消息) 对应的响应正文。"""
    return {"code": error[0], "msg": error[1]}


def limit_price(sandbox, factor: float) -> str:
    """BTC/USDT 当前价乘 factor、落在 0.01 的价格网格上的限价文本。"""
    return f"{sandbox.market('BTC/USDT').price(sandbox.clock.now()) * factor:.2f}"


@pytest.mark.parametrize("path", SYMBOLS_ENDPOINTS)
@pytest.mark.parametrize("value", ["123", "null", "true", "[1,2]", "[", '{"a":1}', '["BTCUSDT",]', "\udcff",
                                   '["btc usdt"]', pytest.param("[" * 2000, id="2000-deep")])
async def test_malformed_symbols_is_minus_1100_not_500(sandbox, path, value):
    """symbols 不是交易对 id 的 JSON 数组（数字、null、true、坏 JSON、非法字符、极深嵌套 ...）：HTTP 400 + -1100（以前是 500）。"""
    encoded = "%FF" if value == "\udcff" else quote(value, safe="")  # \udcff 代表一个不是 UTF-8 的字节
    status, body = await raw_call(sandbox, "GET", path, f"symbols={encoded}")
    assert (status, body) == (400, body_of(BAD_SYMBOLS))


@pytest.mark.parametrize("path", SYMBOLS_ENDPOINTS)
async def test_symbols_empty_unknown_combined_and_valid(sandbox, path):
    """symbols=[] -> -1102；含未知交易对 -> -1121；与 symbol 同时给出 -> -1128；合法数组照常返回那几个交易对。"""
    def symbols(value: str) -> str:
        """symbols=value 的已编码查询串。"""
        return f"symbols={quote(value, safe='')}"

    assert await raw_call(sandbox, "GET", path, symbols("[]")) == (400, body_of(errors.missing_param("symbols")))
    assert await raw_call(sandbox, "GET", path, symbols('["NOPEUSDT"]')) == (400, body_of(errors.BAD_SYMBOL))
    assert await raw_call(sandbox, "GET", path, "symbol=BTCUSDT&" + symbols('["BTCUSDT"]')) == (
        400, body_of(errors.BAD_COMBINATION))
    status, body = await raw_call(sandbox, "GET", path, symbols('["ETHUSDT"]'))
    rows = body["symbols"] if path.endswith("exchangeInfo") else body
    assert status == 200 and [row["symbol"] for row in rows] == ["ETHUSDT"]


async def test_ccxt_fetch_tickers_with_symbols_still_works(exchange):
    """ccxt 的 fetch_tickers(symbols) 发的 symbols 参数仍被接受。"""
    tickers = await exchange.fetch_tickers(["BTC/USDT", "ETH/USDT"])
    assert set(tickers) == {"BTC/USDT", "ETH/USDT"}


@pytest.mark.parametrize("signature", ["%C3%A9", "%FF", "abc", "%E4%B8%AD%E6%96%87"])
@pytest.mark.parametrize("in_body", [False, True], ids=["query", "body"])
async def test_non_ascii_or_wrong_signature_is_minus_1022(sandbox, signature, in_body):
    """签名含非 ASCII 字符（查询串或请求体里）：-1022 签名不对（以前 compare_digest 抛 TypeError -> 500）。"""
    payload = f"timestamp={sandbox.clock.now()}&signature={signature}"
    if in_body:
        result = await raw_call(sandbox, "POST", "/api/v3/order", body=payload.encode(), api_key=sandbox.api_key)
    else:
        result = await raw_call(sandbox, "GET", "/api/v3/account", payload, api_key=sandbox.api_key)
    assert result == (400, body_of(errors.BAD_SIGNATURE))


@pytest.mark.parametrize(("method", "path"), [("POST", "/api/v3/order"), ("POST", "/fapi/v1/order"),
                                              ("DELETE", "/api/v3/userDataStream"), ("GET", "/api/v3/account")])
@pytest.mark.parametrize("body", [b"\xff\xfe", b"symbol=BTC\xc3USDT&timestamp=1", b"a=\xed\xa0\x80"])
async def test_body_of_invalid_utf8_is_minus_1100(sandbox, method, path, body):
    """请求体不是合法 UTF-8：-1100 "Illegal characters found in a parameter."（以前 UnicodeDecodeError -> 500）。"""
    assert await raw_call(sandbox, method, path, body=body, api_key=sandbox.api_key) == (
        400, body_of(errors.ILLEGAL_CHARS))


async def test_duplicate_parameter_is_minus_1101(sandbox):
    """同一参数出现两次（公开端点的查询串、签名端点的请求体）：-1101。"""
    assert await raw_call(sandbox, "GET", "/api/v3/klines", "symbol=BTCUSDT&interval=1m&limit=2&limit=3") == (
        400, body_of(errors.DUPLICATE_PARAM))
    body = b"symbol=BTCUSDT&symbol=ETHUSDT&timestamp=1&signature=00"
    assert await raw_call(sandbox, "POST", "/api/v3/order", body=body, api_key=sandbox.api_key) == (
        400, body_of(errors.DUPLICATE_PARAM))


@pytest.mark.parametrize(("price", "error"), [
    ("0", PRICE_FILTER), ("0.00", PRICE_FILTER), ("0.001", PRICE_FILTER), ("1000000.01", PRICE_FILTER),
    ("99999999999999999999", PRICE_FILTER), ("-0", errors.illegal_param("price")),
    ("-1", errors.illegal_param("price")), ("NaN", errors.illegal_param("price")),
    ("inf", errors.illegal_param("price")), ("1e5", errors.illegal_param("price")),
    ("123456789012345678901", errors.illegal_param("price")), (" 20000", errors.illegal_param("price")),
])
async def test_spot_limit_buy_with_a_bad_price_is_refused_and_reserves_nothing(sandbox, price, error):
    """LIMIT BUY 的价格为 0、-0、负数、NaN、inf、超出 maxPrice 或不是十进制数：被拒，不挂单、不冻结
    （以前 price=0 被接受并挂着，一分钱不冻结）。"""
    order = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.001",
             "price": price}
    before = state(sandbox)
    assert await signed_call(sandbox, "POST", "/api/v3/order", order) == (400, body_of(error))
    assert state(sandbox) == before


@pytest.mark.parametrize(("quantity", "error"), [
    ("0", LOT_SIZE), ("0.000001", LOT_SIZE), ("9000.00001", LOT_SIZE), ("99999999999999999999", LOT_SIZE),
    ("0.00001", NOTIONAL), ("-0.001", errors.illegal_param("quantity")), ("nan", errors.illegal_param("quantity")),
    ("Infinity", errors.illegal_param("quantity")), ("1e-3", errors.illegal_param("quantity")),
])
async def test_spot_bad_quantity_is_refused(sandbox, quantity, error):
    """数量为 0、不在步长上、超过 maxQty 9000、名义金额不足 5 USDT、负数、NaN、inf、指数形式：各自的 Binance 错误。"""
    order = {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC", "quantity": quantity,
             "price": limit_price(sandbox, 1.1)}
    before = state(sandbox)
    assert await signed_call(sandbox, "POST", "/api/v3/order", order, in_body=True) == (400, body_of(error))
    assert state(sandbox) == before


@pytest.mark.parametrize(("quote", "error"), [("99999999999999999999", LOT_SIZE), ("inf", None), ("1e400", None),
                                              ("1", NOTIONAL)])
async def test_spot_market_buy_by_bad_quote_amount_is_refused(sandbox, quote, error):
    """按金额的市价买单，quoteOrderQty 大到无法取整、inf、1e400、低于最小名义金额：被拒（不再溢出成负数量）。"""
    order = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quoteOrderQty": quote}
    expected = error or errors.illegal_param("quoteOrderQty")
    before = state(sandbox)
    assert await signed_call(sandbox, "POST", "/api/v3/order", order) == (400, body_of(expected))
    assert state(sandbox) == before


async def test_spot_huge_limit_notional_and_stop_price_are_refused(sandbox):
    """名义金额超过 maxNotional 9,000,000 -> NOTIONAL；止损限价单的触发价为 0 -> PRICE_FILTER。"""
    order = {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC", "quantity": "8999",
             "price": "1000000"}
    assert await signed_call(sandbox, "POST", "/api/v3/order", order) == (400, body_of(NOTIONAL))
    stop = {"symbol": "BTCUSDT", "side": "SELL", "type": "STOP_LOSS_LIMIT", "timeInForce": "GTC",
            "quantity": "0.001", "price": limit_price(sandbox, 0.9), "stopPrice": "0"}
    assert await signed_call(sandbox, "POST", "/api/v3/order", stop) == (400, body_of(PRICE_FILTER))


async def test_ccxt_limit_buy_at_price_zero_raises_invalid_order(exchange, sandbox):
    """经原版 ccxt 签名发出 0 价限价买单（create_order 在客户端就拦下 0 价，这里绕过它）：ccxt 抛 InvalidOrder
    （PRICE_FILTER），账户里没有挂单。"""
    order = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.001",
             "price": "0"}
    before = state(sandbox)
    with pytest.raises(ccxt.InvalidOrder, match="PRICE_FILTER"):
        await exchange.private_post_order(order)
    assert state(sandbox) == before


async def test_spot_valid_limit_order_still_rests_and_reserves(sandbox):
    """合法的 LIMIT BUY 照常挂单并冻结 价格 × 数量 × (1 + taker 费率)。"""
    price = limit_price(sandbox, 0.9)
    order = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.001",
             "price": price}
    locked = sandbox.account().balance("USDT")[1]
    status, body = await signed_call(sandbox, "POST", "/api/v3/order", order)
    assert status == 200 and body["status"] == "NEW"
    assert sandbox.account().balance("USDT")[1] - locked == pytest.approx(float(price) * 0.001 * 1.001)
    cancel = {"symbol": "BTCUSDT", "orderId": str(body["orderId"])}
    assert (await signed_call(sandbox, "DELETE", "/api/v3/order", cancel))[1]["status"] == "CANCELED"
    assert sandbox.account().balance("USDT")[1] == pytest.approx(locked)


@pytest.mark.parametrize(("field", "value", "error"), [
    ("price", "0", errors.FUTURES_PRICE_BELOW_MIN), ("price", "0.001", errors.FUTURES_PRICE_BELOW_MIN),
    ("price", "-0", errors.illegal_param("price")), ("price", "NaN", errors.illegal_param("price")),
    ("price", "4529764.01", errors.FUTURES_PRICE_ABOVE_MAX), ("price", "20000.005", PRICE_FILTER),
    ("quantity", "0", (-4003, "Quantity less than or equal to zero.")), ("quantity", "-1", errors.illegal_param("quantity")),
    ("quantity", "1000.001", errors.FUTURES_QTY_ABOVE_MAX), ("quantity", "0.0015", LOT_SIZE),
    ("quantity", "inf", errors.illegal_param("quantity")),
])
async def test_futures_bad_price_or_quantity_is_refused(sandbox, field, value, error):
    """合约 LIMIT 单的价格/数量为 0、-0、NaN、inf、超出上限、不在网格上：Binance USD-M 的错误码，不挂单。"""
    order = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01",
             "price": limit_price(sandbox, 0.9), field: value}
    before = state(sandbox)
    assert await signed_call(sandbox, "POST", "/fapi/v1/order", order) == (400, body_of(error))
    assert state(sandbox) == before


async def test_futures_trigger_price_above_max_is_refused(sandbox):
    """合约条件单的触发价超过 maxPrice：-4007。"""
    order = {"symbol": "BTCUSDT", "side": "SELL", "type": "STOP_MARKET", "algoType": "CONDITIONAL",
             "quantity": "0.01", "triggerPrice": "4529765"}
    assert await signed_call(sandbox, "POST", "/fapi/v1/algoOrder", order) == (400, body_of(errors.FUTURES_STOP_ABOVE_MAX))


@pytest.mark.parametrize("path", ["/api/v3/klines", "/fapi/v1/klines"])
async def test_klines_start_after_end_is_minus_1023(sandbox, path):
    """startTime > endTime：-1023 "Start time is greater than end time."（以前返回 []）。"""
    query = "symbol=BTCUSDT&interval=1m&startTime=1700000060000&endTime=1700000000000"
    assert await raw_call(sandbox, "GET", path, query) == (400, body_of(errors.START_AFTER_END))


@pytest.mark.parametrize(("path", "query", "error"), [
    ("/api/v3/klines", "limit=0", errors.invalid_param("limit")),
    ("/api/v3/klines", "limit=1001", errors.invalid_param("limit")),
    ("/fapi/v1/klines", "limit=1501", errors.invalid_param("limit")),
    ("/api/v3/klines", "limit=-1", errors.illegal_param("limit", errors.INTEGER_RANGE)),
    ("/api/v3/klines", "limit=1.5", errors.illegal_param("limit", errors.INTEGER_RANGE)),
    ("/api/v3/klines", "startTime=abc", errors.illegal_param("startTime", errors.INTEGER_RANGE)),
    ("/api/v3/klines", "startTime=1e12", errors.illegal_param("startTime", errors.INTEGER_RANGE)),
    ("/api/v3/klines", "endTime=-5", errors.illegal_param("endTime", errors.INTEGER_RANGE)),
    ("/api/v3/klines", "startTime=99999999999999999999", errors.invalid_param("startTime")),
])
async def test_klines_bad_limit_or_time_is_refused(sandbox, path, query, error):
    """limit 为 0、负数、小数或超过 1000（合约 1500）；startTime/endTime 不是非负整数或超出 64 位：Binance 的错误。"""
    assert await raw_call(sandbox, "GET", path, f"symbol=BTCUSDT&interval=1m&{query}") == (400, body_of(error))


async def test_futures_klines_accept_up_to_1500(sandbox):
    """合约 K 线的 limit 上限是 1500（现货 1000）。"""
    status, rows = await raw_call(sandbox, "GET", "/fapi/v1/klines", "symbol=BTCUSDT&interval=1m&limit=1500")
    assert status == 200 and len(rows) == 1500


@pytest.mark.parametrize(("query", "name"), [("timestamp=abc", "timestamp"), ("timestamp=-1", "timestamp"),
                                             ("timestamp=1.5e12", "timestamp"), ("recvWindow=-1&timestamp=1", "recvWindow")])
async def test_bad_timestamp_or_recv_window_is_minus_1100(sandbox, query, name):
    """timestamp/recvWindow 不是非负整数（签名本身是对的）：-1100，消息里带参数名与合法取值。"""
    signed = f"{query}&signature={sign(query, sandbox.secret)}"
    assert await raw_call(sandbox, "GET", "/api/v3/account", signed, api_key=sandbox.api_key) == (
        400, body_of(errors.illegal_param(name, errors.INTEGER_RANGE)))


@pytest.mark.parametrize("client_id", ["caf\u00e9", "x" * 37, "a b", "%FF"])
async def test_bad_client_order_id_is_minus_1100(sandbox, client_id):
    """newClientOrderId 含非 ASCII、空格或超过 36 个字符：-1100（不会把这种文本写进订单与状态文件）。"""
    order = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.001",
             "price": limit_price(sandbox, 0.9), "newClientOrderId": client_id}
    assert await signed_call(sandbox, "POST", "/api/v3/order", order) == (
        400, body_of(errors.illegal_param("newClientOrderId", errors.CLIENT_ID_RANGE)))


async def test_internal_bug_becomes_logged_minus_1000_and_the_server_keeps_serving(sandbox, monkeypatch, caplog):
    """处理函数里的程序错误（这里人为注入）：HTTP 500 + {"code": -1000, ...}，堆栈记入日志；之后的请求照常回答。"""
    def broken(now):
        """模拟一个程序错误。"""
        raise RuntimeError("injected bug")

    monkeypatch.setattr(sandbox.market("BTC/USDT"), "ticker", broken)
    with caplog.at_level(logging.ERROR, logger="tradeterm.sandbox.gateway"):
        result = await raw_call(sandbox, "GET", "/api/v3/ticker/24hr", "symbol=BTCUSDT")
    assert result == (500, body_of(errors.UNKNOWN_ERROR))
    assert any("injected bug" in (r.exc_text or "") or r.exc_info for r in caplog.records)
    assert await raw_call(sandbox, "GET", "/api/v3/ping") == (200, {})


async def test_ws_api_non_ascii_signature_is_minus_1022(sandbox):
    """websocket API 的用户数据订阅，签名含非 ASCII 字符：回答 -1022，连接不断。"""
    request = {"id": 1, "method": "userDataStream.subscribe.signature",
               "params": {"apiKey": sandbox.api_key, "timestamp": sandbox.clock.now(), "signature": "\u00e9"}}
    timeout = aiohttp.ClientTimeout(total=RAW_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as session, \
            session.ws_connect(f"ws://127.0.0.1:{sandbox.port}/ws-api/v3") as ws:
        await ws.send_json(request)
        reply = await ws.receive_json()
        assert reply["error"] == body_of(errors.BAD_SIGNATURE)
        await ws.send_json({"id": 2, "method": "ping"})
        assert (await ws.receive_json())["status"] == 200
