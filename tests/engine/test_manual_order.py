"""manual_order 命令：界面的下单框经 EngineClient 下手动单——预览风控、按名义金额折算数量、成交记账、参数错误。"""

from __future__ import annotations

import asyncio

import pytest

from tests.engine.conftest import flip, wait_for
from tests.engine.test_control_requests import TOKEN, raw, served_engine  # noqa: F401 (夹具)
from tradeterm.engine.client import InProcessClient
from tradeterm.engine.control import SocketClient
from tradeterm.engine.events import EventKind
from tradeterm.engine.protocol import show
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


async def test_manual_order_fields_are_strictly_typed_over_the_socket(served_engine, raw):
    """经真实套接字：布尔不是数（amount: true 不是 1.0）、字符串不是数、0 与负数、方向与类型只认列出的取值、
    交易对须是文本且在交易——每条一个 user 错误（字段: 值 问题; 修正），什么都没下。"""
    engine, _ = served_engine
    base = {"symbol": "BTC/USDT", "side": "buy", "dry_run": True}
    amount_fix = "give a positive amount in the base currency, e.g. 0.01"
    cases = [
        ({"amount": True}, f"manual_order.amount: true is a boolean, not a number; {amount_fix}"),
        ({"amount": False}, f"manual_order.amount: false is a boolean, not a number; {amount_fix}"),
        ({"amount": "0.01"}, f"manual_order.amount: '0.01' is a string, not a number; {amount_fix}"),
        ({"amount": [0.01]}, f"manual_order.amount: [0.01] is an array, not a number; {amount_fix}"),
        ({"amount": 0}, f"manual_order.amount: 0 must be greater than 0; {amount_fix}"),
        ({"amount": -0.5}, f"manual_order.amount: -0.5 must be greater than 0; {amount_fix}"),
        ({"notional": True}, "manual_order.notional: true is a boolean, not a number; give a positive amount in the "
                             "quote currency, e.g. 100"),
        ({"amount": 0.001, "type": "limit", "price": True}, "manual_order.price: true is a boolean, not a number; "
                                                            "give a positive limit price, e.g. 27000.5"),
        ({"amount": 0.001, "side": "BUY"}, "manual_order.side: 'BUY' is not one of buy, sell; side is buy or sell"),
        ({"amount": 0.001, "side": True}, "manual_order.side: true is a boolean, not text; side is buy or sell"),
        ({"amount": 0.001, "side": None}, "manual_order.side: missing; side is buy or sell"),
        ({"amount": 0.001, "type": "stop"}, "manual_order.type: 'stop' is not one of market, limit; type is market "
                                            "or limit"),
        ({"amount": 0.001, "symbol": 5}, 'manual_order.symbol: 5 is a number, not text; give a traded symbol, '
                                         'e.g. "BTC/USDT"'),
        ({"amount": 0.001, "symbol": "DOGE/USDT"}, "manual_order.symbol: unknown symbol 'DOGE/USDT' for a manual "
                                                   "order; traded symbols: BTC/USDT, ETH/USDT"),
        ({"amount": 0.001, "dry_run": "true"}, "manual_order.dry_run: 'true' is a string, not true or false; use "
                                               "true or false"),
        ({"amount": 0.001, "dry_run": 1}, "manual_order.dry_run: 1 is a number, not true or false; use true or "
                                          "false"),
        ({"amount": 0.001, "notional": 10}, "manual_order: give exactly one of amount (base currency) or notional "
                                            "(quote currency)"),
        ({}, "manual_order: give exactly one of amount (base currency) or notional (quote currency)"),
        ({"amount": 0.001, "type": "limit"}, "manual_order.price: missing; a limit order needs a positive price"),
        ({"amount": 0.001, "price": 100.0}, "manual_order.price: 100 is only for limit orders; leave it out for a "
                                            "market order or set type to limit"),
        ({"amount": 0.001, "sl": 1}, "manual_order.sl: unknown argument (did you mean 'symbol'?); manual_order "
                                     "takes: symbol, side, amount, notional, type, price, dry_run"),
    ]
    for number, (change, error) in enumerate(cases):
        reply = await raw.request(id=number, op="command", name="manual_order", args={**base, **change})
        assert reply == {"id": number, "ok": False, "type": "user", "error": error}, change
    assert engine.orders.orders == {}


