"""持仓记账：加仓均价、减仓实现盈亏、反手、手续费累计；订单与信号的基本约束。"""

from __future__ import annotations

import pytest

from tradeterm.models import Fill, Order, OrderStatus, OrderType, Position, Side, SignalIntent, TradeSignal


def fill(side: Side, price: float, amount: float, fee: float = 0.0) -> Fill:
    """造一笔 BTC/USDT 成交，手续费以 USDT 计。"""
    return Fill("cid", "BTC/USDT", side, price, amount, fee, "USDT", 0)


def test_adding_averages_entry_and_reducing_realises_pnl():
    """买 1 @100、买 1 @110 -> 均价 105；卖 0.5 @120 -> 实现 (120-105)*0.5 = 7.5；手续费累计 0.3。"""
    position = Position("BTC/USDT")
    position.apply(fill(Side.BUY, 100.0, 1.0, 0.1))
    position.apply(fill(Side.BUY, 110.0, 1.0, 0.1))
    assert position.entry_price == pytest.approx(105.0) and position.amount == pytest.approx(2.0)
    assert position.apply(fill(Side.SELL, 120.0, 0.5, 0.1)) == pytest.approx(7.5)
    assert position.amount == pytest.approx(1.5) and position.entry_price == pytest.approx(105.0)
    assert position.fees == pytest.approx(0.3)
    assert position.unrealized_pnl(100.0) == pytest.approx(-7.5)


def test_reversal_closes_then_opens_at_fill_price():
    """持多 1 @100，卖 3 @90：平 1 实现 -10，剩 -2 空仓，均价 90。"""
    position = Position("BTC/USDT", amount=1.0, entry_price=100.0)
    assert position.apply(fill(Side.SELL, 90.0, 3.0)) == pytest.approx(-10.0)
    assert position.amount == pytest.approx(-2.0) and position.entry_price == 90.0
    assert position.side is Side.SELL
    # 空头浮盈：价格跌到 80，(80-90)*(-2) = +20
    assert position.unrealized_pnl(80.0) == pytest.approx(20.0)


def test_flat_after_full_close():
    """全部平掉后均价归零、方向为空。"""
    position = Position("BTC/USDT", amount=-1.0, entry_price=50.0)
    assert position.apply(fill(Side.BUY, 40.0, 1.0)) == pytest.approx(10.0)
    assert position.amount == 0 and position.entry_price == 0.0 and position.side is None


def test_order_remaining_and_state():
    """订单：剩余数量、终态判断、客户端订单号唯一且不超过 Binance 的 36 字符。"""
    order = Order("BTC/USDT", Side.BUY, OrderType.LIMIT, amount=1.0, price=100.0)
    order.filled = 0.4
    assert order.remaining == pytest.approx(0.6) and order.is_open
    order.status = OrderStatus.CANCELLED
    assert not order.is_open
    ids = {Order("BTC/USDT", Side.BUY, OrderType.MARKET, 1.0).client_order_id for _ in range(100)}
    assert len(ids) == 100 and all(len(i) <= 36 for i in ids)


def test_signal_rejects_nonsense_prices():
    """信号的价格必须为正；限价信号必须带限价。"""
    with pytest.raises(ValueError, match="stop_loss"):
        TradeSignal("BTC/USDT", Side.BUY, SignalIntent.OPEN_LONG, stop_loss=-1.0)
    with pytest.raises(ValueError, match="limit_price"):
        TradeSignal("BTC/USDT", Side.BUY, SignalIntent.OPEN_LONG, order_type=OrderType.LIMIT)
