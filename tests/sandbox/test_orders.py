"""沙盒的下单、撤单、查询与撮合（共享成交模型），经由原版 ccxt 客户端。"""

from __future__ import annotations

import ccxt
import pytest

from tradeterm.sandbox import SandboxExchange, TradingConfig
from tests.sandbox.helpers import future_cross, run_until


async def test_market_buy_fills_at_current_price_with_slippage_and_quote_fee(sandbox, exchange):
    """市价买 0.01 BTC：按当前价加 1 bp 滑点成交，手续费 0.1% 以 USDT 收，余额随之变化。"""
    last = sandbox.market("BTC/USDT").price(sandbox.clock.now())
    order = await exchange.create_order("BTC/USDT", "market", "buy", 0.01)
    assert order["status"] == "closed" and order["filled"] == 0.01
    # 成交价 ≈ 当前价 × (1 + 0.0001)；请求期间行情略动，放宽到 0.2%
    assert order["average"] == pytest.approx(last * 1.0001, rel=2e-3)
    assert order["fee"]["currency"] == "USDT"
    assert order["fee"]["cost"] == pytest.approx(order["cost"] * 0.001)
    balance = await exchange.fetch_balance()
    assert balance["BTC"]["free"] == pytest.approx(0.01)
    assert balance["USDT"]["free"] == pytest.approx(10_000 - order["cost"] - order["fee"]["cost"])


async def test_market_buy_by_cost_uses_quote_order_qty(exchange):
    """按金额市价买（quoteOrderQty 100 USDT）：数量向下取整到步长，花费（含费）不超过 100。"""
    order = await exchange.create_market_buy_order_with_cost("BTC/USDT", 100)
    assert order["status"] == "closed"
    assert order["cost"] + order["fee"]["cost"] <= 100
    assert round(order["filled"] / 0.00001, 6) == int(round(order["filled"] / 0.00001))


async def test_resting_limit_buy_locks_funds_then_fills_when_price_trades_through(sandbox, exchange):
    """挂在当前价之下的限价买单：先冻结资金；行情穿过限价后按限价成交，收 maker 费，解冻余下资金。"""
    limit, bar_close_ts = future_cross(sandbox, "BTC/USDT", -1)
    order = await exchange.create_order("BTC/USDT", "limit", "buy", 0.01, limit)
    assert order["status"] == "open"
    balance = await exchange.fetch_balance()
    assert balance["USDT"]["used"] == pytest.approx(limit * 0.01 * 1.001)
    assert [o["id"] for o in await exchange.fetch_open_orders("BTC/USDT")] == [order["id"]]
    await run_until(sandbox, bar_close_ts)
    filled = await exchange.fetch_order(order["id"], "BTC/USDT")
    assert filled["status"] == "closed" and filled["average"] == pytest.approx(limit)
    trades = await exchange.fetch_my_trades("BTC/USDT")
    assert trades[-1]["order"] == order["id"] and trades[-1]["takerOrMaker"] == "maker"
    balance = await exchange.fetch_balance()
    assert balance["USDT"]["used"] == 0
    assert balance["USDT"]["free"] == pytest.approx(10_000 - limit * 0.01 * 1.001)
    assert await exchange.fetch_open_orders("BTC/USDT") == []


async def test_cancel_order_releases_locked_funds(exchange, sandbox):
    """撤销挂单：状态 canceled，冻结的 USDT 回到可用；再撤一次返回 OrderNotFound。"""
    price = round(sandbox.market("BTC/USDT").price(sandbox.clock.now()) * 0.8, 2)
    order = await exchange.create_order("BTC/USDT", "limit", "buy", 0.01, price)
    canceled = await exchange.cancel_order(order["id"], "BTC/USDT")
    assert canceled["status"] == "canceled"
    balance = await exchange.fetch_balance()
    assert balance["USDT"] == {"free": 10_000.0, "used": 0.0, "total": 10_000.0}
    with pytest.raises(ccxt.OrderNotFound):
        await exchange.cancel_order(order["id"], "BTC/USDT")


