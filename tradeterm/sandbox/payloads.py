"""Binance 现货接口与推送消息的 JSON 形状：订单、成交、账户、交易对信息、执行回报与行情事件。

数字按 Binance 的习惯输出为 8 位小数的文本；时间为 UTC 毫秒整数。
"""

from __future__ import annotations

from tradeterm.sandbox.accounts import Account, SandboxOrder, SandboxTrade
from tradeterm.sandbox.market import MarketSpec, decimals

# 沙盒支持的订单类型（exchangeInfo 的 orderTypes；ccxt 下单前会检查）
ORDER_TYPES = ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"]
# 条件单（触发前不在订单簿上）
CONDITIONAL_TYPES = ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")
# 带限价的订单类型（必须给出 price，且 price 受 PRICE_FILTER 约束）
PRICED_TYPES = ("LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT")

# 现货 PRICE_FILTER 的最大价格（maxPrice），计价货币
SPOT_MAX_PRICE = 1_000_000.0
# 现货 LOT_SIZE 的最大数量（maxQty；数量步长小于 1 的币），基础货币
SPOT_MAX_QTY = 9_000.0
# 现货 NOTIONAL 的最大名义金额（maxNotional；applyMaxToMarket=false：只约束非市价单），计价货币
SPOT_MAX_NOTIONAL = 9_000_000.0
# 合约 PRICE_FILTER 的最大价格（maxPrice），计价货币
FUTURES_MAX_PRICE = 4_529_764.0
# 合约 LOT_SIZE 的最大数量（maxQty；数量步长小于 1 的币），基础货币
FUTURES_MAX_QTY = 1_000.0
# 数量步长为整数的低价币（如 DOGE）最大数量放大的倍数：按币数计的上限对它们太小（Binance 同样按币种放大）
WHOLE_UNIT_QTY_FACTOR = 1_000


def max_quantity(spec: MarketSpec, base_max: float) -> float:
    """LOT_SIZE 的最大数量（基础货币）：base_max（SPOT_MAX_QTY 或 FUTURES_MAX_QTY），低价币乘 WHOLE_UNIT_QTY_FACTOR。"""
    return base_max * WHOLE_UNIT_QTY_FACTOR if spec.amount_step >= 1 else base_max


def num(value: float) -> str:
    """数字转 Binance 式文本（8 位小数）。"""
    return f"{value:.8f}"


def symbol_info(spec: MarketSpec) -> dict:
    """exchangeInfo 里一个交易对的描述（ccxt 从 filters 读出价格/数量精度与最小值）。"""
    return {
        "symbol": spec.market_id, "status": "TRADING", "baseAsset": spec.base, "baseAssetPrecision": 8,
        "quoteAsset": spec.quote, "quotePrecision": 8, "quoteAssetPrecision": 8, "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8, "orderTypes": ORDER_TYPES, "icebergAllowed": False, "ocoAllowed": False,
        "otoAllowed": False, "quoteOrderQtyMarketAllowed": True, "allowTrailingStop": False,
        "cancelReplaceAllowed": False, "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": num(spec.price_tick), "maxPrice": num(SPOT_MAX_PRICE),
             "tickSize": num(spec.price_tick)},
            {"filterType": "LOT_SIZE", "minQty": num(spec.min_amount), "maxQty": num(max_quantity(spec, SPOT_MAX_QTY)),
             "stepSize": num(spec.amount_step)},
            {"filterType": "MARKET_LOT_SIZE", "minQty": "0.00000000", "maxQty": "100.00000000",
             "stepSize": "0.00000000"},
            {"filterType": "NOTIONAL", "minNotional": num(spec.min_notional), "applyMinToMarket": True,
             "maxNotional": num(SPOT_MAX_NOTIONAL), "applyMaxToMarket": False, "avgPriceMins": 5},
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
        ],
        "permissions": [], "permissionSets": [["SPOT"]], "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def exchange_info(specs: list[MarketSpec], server_ms: int) -> dict:
    """GET /api/v3/exchangeInfo 的响应。"""
    return {
        "timezone": "UTC", "serverTime": server_ms,
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
        ],
        "exchangeFilters": [], "symbols": [symbol_info(spec) for spec in specs],
    }


