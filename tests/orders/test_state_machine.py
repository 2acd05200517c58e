"""订单状态机：正常生命周期、重复与乱序消息被忽略、终态不可逆、成交按 (账户, 交易所订单号, 成交编号) 去重。"""

from __future__ import annotations

import pytest

from tradeterm.models import Fill, Order, OrderStatus, OrderType, Side
from tradeterm.orders import FillLedger, OrderUpdate, apply_update, can_transition


def limit_order() -> Order:
    """1 BTC 限价买单，限价 100 USDT。"""
    return Order("BTC/USDT", Side.BUY, OrderType.LIMIT, amount=1.0, price=100.0)


def test_lifecycle_new_open_partial_filled():
    """new -> open -> 部分成交 0.4 -> 全部成交；每步都改变订单。"""
    order = limit_order()
    assert apply_update(order, OrderUpdate(OrderStatus.OPEN, 0.0, exchange_order_id="9", ts=1))
    assert apply_update(order, OrderUpdate(OrderStatus.PARTIALLY_FILLED, 0.4, 100.0, ts=2))
    assert order.remaining == pytest.approx(0.6)
    assert apply_update(order, OrderUpdate(OrderStatus.FILLED, 1.0, 99.9, ts=3))
    assert order.status is OrderStatus.FILLED and order.exchange_order_id == "9" and order.updated_ts == 3


def test_duplicate_and_out_of_order_messages_are_ignored():
    """重复消息幂等；成交数量倒退的旧消息与终态后的 open 消息都被忽略。"""
    order = limit_order()
    apply_update(order, OrderUpdate(OrderStatus.PARTIALLY_FILLED, 0.6, 100.0, ts=5))
    assert not apply_update(order, OrderUpdate(OrderStatus.PARTIALLY_FILLED, 0.6, 100.0, ts=5))
    assert not apply_update(order, OrderUpdate(OrderStatus.PARTIALLY_FILLED, 0.3, 100.0, ts=4))
    assert not apply_update(order, OrderUpdate(OrderStatus.OPEN, 0.6, ts=6)), "no step back to open"
    assert order.filled == pytest.approx(0.6)
    apply_update(order, OrderUpdate(OrderStatus.CANCELLED, 0.6, ts=7))
    assert not apply_update(order, OrderUpdate(OrderStatus.FILLED, 1.0, ts=8)), "final states are final"
    assert order.status is OrderStatus.CANCELLED


def test_transition_table():
    """新单可直接成交或被拒；挂单不能被拒（拒绝只发生在受理前）；终态无出边。"""
    assert can_transition(OrderStatus.NEW, OrderStatus.FILLED)
    assert can_transition(OrderStatus.NEW, OrderStatus.REJECTED)
    assert not can_transition(OrderStatus.OPEN, OrderStatus.REJECTED)
    assert not can_transition(OrderStatus.FILLED, OrderStatus.CANCELLED)


def test_ccxt_order_maps_to_update():
    """ccxt 的 open + 已成交 0.5 -> partially_filled；closed -> filled；canceled -> cancelled。"""
    partial = OrderUpdate.from_ccxt({"id": 12, "status": "open", "filled": 0.5, "average": 101.0, "timestamp": 9})
    assert partial.status is OrderStatus.PARTIALLY_FILLED and partial.exchange_order_id == "12"
    assert OrderUpdate.from_ccxt({"id": 1, "status": "closed", "filled": 1}).status is OrderStatus.FILLED
    assert OrderUpdate.from_ccxt({"id": 1, "status": "canceled", "filled": 0}).status is OrderStatus.CANCELLED


def test_fill_ledger_deduplicates_by_account_order_and_trade_id():
    """同一 (账户, 交易所订单号, 成交编号) 只记一次（推送与轮询都报告了它）；同号成交在另一张订单上是另一笔。"""
    ledger = FillLedger({("acct", "o1", "7")})
    fill = Fill("cid", "BTC/USDT", Side.BUY, 100.0, 0.1, 0.01, "USDT", 0, trade_id="7", exchange_order_id="o2",
                account="acct")
    assert ledger.accept(fill)
    assert not ledger.accept(fill)
    assert not ledger.accept(Fill("cid", "ETH/USDT", Side.BUY, 100.0, 0.1, 0.01, "USDT", 0, trade_id="7",
                                  exchange_order_id="o1", account="acct"))
