"""撮合模型（tradeterm/execution/fills.py）的纯函数：每条规则用手算的数字检查。"""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeterm.execution.fills import (
    REJECT_MIN_AMOUNT, REJECT_MIN_NOTIONAL, REJECT_NONE, REJECT_ZERO_AMOUNT, MarketRules, affordable_amount,
    apply_slippage, fee_amount, limit_fill_price, market_fill_price, market_rules_from_ccxt, order_reject_reason,
    round_amount, round_price, round_prices, stop_fill_price, take_profit_fill_price, tighter_stop, trailing_stop_level,
)


def test_slippage_moves_buy_up_and_sell_down():
    """10 bps：买 100 -> 100 * 1.001 = 100.1；卖 100 -> 99.9。"""
    assert apply_slippage(100.0, 1, 10.0) == pytest.approx(100.1)
    assert apply_slippage(100.0, -1, 10.0) == pytest.approx(99.9)
    assert apply_slippage(100.0, 1, 0.0) == 100.0


def test_market_order_fills_at_open_plus_slippage():
    """市价买单在开盘价 200 成交，5 bps 滑点：200 * 1.0005 = 200.1。"""
    assert market_fill_price(200.0, 1, 5.0) == pytest.approx(200.1)
    assert market_fill_price(200.0, -1, 5.0) == pytest.approx(199.9)


def test_amount_is_floored_to_step():
    """0.123456 BTC，步长 0.00001 -> 0.12345（向下取整，不四舍五入）；步长 0 不取整。"""
    assert round_amount(0.123456, 0.00001) == pytest.approx(0.12345)
    assert round_amount(0.1234599, 0.0001) == pytest.approx(0.1234)
    assert round_amount(0.123456, 0.0) == 0.123456


def test_amount_on_the_step_grid_is_not_cut_by_float_noise():
    """0.3 / 0.1 在浮点里是 2.9999999999999996；取整后仍应是 3 个步长 = 0.3，而不是 0.2。"""
    assert round_amount(0.3, 0.1) == pytest.approx(0.3)


def test_price_rounds_to_nearest_tick():
    """档位 0.01：100.004 -> 100.00，100.006 -> 100.01；档位 0 不取整。"""
    assert round_price(100.004, 0.01) == pytest.approx(100.0)
    assert round_price(100.006, 0.01) == pytest.approx(100.01)
    assert round_price(100.006, 0.0) == 100.006


def test_order_below_min_notional_or_amount_is_rejected():
    """最小名义 5 USDT：0.0002 BTC * 20000 = 4 USDT < 5 拒绝；0.0003 * 20000 = 6 可以。最小数量 0.001：0.0005 拒绝。"""
    assert order_reject_reason(0.0002, 20_000.0, 0.0, 5.0) == REJECT_MIN_NOTIONAL
    assert order_reject_reason(0.0003, 20_000.0, 0.0, 5.0) == REJECT_NONE
    assert order_reject_reason(0.0005, 20_000.0, 0.001, 0.0) == REJECT_MIN_AMOUNT
    assert order_reject_reason(0.0, 20_000.0, 0.0, 0.0) == REJECT_ZERO_AMOUNT


def test_buy_limit_fills_at_limit_when_low_trades_through():
    """买限价 99：K 线 open 100 high 101 low 98.5，low <= 99 -> 成交于 99。"""
    assert limit_fill_price(100.0, 101.0, 98.5, 1, 99.0) == 99.0


def test_buy_limit_fills_at_open_when_gapped_below():
    """买限价 99：开盘就到 97（跳空到限价之下）-> 成交于开盘价 97（更优）。"""
    assert limit_fill_price(97.0, 98.0, 96.0, 1, 99.0) == 97.0


def test_limit_not_reached_does_not_fill():
    """买限价 99 而 low = 99.5；卖限价 102 而 high = 101.5：都不成交（NaN）。"""
    assert math.isnan(limit_fill_price(100.0, 101.0, 99.5, 1, 99.0))
    assert math.isnan(limit_fill_price(100.0, 101.5, 99.0, -1, 102.0))


def test_sell_limit_fills_at_limit_or_gapped_open():
    """卖限价 102：high 103 -> 102；开盘 104 已在限价之上 -> 104。"""
    assert limit_fill_price(100.0, 103.0, 99.0, -1, 102.0) == 102.0
    assert limit_fill_price(104.0, 105.0, 103.0, -1, 102.0) == 104.0


def test_long_stop_triggers_when_low_reaches_it():
    """多仓止损 95（卖出平仓，side=-1）：low 94 <= 95 -> 成交于 95；加 10 bps 滑点 -> 95 * 0.999 = 94.905。"""
    assert stop_fill_price(100.0, 101.0, 94.0, -1, 95.0, 0.0) == 95.0
    assert stop_fill_price(100.0, 101.0, 94.0, -1, 95.0, 10.0) == pytest.approx(94.905)


def test_gap_through_stop_fills_at_open():
    """多仓止损 95：开盘就跳到 90 -> 成交于开盘价 90（不是 95）。"""
    assert stop_fill_price(90.0, 92.0, 89.0, -1, 95.0, 0.0) == 90.0