def order_json(order: SandboxOrder, spec: MarketSpec) -> dict:
    """GET /api/v3/order（及 openOrders、allOrders、撤单响应）里的一张订单。"""
    price_digits = max(decimals(spec.price_tick), 2)
    return {
        "symbol": order.market_id, "orderId": order.order_id, "orderListId": -1,
        "clientOrderId": order.client_order_id, "price": f"{order.price:.{price_digits}f}",
        "origQty": num(order.amount), "executedQty": num(order.filled), "cummulativeQuoteQty": num(order.cost),
        "status": order.status, "timeInForce": order.time_in_force, "type": order.type, "side": order.side,
        "stopPrice": f"{order.stop_price:.{price_digits}f}", "icebergQty": "0.00000000", "time": order.created_ts,
        "updateTime": order.updated_ts or order.created_ts, "isWorking": order.type not in CONDITIONAL_TYPES
        or order.triggered,
        # 条件单触发前不在订单簿上，Binance 此时的 workingTime 为 -1
        "workingTime": order.working_ts if order.type not in CONDITIONAL_TYPES or order.triggered else -1, "origQuoteOrderQty": num(order.quote_amount),
        "selfTradePreventionMode": "EXPIRE_MAKER",
    }


def new_order_response(order: SandboxOrder, spec: MarketSpec, resp_type: str) -> dict:
    """POST /api/v3/order 的响应：ACK 只有编号，RESULT 为订单，FULL 再带本单的成交明细。"""
    ack = {"symbol": order.market_id, "orderId": order.order_id, "orderListId": -1,
           "clientOrderId": order.client_order_id, "transactTime": order.created_ts}
    if resp_type == "ACK":
        return ack
    body = order_json(order, spec)
    body.pop("time")
    body.pop("updateTime")
    body.pop("isWorking")
    body = {**ack, **body}
    if resp_type == "FULL":
        body["fills"] = list(order.fills)
    return body


def fill_json(trade: SandboxTrade) -> dict:
    """FULL 响应 fills 里的一项。"""
    return {"price": num(trade.price), "qty": num(trade.amount), "commission": num(trade.fee),
            "commissionAsset": trade.fee_asset, "tradeId": trade.trade_id}


def my_trade_json(trade: SandboxTrade) -> dict:
    """GET /api/v3/myTrades 的一项。"""
    return {
        "symbol": trade.market_id, "id": trade.trade_id, "orderId": trade.order_id, "orderListId": -1,
        "price": num(trade.price), "qty": num(trade.amount), "quoteQty": num(trade.notional),
        "commission": num(trade.fee), "commissionAsset": trade.fee_asset, "time": trade.ts,
        "isBuyer": trade.side == "BUY", "isMaker": trade.is_maker, "isBestMatch": True,
    }


def account_json(account: Account, now: int, maker_fee: float, taker_fee: float) -> dict:
    """GET /api/v3/account：费率与全部非零余额（可用/冻结）。"""
    assets = sorted(set(account.free) | set(account.locked))
    balances = [{"asset": a, "free": num(account.balance(a)[0]), "locked": num(account.balance(a)[1])}
                for a in assets]
    return {
        "makerCommission": int(round(maker_fee * 10_000)), "takerCommission": int(round(taker_fee * 10_000)),
        "buyerCommission": 0, "sellerCommission": 0,
        "commissionRates": {"maker": num(maker_fee), "taker": num(taker_fee), "buyer": num(0), "seller": num(0)},
        "canTrade": True, "canWithdraw": False, "canDeposit": False, "brokered": False,
        "requireSelfTradePrevention": False, "preventSor": False, "updateTime": now, "accountType": "SPOT",
        "balances": balances, "permissions": ["SPOT"], "uid": abs(hash(account.api_key)) % 10**9,
    }


