"""沙盒的 USD-M 永续合约：市场信息、杠杆与保证金、开平仓盈亏、只减仓、条件单（algoOrder）与 websocket。"""

from __future__ import annotations

import asyncio

import ccxt
import pytest

from tests.sandbox.helpers import future_cross, run_until

# 永续合约交易对
PERP = "BTC/USDT:USDT"
# 等待一条推送的上限，秒
WAIT_S = 5.0


@pytest.fixture
async def futures(sandbox):
    """加载了现货与永续合约市场的 ccxt 异步客户端。"""
    client = sandbox.client(market_types=("spot", "linear"), timeout_ms=3_000)
    await client.load_markets()
    yield client
    await client.close()


async def test_perpetual_markets_have_futures_filters(futures):
    """永续合约市场：linear swap，数量步长 0.001，最小名义金额 100 USDT（BTC）/ 20 USDT（ETH）。"""
    btc, eth = futures.markets[PERP], futures.markets["ETH/USDT:USDT"]
    assert btc["swap"] and btc["linear"] and btc["settle"] == "USDT"
    assert btc["precision"]["amount"] == 0.001 and btc["limits"]["cost"]["min"] == 100
    assert eth["limits"]["cost"]["min"] == 20
    assert (await futures.fetch_ticker(PERP))["last"] > 0


async def test_short_then_close_realizes_pnl_into_the_wallet(sandbox, futures):
    """市价开空 0.01 再只减仓买回：持仓与保证金随之变化，已实现盈亏与手续费计入钱包。"""
    await futures.set_leverage(10, PERP)
    opened = await futures.create_order(PERP, "market", "sell", 0.01)
    [position] = await futures.fetch_positions([PERP])
    assert position["side"] == "short" and position["contracts"] == 0.01
    assert position["entryPrice"] == pytest.approx(opened["average"])
    balance = await futures.fetch_balance({"type": "swap"})
    assert balance["USDT"]["used"] == pytest.approx(0.01 * opened["average"] / 10, rel=0.01)
    sandbox.clock.advance(5 * 60_000)
    await sandbox.tick()
    closed = await futures.create_order(PERP, "market", "buy", 0.01, None, {"reduceOnly": True})
    assert await futures.fetch_positions([PERP]) == []
    trades = await futures.fetch_my_trades(PERP)
    pnl = (opened["average"] - closed["average"]) * 0.01
    assert float(trades[-1]["info"]["realizedPnl"]) == pytest.approx(pnl, abs=1e-6)
    fees = sum(t["fee"]["cost"] for t in trades)
    balance = await futures.fetch_balance({"type": "swap"})
    assert balance["USDT"]["total"] == pytest.approx(10_000 + pnl - fees, abs=1e-6)
    # 现货钱包不受影响
    assert (await futures.fetch_balance())["USDT"]["free"] == 10_000


async def test_margin_and_reduce_only_and_notional_rules(futures):
    """1 倍杠杆下名义金额超过钱包：-2019；没有持仓的只减仓单：-2022；名义金额不足 100：-4164。

    ccxt 按请求的主机名选 linear 错误表，沙盒地址不是 fapi.binance.com，所以这些码都抛通用的 ExchangeError。
    """
    await futures.set_leverage(1, PERP)
    with pytest.raises(ccxt.ExchangeError, match="-2019"):
        await futures.create_order(PERP, "market", "buy", 1)
    with pytest.raises(ccxt.ExchangeError, match="-2022"):
        await futures.create_order(PERP, "market", "sell", 0.01, None, {"reduceOnly": True})
    with pytest.raises(ccxt.ExchangeError, match="-4164"):
        await futures.create_order(PERP, "market", "buy", 0.001)


async def test_stop_market_algo_order_closes_the_position_when_triggered(sandbox, futures):
    """多仓挂 STOP_MARKET 只减仓止损（algoOrder）：价格跌到触发价后成交，持仓归零；撤销已结束的单报 OrderNotFound。"""
    await futures.create_order(PERP, "market", "buy", 0.01)
    stop, bar_close_ts = future_cross(sandbox, "BTC/USDT", -1)
    order = await futures.create_order(PERP, "market", "sell", 0.01, None, {"stopLossPrice": stop,
                                                                            "reduceOnly": True})
    assert order["info"]["algoType"] == "CONDITIONAL" and order["info"]["orderType"] == "STOP_MARKET"
    assert len(await futures.fetch_open_orders(PERP, params={"trigger": True})) == 1
    await run_until(sandbox, bar_close_ts)
    assert await futures.fetch_positions([PERP]) == []
    assert await futures.fetch_open_orders(PERP, params={"trigger": True}) == []
    trade = (await futures.fetch_my_trades(PERP))[-1]
    assert trade["side"] == "sell" and trade["price"] <= stop
    with pytest.raises(ccxt.OrderNotFound):
        await futures.cancel_order(order["id"], PERP, {"trigger": True})


async def test_resting_limit_order_fills_as_maker_when_crossed(sandbox, futures):
    """合约限价买单挂在当前价之下：行情穿过后按限价成交（maker），开出多仓。"""
    limit, bar_close_ts = future_cross(sandbox, "BTC/USDT", -1)
    order = await futures.create_order(PERP, "limit", "buy", 0.01, limit)
    assert order["status"] == "open"
    await run_until(sandbox, bar_close_ts)
    done = await futures.fetch_order(order["id"], PERP)
    assert done["status"] == "closed" and done["average"] == pytest.approx(limit)
    [position] = await futures.fetch_positions([PERP])
    assert position["side"] == "long" and position["entryPrice"] == pytest.approx(limit)


async def test_futures_streams_and_user_data_via_listen_key(sandbox):
    """ccxt.pro 合约：watch_ohlcv 走 /market/ws，watch_orders 用 listenKey 连 /private/ws 并收到成交。"""
    pro = sandbox.client(pro=True, market_types=("spot", "linear"))
    try:
        await pro.load_markets()
        bars = await asyncio.wait_for(pro.watch_ohlcv(PERP, "1m"), WAIT_S)
        assert bars[-1][4] > 0
        orders_task = asyncio.create_task(pro.watch_orders(PERP))
        await asyncio.sleep(0.3)
        order = await pro.create_order(PERP, "market", "buy", 0.01)
        orders = await asyncio.wait_for(orders_task, WAIT_S)
        assert orders[-1]["id"] == order["id"] and orders[-1]["symbol"] == PERP
        assert len(sandbox.requests_to("/fapi/v1/listenKey")) == 1
    finally:
        await pro.close()