async def test_stop_loss_sells_when_price_falls_to_the_stop(sandbox, exchange):
    """STOP_LOSS 卖单：价格跌到止损价时按止损价（减滑点）成交；之前一直挂着。"""
    await exchange.create_order("BTC/USDT", "market", "buy", 0.01)
    stop, bar_close_ts = future_cross(sandbox, "BTC/USDT", -1)
    order = await exchange.create_order("BTC/USDT", "market", "sell", 0.01, None, {"stopLossPrice": stop})
    assert order["info"]["type"] == "STOP_LOSS" and order["status"] == "open"
    assert (await exchange.fetch_balance())["BTC"]["used"] == pytest.approx(0.01)
    await run_until(sandbox, bar_close_ts)
    done = await exchange.fetch_order(order["id"], "BTC/USDT")
    assert done["status"] == "closed"
    # 触发在止损价（或跳空后的更差价），再减 1 bp 滑点
    assert done["average"] <= stop * (1 - 0.0001) + 0.01


async def test_take_profit_limit_sells_after_target_is_reached(sandbox, exchange):
    """TAKE_PROFIT_LIMIT 卖单：价格涨到目标价触发，之后按限价成交。"""
    await exchange.create_order("BTC/USDT", "market", "buy", 0.01)
    target, bar_close_ts = future_cross(sandbox, "BTC/USDT", +1)
    order = await exchange.create_order("BTC/USDT", "limit", "sell", 0.01, target - 1.0,
                                        {"takeProfitPrice": target})
    assert order["info"]["type"] == "TAKE_PROFIT_LIMIT"
    await run_until(sandbox, bar_close_ts + 5 * 60_000)
    done = await exchange.fetch_order(order["id"], "BTC/USDT")
    assert done["status"] == "closed" and done["average"] >= target - 1.0


async def test_stop_that_would_trigger_immediately_is_rejected(sandbox, exchange):
    """卖出止损价在当前价之上会立即触发：Binance 以 -2010 拒绝，ccxt 抛 OrderImmediatelyFillable。"""
    await exchange.create_order("BTC/USDT", "market", "buy", 0.001)
    above = round(sandbox.market("BTC/USDT").price(sandbox.clock.now()) * 1.05, 2)
    with pytest.raises(ccxt.OrderImmediatelyFillable):
        await exchange.create_order("BTC/USDT", "market", "sell", 0.001, None, {"stopLossPrice": above})


async def test_post_only_order_that_would_take_is_rejected(sandbox, exchange):
    """LIMIT_MAKER（postOnly）买价高于卖一会立即成交：被拒，ccxt 抛 OrderImmediatelyFillable。"""
    above = round(sandbox.market("BTC/USDT").price(sandbox.clock.now()) * 1.05, 2)
    with pytest.raises(ccxt.OrderImmediatelyFillable):
        await exchange.create_order("BTC/USDT", "limit", "buy", 0.001, above, {"postOnly": True})


async def test_insufficient_balance_raises_insufficient_funds(exchange):
    """买 1 BTC（约 3 万 USDT）超出 10,000 USDT：-2010 原文消息，ccxt 抛 InsufficientFunds。"""
    with pytest.raises(ccxt.InsufficientFunds):
        await exchange.create_order("BTC/USDT", "market", "buy", 1)


async def test_filters_reject_bad_amount_price_and_notional(sandbox, exchange):
    """过滤器：数量不在步长上（LOT_SIZE）、价格不在最小变动上（PRICE_FILTER）、名义金额不足 5 USDT（NOTIONAL）。"""
    base = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC"}
    with pytest.raises(ccxt.InvalidOrder, match="LOT_SIZE"):
        await exchange.private_post_order({**base, "quantity": "0.000015", "price": "20000"})
    with pytest.raises(ccxt.InvalidOrder, match="PRICE_FILTER"):
        await exchange.private_post_order({**base, "quantity": "0.001", "price": "20000.005"})
    with pytest.raises(ccxt.BadRequest, match="NOTIONAL"):
        await exchange.create_order("BTC/USDT", "limit", "buy", 0.0001, 20_000)
    assert (await exchange.fetch_balance())["USDT"]["free"] == 10_000


async def test_unknown_order_and_symbol_errors(exchange):
    """查不存在的订单 -> OrderNotFound；不存在的交易对 -> BadSymbol。"""
    with pytest.raises(ccxt.OrderNotFound):
        await exchange.fetch_order("424242", "BTC/USDT")
    with pytest.raises(ccxt.BadSymbol):
        await exchange.public_get_klines({"symbol": "FOOUSDT", "interval": "1m"})