def execution_report(order: SandboxOrder, exec_type: str, now: int, trade: SandboxTrade | None = None,
                     reject_reason: str = "NONE") -> dict:
    """用户数据流的 executionReport 事件：订单新建、成交、撤销、过期时各发一条。"""
    return {
        "e": "executionReport", "E": now, "s": order.market_id, "c": order.client_order_id, "S": order.side,
        "o": order.type, "f": order.time_in_force, "q": num(order.amount), "p": num(order.price),
        "P": num(order.stop_price), "F": "0.00000000", "g": -1, "C": "", "x": exec_type, "X": order.status,
        "r": reject_reason, "i": order.order_id, "l": num(trade.amount if trade else 0.0), "z": num(order.filled),
        "L": num(trade.price if trade else 0.0), "n": num(trade.fee if trade else 0.0),
        "N": trade.fee_asset if trade else None, "T": trade.ts if trade else now,
        "t": trade.trade_id if trade else -1, "v": 0, "I": order.order_id * 10 + 1, "w": order.is_open,
        "m": trade.is_maker if trade else False, "M": False, "O": order.created_ts, "Z": num(order.cost),
        "Y": num(trade.notional if trade else 0.0), "Q": num(order.quote_amount), "W": order.working_ts or now,
        "V": "EXPIRE_MAKER",
    }


def account_position(account: Account, assets: list[str], now: int) -> dict:
    """用户数据流的 outboundAccountPosition 事件：余额有变化的币种的可用与冻结。"""
    return {"e": "outboundAccountPosition", "E": now, "u": now,
            "B": [{"a": a, "f": num(account.balance(a)[0]), "l": num(account.balance(a)[1])} for a in assets]}


def kline_event(spec: MarketSpec, interval: str, row: list, now: int, closed: bool) -> dict:
    """行情流 <symbol>@kline_<interval> 的事件；row 为 klines 接口的一行。"""
    return {"e": "kline", "E": now, "s": spec.market_id, "k": {
        "t": row[0], "T": row[6], "s": spec.market_id, "i": interval, "f": 0, "L": row[8], "o": row[1],
        "c": row[4], "h": row[2], "l": row[3], "v": row[5], "n": row[8], "x": closed, "q": row[7], "V": row[9],
        "Q": row[10], "B": "0"}}


def trade_event(spec: MarketSpec, trade_id: int, price: float, amount: float, now: int, buyer_maker: bool) -> dict:
    """行情流 <symbol>@trade 的事件（公开成交）。"""
    return {"e": "trade", "E": now, "s": spec.market_id, "t": trade_id, "p": num(price), "q": num(amount),
            "T": now, "m": buyer_maker, "M": True}


def agg_trade_event(spec: MarketSpec, trade_id: int, price: float, amount: float, now: int,
                    buyer_maker: bool) -> dict:
    """行情流 <symbol>@aggTrade 的事件（每笔公开成交单独成一条归集成交）。"""
    return {"e": "aggTrade", "E": now, "s": spec.market_id, "a": trade_id, "p": num(price), "q": num(amount),
            "f": trade_id, "l": trade_id, "T": now, "m": buyer_maker, "M": True}


# 24hrTicker 推送事件的短字段名 -> REST 24hr ticker 的字段名（Binance 的对应关系）；REST 里没有的字段推送里也没有
TICKER_EVENT_FIELDS = (("p", "priceChange"), ("P", "priceChangePercent"), ("w", "weightedAvgPrice"),
                       ("x", "prevClosePrice"), ("c", "lastPrice"), ("Q", "lastQty"), ("b", "bidPrice"),
                       ("B", "bidQty"), ("a", "askPrice"), ("A", "askQty"), ("o", "openPrice"), ("h", "highPrice"),
                       ("l", "lowPrice"), ("v", "volume"), ("q", "quoteVolume"), ("O", "openTime"),
                       ("C", "closeTime"), ("F", "firstId"), ("L", "lastId"), ("n", "count"))
