"""下单参数：把现货（/api/v3/order）与合约（/fapi/v1/order、algoOrder）的请求参数解析成 OrderRequest，
并检查交易对信息里公布的上限（最大价格、最大数量、最大名义金额）。

数字参数只接受 Binance 的十进制形式（见 params.number），所以负数、`-0`、NaN、inf 在这里就以 -1100 拒绝；
下限与网格（价格 >= 一个价格步长且在网格上、数量在步长网格上且不小于最小值、名义金额不低于最小值）由撮合引擎检查
（MatchingEngine._check_filters，现货与合约共用）。
"""

from __future__ import annotations

import secrets

from tradeterm.sandbox import errors, payloads
from tradeterm.sandbox.errors import BinanceError
from tradeterm.sandbox.futures import FUTURES_TO_INTERNAL
from tradeterm.sandbox.market import MarketSpec
from tradeterm.sandbox.matching import OrderRequest
from tradeterm.sandbox.params import client_order_id, number, required

# 现货接受的 timeInForce
TIME_IN_FORCE = ("GTC", "IOC", "FOK")
# 合约接受的 timeInForce（GTX = 只做 maker）
FUTURES_TIME_IN_FORCE = ("GTC", "IOC", "FOK", "GTX")
# 合约需要限价（price）的订单类型
FUTURES_PRICED_TYPES = ("LIMIT", "STOP", "TAKE_PROFIT")
# 合约数量不大于 0 时的错误
FUTURES_QTY_NOT_POSITIVE = (-4003, "Quantity less than or equal to zero.")


def _new_client_id(params: dict, name: str) -> str:
    """客户端订单号：给了就校验（-1100），没给就生成一个。"""
    return client_order_id(params, name) or f"sandbox{secrets.token_hex(8)}"


def parse_order_request(params: dict) -> OrderRequest:
    """把现货下单参数解析成 OrderRequest：检查类型、方向、各类型的必填参数（-1102/-1116/-1117/-1115）与数字形式（-1100）。"""
    side = required(params, "side").upper()
    if side not in ("BUY", "SELL"):
        raise BinanceError(errors.BAD_SIDE)
    kind = required(params, "type").upper()
    if kind not in payloads.ORDER_TYPES:
        raise BinanceError(errors.BAD_ORDER_TYPE)
    needs_price = kind in payloads.PRICED_TYPES
    needs_stop = kind in payloads.CONDITIONAL_TYPES
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
    return OrderRequest(required(params, "symbol"), side, kind, amount, price, stop_price, quote_amount,
                        time_in_force, _new_client_id(params, "newClientOrderId"))


def check_spot_limits(request: OrderRequest, spec: MarketSpec) -> None:
    """现货订单不超过 exchangeInfo 公布的上限：价格与触发价 <= maxPrice（PRICE_FILTER），数量 <= maxQty
    （LOT_SIZE），非市价单的名义金额 <= maxNotional（NOTIONAL）；违反时抛 -1013。"""
    if max(request.price, request.stop_price) > payloads.SPOT_MAX_PRICE:
        raise BinanceError(errors.filter_failure("PRICE_FILTER"))
    if request.amount > payloads.max_quantity(spec, payloads.SPOT_MAX_QTY):
        raise BinanceError(errors.filter_failure("LOT_SIZE"))
    reference = request.price or request.stop_price
    if request.type != "MARKET" and request.amount * reference > payloads.SPOT_MAX_NOTIONAL:
        raise BinanceError(errors.filter_failure("NOTIONAL"))


def parse_futures_order(params: dict, conditional: bool) -> OrderRequest:
    """解析合约下单参数（普通单或条件单）：类型映射到内部类型，检查必填参数与数字形式；数量不大于 0 抛 -4003。"""
    side = required(params, "side").upper()
    if side not in ("BUY", "SELL"):
        raise BinanceError(errors.BAD_SIDE)
    kind = required(params, "type").upper()
    if kind not in FUTURES_TO_INTERNAL or (kind in ("MARKET", "LIMIT")) == conditional:
        raise BinanceError(errors.BAD_ORDER_TYPE)
    internal = FUTURES_TO_INTERNAL[kind]
    needs_price = kind in FUTURES_PRICED_TYPES
    amount = number(params, "quantity")
    if amount <= 0:
        raise BinanceError(FUTURES_QTY_NOT_POSITIVE)
    if needs_price:
        required(params, "price")
    price = number(params, "price") if needs_price else 0.0
    stop_price = number(params, "triggerPrice") if conditional else 0.0
    if conditional and stop_price <= 0:
        raise BinanceError(errors.missing_param("triggerPrice"))
    time_in_force = (params.get("timeInForce") or "GTC").upper()
    if time_in_force not in FUTURES_TIME_IN_FORCE:
        raise BinanceError(errors.BAD_TIME_IN_FORCE)
    if time_in_force == "GTX" and internal == "LIMIT":
        internal, time_in_force = "LIMIT_MAKER", "GTC"
    client_id = _new_client_id(params, "clientAlgoId" if conditional else "newClientOrderId")
    reduce_only = str(params.get("reduceOnly", "false")).lower() == "true"
    return OrderRequest(required(params, "symbol"), side, internal, amount, price, stop_price, 0.0, time_in_force,
                        client_id, reduce_only)


def check_futures_limits(request: OrderRequest, spec: MarketSpec) -> None:
    """合约订单的价格与数量范围（Binance USD-M 的错误码）：限价低于一个价格步长 -4013、高于 maxPrice -4002，
    触发价高于 maxPrice -4007，数量高于 maxQty -4005。"""
    if request.type in payloads.PRICED_TYPES and request.price < spec.price_tick:
        raise BinanceError(errors.FUTURES_PRICE_BELOW_MIN)
    if request.price > payloads.FUTURES_MAX_PRICE:
        raise BinanceError(errors.FUTURES_PRICE_ABOVE_MAX)
    if request.stop_price > payloads.FUTURES_MAX_PRICE:
        raise BinanceError(errors.FUTURES_STOP_ABOVE_MAX)
    if request.amount > payloads.max_quantity(spec, payloads.FUTURES_MAX_QTY):
        raise BinanceError(errors.FUTURES_QTY_ABOVE_MAX)