async def test_large_limit_order_fills_partially_by_bar_volume():
    """挂单量超过 K 线成交量的允许比例时分多次部分成交：第一根 K 线后是 PARTIALLY_FILLED。"""
    trading = TradingConfig(max_volume_share=0.001)
    async with SandboxExchange(port=0, speed=60, tick_s=0.05, history_bars=500, trading=trading) as sandbox:
        client = sandbox.client()
        try:
            limit, bar_close_ts = future_cross(sandbox, "BTC/USDT", -1)
            order = await client.create_order("BTC/USDT", "limit", "buy", 0.2, limit)
            await run_until(sandbox, bar_close_ts)
            state = await client.fetch_order(order["id"], "BTC/USDT")
            market = sandbox.market("BTC/USDT")
            cap = 0.001 * market.series.volume[market.series.index_at(bar_close_ts - 1)]
        finally:
            await client.close()
    assert state["status"] == "open" and state["info"]["status"] == "PARTIALLY_FILLED"
    assert 0 < state["filled"] <= cap + 0.00001
    assert state["remaining"] == pytest.approx(0.2 - state["filled"])


async def test_take_profit_market_sells_at_the_target(sandbox, exchange):
    """TAKE_PROFIT（市价）卖单：价格涨到目标价时按目标价成交（共享成交模型的 take_profit_fill_price），收 taker 费。"""
    await exchange.create_order("BTC/USDT", "market", "buy", 0.01)
    target, bar_close_ts = future_cross(sandbox, "BTC/USDT", +1)
    order = await exchange.create_order("BTC/USDT", "market", "sell", 0.01, None, {"takeProfitPrice": target})
    assert order["info"]["type"] == "TAKE_PROFIT"
    await run_until(sandbox, bar_close_ts)
    done = await exchange.fetch_order(order["id"], "BTC/USDT")
    assert done["status"] == "closed" and done["average"] >= target
    trade = (await exchange.fetch_my_trades("BTC/USDT"))[-1]
    assert trade["takerOrMaker"] == "taker" and trade["fee"]["cost"] == pytest.approx(trade["cost"] * 0.001)


async def test_stop_loss_limit_becomes_a_limit_order_once_triggered(sandbox, exchange):
    """STOP_LOSS_LIMIT 卖单：价格跌到触发价后挂出限价卖单（限价低于触发价），随后成交于不低于限价的价格。"""
    await exchange.create_order("BTC/USDT", "market", "buy", 0.01)
    stop, bar_close_ts = future_cross(sandbox, "BTC/USDT", -1)
    limit = round(stop * 0.995, 2)
    order = await exchange.create_order("BTC/USDT", "limit", "sell", 0.01, limit, {"stopLossPrice": stop})
    assert order["info"]["type"] == "STOP_LOSS_LIMIT"
    assert (await exchange.fetch_order(order["id"], "BTC/USDT"))["info"]["isWorking"] is False
    await run_until(sandbox, bar_close_ts + 2 * 60_000)
    done = await exchange.fetch_order(order["id"], "BTC/USDT")
    assert done["info"]["isWorking"] is True
    assert done["status"] == "closed" and done["average"] >= limit


async def test_ioc_limit_that_cannot_fill_expires_and_cancel_all_clears_the_book(sandbox, exchange):
    """IOC 限价单无法立即成交时过期（expired）；DELETE openOrders 撤掉全部挂单；allOrders 列出全部历史。"""
    price = round(sandbox.market("BTC/USDT").price(sandbox.clock.now()) * 0.9, 2)
    ioc = await exchange.create_order("BTC/USDT", "limit", "buy", 0.001, price, {"timeInForce": "IOC"})
    assert ioc["status"] == "expired" and ioc["filled"] == 0
    for k in range(3):
        await exchange.create_order("BTC/USDT", "limit", "buy", 0.001, price - k)
    assert len(await exchange.fetch_open_orders("BTC/USDT")) == 3
    canceled = await exchange.cancel_all_orders("BTC/USDT")
    assert len(canceled) == 3 and await exchange.fetch_open_orders("BTC/USDT") == []
    history = await exchange.fetch_orders("BTC/USDT")
    assert [o["status"] for o in history] == ["expired", "canceled", "canceled", "canceled"]
    assert (await exchange.fetch_balance())["USDT"]["used"] == 0


async def test_market_sell_without_the_coin_is_insufficient_funds(exchange):
    """没有 BTC 时市价卖出：余额不足。"""
    with pytest.raises(ccxt.InsufficientFunds):
        await exchange.create_order("BTC/USDT", "market", "sell", 0.001)