# USD-M 合约的 24hr ticker（REST 与 @ticker 推送）没有的字段：Binance 合约的 24 小时统计不带最优买卖价与前收盘价，
# 买一/卖一要从 bookTicker（REST /fapi/v1/ticker/bookTicker 或 @bookTicker 流）取
FUTURES_TICKER_OMITS = ("prevClosePrice", "bidPrice", "bidQty", "askPrice", "askQty")


def futures_ticker(ticker: dict) -> dict:
    """现货形状的 24hr ticker（SymbolMarket.ticker）-> USD-M 合约 /fapi/v1/ticker/24hr 的形状（去掉合约没有的字段）。"""
    return {key: value for key, value in ticker.items() if key not in FUTURES_TICKER_OMITS}


def book_ticker_json(market_id: str, top: tuple[float, float, float, float], now: int, futures: bool) -> dict:
    """REST bookTicker 的一项；top 为 SymbolMarket.book_top 的 (买一价, 买一量, 卖一价, 卖一量)。

    现货只有 symbol 与买卖价量；合约另有 time（交易所时间，UTC 毫秒）与 lastUpdateId，与 Binance 相同。"""
    bid, bid_qty, ask, ask_qty = top
    row = {"symbol": market_id, "bidPrice": num(bid), "bidQty": num(bid_qty), "askPrice": num(ask),
           "askQty": num(ask_qty)}
    return {"lastUpdateId": int(now), **row, "time": int(now)} if futures else row


def ticker_event(ticker: dict, now: int) -> dict:
    """行情流 <symbol>@ticker 的事件，由 24hr ticker 的 REST 形状转换（合约的 REST 形状没有买卖价，推送也就没有）。"""
    return {"e": "24hrTicker", "E": now, "s": ticker["symbol"],
            **{short: ticker[name] for short, name in TICKER_EVENT_FIELDS if name in ticker}}


def mini_ticker_event(ticker: dict, now: int) -> dict:
    """行情流 <symbol>@miniTicker 的事件。"""
    return {"e": "24hrMiniTicker", "E": now, "s": ticker["symbol"], "c": ticker["lastPrice"],
            "o": ticker["openPrice"], "h": ticker["highPrice"], "l": ticker["lowPrice"], "v": ticker["volume"],
            "q": ticker["quoteVolume"]}


def book_ticker_event(ticker: dict, update_id: int) -> dict:
    """现货行情流 <symbol>@bookTicker 的事件（没有事件类型字段，与 Binance 相同）。"""
    return {"u": update_id, "s": ticker["symbol"], "b": ticker["bidPrice"], "B": ticker["bidQty"],
            "a": ticker["askPrice"], "A": ticker["askQty"]}


def futures_book_ticker_event(ticker: dict, now: int) -> dict:
    """USD-M 合约行情流 <symbol>@bookTicker 的事件：比现货多事件类型、事件时间 E 与撮合时间 T（UTC 毫秒）。"""
    return {"e": "bookTicker", "u": now, "E": now, "T": now, "s": ticker["symbol"], "b": ticker["bidPrice"],
            "B": ticker["bidQty"], "a": ticker["askPrice"], "A": ticker["askQty"]}


def ticker_stream_events(channel: str, ticker: dict, now: int) -> tuple[dict, dict]:
    """ticker 类行情流（ticker、miniTicker、bookTicker）此刻的事件：(现货连接收到的, 合约连接收到的)。

    ticker 为 SymbolMarket.ticker 的现货形状；合约的 @ticker 没有买卖价，@bookTicker 多 e/E/T 字段。"""
    if channel == "ticker":
        return ticker_event(ticker, now), ticker_event(futures_ticker(ticker), now)
    if channel == "miniTicker":
        event = mini_ticker_event(ticker, now)
        return event, event
    return book_ticker_event(ticker, now), futures_book_ticker_event(ticker, now)