def test_short_stop_triggers_on_high_and_gaps_at_open():
    """空仓止损 105（买入平仓，side=+1）：high 106 -> 105；开盘 108 -> 108。"""
    assert stop_fill_price(100.0, 106.0, 99.0, 1, 105.0, 0.0) == 105.0
    assert stop_fill_price(108.0, 109.0, 107.0, 1, 105.0, 0.0) == 108.0
    assert math.isnan(stop_fill_price(100.0, 104.0, 99.0, 1, 105.0, 0.0))


def test_take_profit_fills_at_target_when_high_reaches_it():
    """多仓止盈 110（卖出）：high 111 -> 110；high 109 -> 不成交。"""
    assert take_profit_fill_price(100.0, 111.0, 99.0, -1, 110.0) == 110.0
    assert math.isnan(take_profit_fill_price(100.0, 109.0, 99.0, -1, 110.0))


def test_fee_is_rate_times_notional():
    """名义 2000 USDT，费率 0.1% -> 2 USDT。"""
    assert fee_amount(2000.0, 0.001) == pytest.approx(2.0)


def test_affordable_amount_includes_fee_and_floors_to_step():
    """1000 USDT、价格 100、费率 0.1%：1000 / (100 * 1.001) = 9.99000999 -> 步长 0.01 取整为 9.99。"""
    assert affordable_amount(1000.0, 100.0, 0.001, 0.01) == pytest.approx(9.99)
    assert affordable_amount(1000.0, 100.0, 0.001, 0.0) == pytest.approx(1000.0 / 100.1)
    assert affordable_amount(0.0, 100.0, 0.001, 0.01) == 0.0


def test_trailing_stop_level_follows_best_price():
    """最高价 120、回撤 5% -> 多仓止损 114；最低价 80、空仓 -> 84。"""
    assert trailing_stop_level(120.0, 1, 0.05) == pytest.approx(114.0)
    assert trailing_stop_level(80.0, -1, 0.05) == pytest.approx(84.0)


def test_tighter_stop_keeps_the_closer_level():
    """多仓取较高的止损，空仓取较低的；NaN 表示没有。"""
    assert tighter_stop(95.0, 97.0, 1) == 97.0
    assert tighter_stop(105.0, 103.0, -1) == 103.0
    assert tighter_stop(math.nan, 97.0, 1) == 97.0


def test_market_rules_from_ccxt_tick_size_market():
    """ccxt 的 Binance 市场（TICK_SIZE 模式）：precision 即步长，limits.cost.min 即最小名义。"""
    market = {"symbol": "BTC/USDT", "precision": {"price": 0.01, "amount": 0.00001},
              "limits": {"amount": {"min": 0.00001, "max": 9000}, "cost": {"min": 5.0}}}
    assert market_rules_from_ccxt(market) == MarketRules(0.01, 0.00001, 0.00001, 5.0)


def test_market_rules_from_ccxt_decimal_places_market():
    """DECIMAL_PLACES 模式（precision 为小数位数）：price 2 位 -> 0.01，amount 5 位 -> 0.00001。"""
    market = {"precision": {"price": 2, "amount": 5}, "limits": {}}
    rules = market_rules_from_ccxt(market, precision_mode=2)
    assert rules.price_tick == pytest.approx(0.01) and rules.amount_step == pytest.approx(0.00001)
    assert rules.min_notional == 0.0 and not rules.is_free


def test_prices_and_amounts_that_cannot_be_rounded_are_returned_unchanged():
    """NaN、±inf 与超过 2^62 档的值无从取整：原样返回（Python 的 math.floor 会对它们抛错，编译后的代码会溢出）。"""
    for value in (math.nan, math.inf, -math.inf, 1e300, -1e300):
        assert round_price(value, 0.01) == value or math.isnan(value) and math.isnan(round_price(value, 0.01))
        assert round_amount(value, 0.001) == value or math.isnan(value) and math.isnan(round_amount(value, 0.001))
    assert round_price(2.0 ** 61 * 0.5, 0.5) == 2.0 ** 61 * 0.5  # 2^61 档以内照常取整（本来就在网格上）
    assert round_price(100.0, math.nan) == 100.0  # 档位本身无效：同样原样返回


@settings(max_examples=200)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64), min_size=1, max_size=50),
       st.sampled_from([0.0, -1.0, 0.01, 0.5, 1e-8, 3.0, 1e250, math.nan]))
@pytest.mark.fuzz
def test_array_rounding_equals_round_price_element_by_element(prices, tick):
    """round_prices（沙盒一次取整整段行情）的每个元素与 round_price 的结果逐位相同（NaN 只看是不是 NaN）。"""
    rounded = round_prices(np.array(prices), tick)
    for price, value in zip(prices, rounded.tolist()):
        expected = round_price(price, tick)
        assert (math.isnan(value) and math.isnan(expected)) or struct.pack("<d", value) == struct.pack("<d", expected)
