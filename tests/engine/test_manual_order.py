"""manual_order 命令：界面的下单框经 EngineClient 下手动单——预览风控、按名义金额折算数量、成交记账、参数错误。"""

from __future__ import annotations

import pytest

from tests.engine.conftest import flip, wait_for
from tradeterm.engine.client import InProcessClient
from tradeterm.errors import UserError


async def test_manual_market_order_by_notional_fills_on_the_sandbox(start_engine, exchange_view):
    """按名义金额买入：dry_run 只预览（不下单），真正下单后在沙盒成交，手动持仓记在交易对下。"""
    handle = await start_engine([flip(period=1000)])  # period 很大：Flip 几乎不交易，只看手动单
    engine = handle.engine
    await wait_for(lambda: engine.mark_price("BTC/USDT") > 0, 10, "a BTC price")
    client = InProcessClient(engine)
    preview = await client.command("manual_order", symbol="BTC/USDT", side="buy", notional=200.0, dry_run=True)
    assert preview["allowed"] and preview["amount"] > 0
    assert preview["notional"] == pytest.approx(200.0, rel=0.01)
    assert not engine.orders.orders  # 预览不下单
    result = await client.command("manual_order", symbol="BTC/USDT", side="buy", notional=200.0)
    assert result["symbol"] == "BTC/USDT" and result["reason"] == "manual"
    await wait_for(lambda: engine.manual_positions.get("BTC/USDT") is not None
                   and engine.manual_positions["BTC/USDT"].amount > 0, 10, "manual position")
    assert engine.manual_positions["BTC/USDT"].amount == pytest.approx(preview["amount"], rel=1e-6)
    balance = await exchange_view.fetch_balance()
    assert balance["total"]["BTC"] == pytest.approx(preview["amount"], rel=1e-6)


async def test_manual_limit_order_rests_and_can_be_cancelled(start_engine):
    """远低于市价的限价买单挂在交易所上（出现在快照的挂单里），cancel_order 撤掉它。"""
    handle = await start_engine([flip(period=1000)])
    engine = handle.engine
    await wait_for(lambda: engine.mark_price("BTC/USDT") > 0, 10, "a BTC price")
    price = round(engine.mark_price("BTC/USDT") * 0.95, 2)
    client = InProcessClient(engine)
    order = await client.command("manual_order", symbol="BTC/USDT", side="buy", amount=0.001, type="limit",
                                 price=price)
    snapshot = await client.snapshot()
    assert [o["client_order_id"] for o in snapshot["orders"]] == [order["client_order_id"]]
    await client.command("cancel_order", client_order_id=order["client_order_id"])
    await wait_for(lambda: not engine.orders.open_orders(), 10, "no open orders")


async def test_manual_order_argument_errors_are_user_errors(start_engine):
    """未知交易对、数量与名义金额同给、限价单缺价、风控拒绝：都以英文 UserError 说明。"""
    handle = await start_engine([flip(period=1000)], risk={"max_order_notional": 100})
    engine = handle.engine
    await wait_for(lambda: engine.mark_price("BTC/USDT") > 0, 10, "a BTC price")
    with pytest.raises(UserError, match="unknown symbol 'DOGE/USDT'"):
        await engine.command("manual_order", symbol="DOGE/USDT", side="buy", amount=1.0)
    with pytest.raises(UserError, match="exactly one of amount"):
        await engine.command("manual_order", symbol="BTC/USDT", side="buy", amount=1.0, notional=10.0)
    with pytest.raises(UserError, match="limit order needs a positive price"):
        await engine.command("manual_order", symbol="BTC/USDT", side="buy", amount=1.0, type="limit")
    with pytest.raises(UserError, match="side is buy or sell"):
        await engine.command("manual_order", symbol="BTC/USDT", side="long", amount=1.0)
    preview = await engine.command("manual_order", symbol="BTC/USDT", side="buy", notional=500.0, dry_run=True)
    assert not preview["allowed"] and preview["rule"] == "max_order_notional"
    with pytest.raises(UserError, match="refused by risk rule max_order_notional"):
        await engine.command("manual_order", symbol="BTC/USDT", side="buy", notional=500.0)
    assert not engine.orders.orders