async def test_in_process_manual_orders_refuse_non_finite_and_overflowing_numbers(served_engine):
    """进程内（控制台）同样严格：NaN、无穷大、放不进浮点数的整数都被拒；名义金额折算出无穷大的数量也被拒。"""
    engine, _ = served_engine
    fix = "give a positive amount in the base currency, e.g. 0.01"
    for value, error in ((float("nan"), f"nan is not a finite number; {fix}"),
                         (float("inf"), f"inf is not a finite number; {fix}"),
                         (10 ** 400, f"{show(10 ** 400)} is too large to be a price or amount; {fix}")):
        with pytest.raises(UserError) as caught:
            await engine.command("manual_order", symbol="BTC/USDT", side="buy", amount=value, dry_run=True)
        assert str(caught.value) == f"manual_order.amount: {error}"
    with pytest.raises(UserError, match=r"^manual_order\.notional: 1e\+308 at price 1e-09 is too large an amount"):
        await engine.command("manual_order", symbol="BTC/USDT", side="buy", notional=1e308, type="limit",
                             price=1e-9, dry_run=True)
    assert engine.orders.orders == {}


async def test_dry_run_applies_the_exchange_rules_of_a_real_submission(served_engine, exchange_view):
    """dry run 与真正下单走同一套交易所规则：价格 1e-9 的预览是 allowed: False（价格档位与最小名义金额都写明），
    真正下单被同样的理由拒绝、什么也没发到交易所；不在价格档位上的价格、名义金额不足、取整成 0 的数量同样被预览拒绝。"""
    engine, server = served_engine
    async with await SocketClient.connect(server.socket_path, TOKEN) as client:
        order = {"symbol": "BTC/USDT", "side": "buy", "amount": 0.001, "type": "limit", "price": 1e-9}
        preview = await client.command("manual_order", **order, dry_run=True)
        reason = ("price 1e-09 is below the market's price tick 0.01 (price filter); give at least 0.01; "
                  "notional below the market's minimum notional (lot size / notional filter): amount 0.001 x price "
                  "1e-09 = notional 1e-12; the market needs an amount of at least 1e-05 and a notional of at least 5")
        assert preview["allowed"] is False and preview["rule"] == "exchange_rules" and preview["reason"] == reason
        subscription = engine.bus.subscribe()
        with pytest.raises(UserError) as caught:
            await client.command("manual_order", **order)
        assert str(caught.value) == f"order refused by exchange rules: {reason}"
        rejection = await asyncio.wait_for(next_rejection(subscription), 10)
        subscription.close()
        assert rejection.data["rule"] == "exchange_rules" and rejection.data["reason"] == reason

        price = round(engine.mark_price("BTC/USDT") * 0.9, 2)
        off_tick = await client.command("manual_order", **{**order, "price": price + 0.004}, dry_run=True)
        assert not off_tick["allowed"] and off_tick["rule"] == "exchange_rules"
        assert off_tick["reason"] == (f"price {price + 0.004:.12g} is not a multiple of the market's price tick 0.01 "
                                      f"(price filter); use {price:.12g}")
        small = await client.command("manual_order", **{**order, "price": price, "amount": 0.00001}, dry_run=True)
        assert not small["allowed"] and small["reason"].startswith(
            "notional below the market's minimum notional (lot size / notional filter): amount 1e-05 x price")
        dust = await client.command("manual_order", symbol="BTC/USDT", side="buy", amount=0.000001, dry_run=True)
        assert not dust["allowed"] and dust["amount"] == 0 and dust["reason"].startswith("amount rounds to zero")
        fine = await client.command("manual_order", **{**order, "price": price}, dry_run=True)
        assert fine["allowed"] is True and fine["rule"] == ""
    assert engine.orders.orders == {}
    assert await exchange_view.fetch_open_orders("BTC/USDT") == []


async def next_rejection(subscription):
    """从事件订阅里等到下一条拒绝事件。"""
    while True:
        event = await subscription.get()
        if event.kind is EventKind.REJECTION:
            return event
