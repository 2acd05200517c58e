"""回测引擎的成交规则：手工 K 线（几根一组），期望成交在注释里手算。

向量化的剧本策略在两条路径（numba 快速路径与逐事件路径）上都跑一遍，期望相同。
"""

from __future__ import annotations

import numpy as np
import pytest

from tradeterm.backtest import engine
from tradeterm.backtest.broker import FeeSchedule
from tradeterm.backtest.engine import BacktestSettings, InstanceSpec, run_backtest
from tradeterm.execution.fills import MarketRules
from tradeterm.backtest.results import EXIT_SIGNAL, EXIT_STOP_LOSS, EXIT_TAKE_PROFIT, EXIT_TRAILING_STOP
from tradeterm.sizing.sizers import SIZE_FRACTION, SIZE_NOTIONAL, Sizer
from tradeterm.models import MarketType
from tests.backtest.scripted import START_TS, STEP_MS, LimitBuyer, Scripted, make_bars

# 两条路径都要满足同样的规则
PATHS = ["fast", "event"]
# 五根上涨的 K 线：开盘 100、102、104、106、108，收盘比开盘高 0（收盘 = 开盘）
RISING = make_bars([(100, 101, 99, 100), (102, 103, 101, 102), (104, 105, 103, 104), (106, 107, 105, 106),
                    (108, 109, 107, 108)])


def run(strategy, bars, *, path="event", cash=1000.0, maker=0.001, taker=0.001, slippage_bps=0.0,
        rules=MarketRules(), sizer=Sizer(), trailing_stop=0.0, risk_check=None):
    """跑一个实例，返回 (实例结果, 组合结果)。"""
    spec = InstanceSpec(strategy, bars, rules=rules, sizer=sizer, trailing_stop=trailing_stop)
    settings = BacktestSettings(cash=cash, fees=FeeSchedule(maker, taker, slippage_bps), path=path,
                                risk_check=risk_check)
    result = run_backtest([spec], settings)
    return result.instances[0], result


@pytest.mark.parametrize("path", PATHS)
def test_signal_at_close_fills_at_next_open_with_taker_fee(path):
    """第 0 根收盘开多 -> 第 1 根开盘 102 买入；第 2 根收盘平多 -> 第 3 根开盘 106 卖出。

    全仓：数量 = 1000 / (102 * 1.001) = 9.79413...；开仓费 = 数量 * 102 * 0.001 = 0.999000999；
    平仓费 = 数量 * 106 * 0.001；净盈亏 = 数量 * (106 - 102) - 两边手续费。
    """
    result, portfolio = run(Scripted({0: {"enter_long": True}, 2: {"exit_long": True}}), RISING, path=path)
    amount = 1000 / (102 * 1.001)
    (trade,) = result.trades
    assert (trade.entry_ts, trade.exit_ts) == (START_TS + STEP_MS, START_TS + 3 * STEP_MS)
    assert (trade.entry_price, trade.exit_price) == (102.0, 106.0)
    assert trade.amount == pytest.approx(amount, rel=1e-12)
    assert trade.entry_fee == pytest.approx(amount * 102 * 0.001, rel=1e-12)
    assert trade.exit_fee == pytest.approx(amount * 106 * 0.001, rel=1e-12)
    pnl = amount * 4 - amount * 102 * 0.001 - amount * 106 * 0.001
    assert trade.pnl == pytest.approx(pnl, rel=1e-12)
    assert trade.exit_reason == EXIT_SIGNAL
    # 全仓买入后现金为 0：第 1 根收盘时权益 = 数量 * 102 = 1000 - 开仓费
    assert portfolio.equity[1] == pytest.approx(1000 - amount * 102 * 0.001, rel=1e-12)
    assert portfolio.equity[-1] == pytest.approx(1000 + pnl, rel=1e-12)


@pytest.mark.parametrize("path", PATHS)
def test_slippage_moves_both_fills_against_the_trader(path):
    """20 bps：买在 102 * 1.002 = 102.204，卖在 106 * 0.998 = 105.788。"""
    result, _ = run(Scripted({0: {"enter_long": True}, 2: {"exit_long": True}}), RISING, path=path,
                    slippage_bps=20.0)
    (trade,) = result.trades
    assert trade.entry_price == pytest.approx(102.204)
    assert trade.exit_price == pytest.approx(105.788)
    assert trade.amount == pytest.approx(1000 / (102.204 * 1.001))


# 止损/止盈用的 K 线：第 1 根开盘 100 入场，第 2 根由各测试给出
def protective_bars(bar2):
    """第 0、1 根平稳（开盘 100），第 2 根为 bar2，第 3 根平稳。"""
    return make_bars([(100, 100.5, 99.5, 100), (100, 101, 99, 100), bar2, (100, 101, 99, 100)])


@pytest.mark.parametrize("path", PATHS)
def test_stop_hit_before_target_when_both_inside_bar(path):
    """止损 95、止盈 110；第 2 根 high 112 与 low 94 都碰到 -> 假定止损先触发，成交于 95，收 taker 费。"""
    script = {0: {"enter_long": True, "stop_loss": 95.0, "take_profit": 110.0}}
    result, _ = run(Scripted(script), protective_bars((100, 112, 94, 100)), path=path, maker=0.0002)
    (trade,) = result.trades
    assert (trade.exit_index, trade.exit_price, trade.exit_reason) == (2, 95.0, EXIT_STOP_LOSS)
    assert trade.exit_fee == pytest.approx(trade.amount * 95 * 0.001)


@pytest.mark.parametrize("path", PATHS)
def test_gap_through_stop_fills_at_open(path):
    """止损 95；第 2 根开盘就跳空到 90 -> 成交于开盘价 90，不是 95。"""
    result, _ = run(Scripted({0: {"enter_long": True, "stop_loss": 95.0}}), protective_bars((90, 92, 89, 91)),
                    path=path)
    (trade,) = result.trades
    assert (trade.exit_price, trade.exit_reason) == (90.0, EXIT_STOP_LOSS)


@pytest.mark.parametrize("path", PATHS)
def test_take_profit_fills_at_target_with_maker_fee(path):
    """止盈 110；第 2 根 high 112、low 99（没碰止损 95）-> 成交于 110，收 maker 费 0.02%：数量 * 110 * 0.0002。"""
    script = {0: {"enter_long": True, "stop_loss": 95.0, "take_profit": 110.0}}
    result, _ = run(Scripted(script), protective_bars((100, 112, 99, 105)), path=path, maker=0.0002)
    (trade,) = result.trades
    assert (trade.exit_price, trade.exit_reason) == (110.0, EXIT_TAKE_PROFIT)
    assert trade.exit_fee == pytest.approx(trade.amount * 110 * 0.0002)


@pytest.mark.parametrize("path", PATHS)
def test_trailing_stop_uses_best_price_of_closed_bars(path):
    """移动止损 10%：第 1 根开盘 100 入场，当根止损 = 100 * 0.9 = 90（low 99 未触发），收盘后最高价更新为 120；
    第 2 根止损 = 120 * 0.9 = 108，low 107 触发 -> 成交于 108。"""
    bars = make_bars([(100, 100.5, 99.5, 100), (100, 120, 99, 118), (115, 116, 107, 110), (110, 111, 109, 110)])
    result, _ = run(Scripted({0: {"enter_long": True}}), bars, path=path, trailing_stop=0.10)
    (trade,) = result.trades
    assert (trade.exit_index, trade.exit_reason) == (2, EXIT_TRAILING_STOP)
    assert trade.exit_price == pytest.approx(108.0)


@pytest.mark.parametrize("path", PATHS)
def test_spot_buy_is_capped_by_free_cash_and_floored_to_step(path):
    """想买 5000 USDT 的名义金额，但只有 1000 现金：封顶为 floor(1000 / (102 * 1.001), 0.01) = 9.79。"""
    rules = MarketRules(price_tick=0.01, amount_step=0.01)
    result, _ = run(Scripted({0: {"enter_long": True}}), RISING, path=path, rules=rules,
                    sizer=Sizer(SIZE_NOTIONAL, 5000.0))
    (trade,) = result.trades
    assert trade.amount == pytest.approx(9.79)
    assert trade.is_open


@pytest.mark.parametrize("path", PATHS)
def test_order_under_min_notional_is_rejected(path):
    """固定名义 4 USDT：数量 4 / 102 = 0.0392... 取整到 0.001 为 0.039，名义 3.978 < 最小 5 -> 拒绝，没有交易。"""
    rules = MarketRules(price_tick=0.01, amount_step=0.001, min_notional=5.0)
    result, _ = run(Scripted({0: {"enter_long": True}}), RISING, path=path, rules=rules,
                    sizer=Sizer(SIZE_NOTIONAL, 4.0))
    assert result.trades == []
    (rejection,) = result.rejections
    assert rejection.amount == pytest.approx(0.039)
    assert rejection.reason == "notional below the market's minimum notional"
    assert rejection.ts == START_TS + STEP_MS


@pytest.mark.parametrize("path", PATHS)
def test_spot_is_long_only(path):
    """现货上的开空信号被丢弃：没有交易，权益保持 1000。"""
    result, portfolio = run(Scripted({0: {"enter_short": True}, 2: {"exit_short": True}}), RISING, path=path)
    assert result.trades == [] and result.rejections == []
    assert portfolio.equity[-1] == 1000.0


@pytest.mark.parametrize("path", PATHS)
def test_futures_short_profits_when_price_falls(path):
    """合约：第 0 根收盘开空 -> 第 1 根开盘 98 卖出；第 2 根收盘平空 -> 第 3 根开盘 94 买回。

    数量 = 1000 / (98 * 1.001)；净盈亏 = 数量 * (98 - 94) - 数量 * 98 * 0.001 - 数量 * 94 * 0.001。
    """
    falling = make_bars([(100, 101, 99, 100), (98, 99, 97, 98), (96, 97, 95, 96), (94, 95, 93, 94),
                         (92, 93, 91, 92)])
    script = {0: {"enter_short": True}, 2: {"exit_short": True}}
    result, portfolio = run(Scripted(script, market_type=MarketType.FUTURES), falling, path=path)
    amount = 1000 / (98 * 1.001)
    (trade,) = result.trades
    assert (trade.side, trade.entry_price, trade.exit_price) == (-1, 98.0, 94.0)
    pnl = amount * 4 - amount * 98 * 0.001 - amount * 94 * 0.001
    assert trade.pnl == pytest.approx(pnl, rel=1e-12)
    assert portfolio.equity[-1] == pytest.approx(1000 + pnl, rel=1e-12)
    # 持空期间第 2 根收盘 96：权益 = 1000 - 开仓费 + 数量 * (98 - 96)
    assert portfolio.equity[2] == pytest.approx(1000 - amount * 98 * 0.001 + amount * 2, rel=1e-12)


@pytest.mark.parametrize("path", PATHS)
def test_exit_is_processed_before_entry_on_the_same_bar(path):
    """合约反手：第 0 根开多；第 1 根收盘同时平多与开空 -> 第 2 根开盘 104 先卖出平多、再用回笼的现金开空。"""
    script = {0: {"enter_long": True}, 1: {"exit_long": True, "enter_short": True}}
    result, _ = run(Scripted(script, market_type=MarketType.FUTURES), RISING, path=path)
    long_trade, short_trade = result.trades
    assert (long_trade.side, long_trade.exit_price, long_trade.exit_index) == (1, 104.0, 2)
    assert (short_trade.side, short_trade.entry_price, short_trade.entry_index) == (-1, 104.0, 2)
    # 开空用的是平多后的全部现金：1000 + 多仓净盈亏
    cash = 1000 + long_trade.pnl
    assert short_trade.amount == pytest.approx(cash / (104 * 1.001), rel=1e-12)


@pytest.mark.parametrize("path", PATHS)
def test_entry_while_long_and_exit_while_flat_are_ignored(path):
    """第 0 根平多（空仓，忽略）；第 1、2 根都开多（第二次已持多，忽略）：只有一笔交易，数量不变，没有拒绝。"""
    script = {0: {"exit_long": True}, 1: {"enter_long": True}, 2: {"enter_long": True}}
    result, _ = run(Scripted(script), RISING, path=path)
    (trade,) = result.trades
    assert trade.entry_index == 2
    assert result.rejections == []


@pytest.mark.parametrize("path", PATHS)
def test_open_position_at_end_is_marked_to_market_and_reported_open(path):
    """第 1 根开盘 102 买入后一直持有：最后收盘 108，按 108 标记，报告为未平仓，不收平仓费。"""
    result, portfolio = run(Scripted({0: {"enter_long": True}}), RISING, path=path)
    (trade,) = result.trades
    amount = 1000 / (102 * 1.001)
    assert trade.is_open and trade.exit_ts is None and trade.exit_fee == 0.0
    assert trade.exit_price == 108.0
    assert trade.pnl == pytest.approx(amount * 6 - amount * 102 * 0.001, rel=1e-12)
    assert portfolio.equity[-1] == pytest.approx(1000 + trade.pnl, rel=1e-12)


def test_buy_limit_fills_when_the_bar_trades_through_at_the_limit_with_maker_fee():
    """第 0 根收盘挂限价买 99：第 1 根 low 99.5 不成交；第 2 根 low 98 成交于 99，收 maker 费 0.02%。

    数量 = 1000 / (99 * 1.0002)。第 3 根收盘市价平多 -> 第 4 根开盘 101 卖出。
    """
    bars = make_bars([(100, 100.5, 99.5, 100), (100, 101, 99.5, 100), (100, 100.5, 98, 99), (100, 101, 99, 100),
                      (101, 102, 100, 101)])
    result, _ = run(LimitBuyer(0, 99.0, exit_row=3), bars, maker=0.0002)
    (trade,) = result.trades
    assert (trade.entry_index, trade.entry_price) == (2, 99.0)
    assert trade.amount == pytest.approx(1000 / (99 * 1.0002))
    assert trade.entry_fee == pytest.approx(trade.amount * 99 * 0.0002)
    assert (trade.exit_index, trade.exit_price) == (4, 101.0)


def test_buy_limit_gapped_through_fills_at_the_open():
    """限价买 99，第 1 根开盘就是 97（跳空到限价之下）-> 成交于 97。"""
    bars = make_bars([(100, 100.5, 99.5, 100), (97, 98, 96, 97), (97, 98, 96, 97)])
    result, _ = run(LimitBuyer(0, 99.0), bars)
    (trade,) = result.trades
    assert (trade.entry_index, trade.entry_price) == (1, 97.0)


def test_instances_share_one_account_and_cash_runs_out():
    """两个全仓实例共享 1000 现金，同一根开盘买入：第一个用光现金，第二个因可买数量为 0 被拒绝。"""
    first = Scripted({0: {"enter_long": True}}, name="first")
    second = Scripted({0: {"enter_long": True}}, name="second")
    settings = BacktestSettings(cash=1000.0, fees=FeeSchedule(0.001, 0.001, 0.0))
    result = run_backtest([InstanceSpec(first, RISING), InstanceSpec(second, RISING)], settings)
    a, b = result.instances
    assert len(a.trades) == 1 and b.trades == []
    assert b.rejections[0].reason == "amount rounds to zero"
    # 组合权益 = 1000 + 第一个实例的浮动盈亏：最后收盘 108，入场 102
    amount = 1000 / (102 * 1.001)
    assert result.equity[-1] == pytest.approx(1000 + amount * 6 - amount * 102 * 0.001, rel=1e-12)


def test_equal_weight_instances_each_invest_half_the_equity():
    """两个实例各用权益的 50%：第一个买 500 / (102 * 1.001)；第二个此时权益 = 现金 + 第一个持仓按上一根收盘 100 标记。"""
    first = Scripted({0: {"enter_long": True}}, name="first")
    second = Scripted({0: {"enter_long": True}}, name="second")
    half = Sizer(SIZE_FRACTION, 0.5)
    settings = BacktestSettings(cash=1000.0, fees=FeeSchedule(0.001, 0.001, 0.0))
    result = run_backtest([InstanceSpec(first, RISING, sizer=half), InstanceSpec(second, RISING, sizer=half)],
                          settings)
    a, b = (r.trades[0] for r in result.instances)
    assert a.amount == pytest.approx(500 / (102 * 1.001), rel=1e-12)
    cash_left = 1000 - a.amount * 102 * 1.001
    equity = cash_left + a.amount * 100.0
    assert b.amount == pytest.approx(equity * 0.5 / (102 * 1.001), rel=1e-12)
    assert result.instances[0].budget == 500.0


def test_risk_hook_can_reject_an_order():
    """风控挂钩拒绝名义金额超过 500 的开仓单：全仓单被拒，原因原样记录。"""
    def max_notional(request):
        """名义金额超过 500 USDT 的开仓单拒绝。"""
        refused = request.opening and request.amount * request.price > 500
        return ("max_order_notional", "max_order_notional 500 exceeded") if refused else None

    result, _ = run(Scripted({0: {"enter_long": True}}), RISING, risk_check=max_notional)
    assert result.trades == []
    assert (result.rejections[0].rule, result.rejections[0].reason) == ("max_order_notional",
                                                                    "max_order_notional 500 exceeded")


@pytest.mark.parametrize("path", PATHS)
def test_long_stop_inside_bar_fills_at_stop_minus_slippage(path):
    """止损 95、10 bps 滑点；第 2 根开盘 100、low 94 -> 止损单触发后按市价成交：95 * (1 - 0.001) = 94.905，收 taker 费。"""
    result, _ = run(Scripted({0: {"enter_long": True, "stop_loss": 95.0}}), protective_bars((100, 101, 94, 96)),
                    path=path, slippage_bps=10.0)
    (trade,) = result.trades
    assert (trade.exit_index, trade.exit_reason) == (2, EXIT_STOP_LOSS)
    assert trade.exit_price == pytest.approx(94.905)
    assert trade.exit_fee == pytest.approx(trade.amount * 94.905 * 0.001)


@pytest.mark.parametrize("path", PATHS)
def test_short_stop_triggers_on_the_high(path):
    """合约空仓：第 1 根开盘 100 卖出，止损 105；第 2 根 high 106 -> 买回于 105。

    数量 = 1000 / (100 * 1.001)；净盈亏 = 数量 * (100 - 105) - 数量 * 100 * 0.001 - 数量 * 105 * 0.001。
    """
    script = {0: {"enter_short": True, "stop_loss": 105.0, "take_profit": 90.0}}
    result, _ = run(Scripted(script, market_type=MarketType.FUTURES), protective_bars((100, 106, 99, 104)), path=path)
    (trade,) = result.trades
    amount = 1000 / (100 * 1.001)
    assert (trade.side, trade.exit_index, trade.exit_price, trade.exit_reason) == (-1, 2, 105.0, EXIT_STOP_LOSS)
    assert trade.pnl == pytest.approx(-5 * amount - amount * 100 * 0.001 - amount * 105 * 0.001, rel=1e-12)


@pytest.mark.parametrize("path", PATHS)
def test_short_take_profit_fills_at_target_on_the_low(path):
    """合约空仓：止损 105、止盈 90；第 2 根 low 89、high 101（没碰止损）-> 买回于 90，收 maker 费 0.02%。"""
    script = {0: {"enter_short": True, "stop_loss": 105.0, "take_profit": 90.0}}
    result, _ = run(Scripted(script, market_type=MarketType.FUTURES), protective_bars((100, 101, 89, 91)), path=path,
                    maker=0.0002)
    (trade,) = result.trades
    assert (trade.exit_price, trade.exit_reason) == (90.0, EXIT_TAKE_PROFIT)
    assert trade.exit_fee == pytest.approx(trade.amount * 90 * 0.0002)


@pytest.mark.parametrize("path", PATHS)
def test_stop_and_target_prices_are_rounded_to_the_tick(path):
    """档位 0.5：止损 95.3 -> 95.5，止盈 109.7 -> 109.5（四舍五入到最近一档）；第 2 根 high 109.6 碰到 109.5 -> 成交于 109.5。

    没有取整的话，109.7 的止盈在这根 K 线上不会成交。
    """
    rules = MarketRules(price_tick=0.5, amount_step=0.001)
    script = {0: {"enter_long": True, "stop_loss": 95.3, "take_profit": 109.7}}
    result, _ = run(Scripted(script), protective_bars((100, 109.6, 96, 105)), path=path, rules=rules)
    (trade,) = result.trades
    assert (trade.exit_index, trade.exit_price, trade.exit_reason) == (2, 109.5, EXIT_TAKE_PROFIT)
    # 数量向下取整到 0.001：1000 / (100 * 1.001) = 9.99000999 -> 9.990
    assert trade.amount == pytest.approx(9.99)


@pytest.mark.parametrize("path", PATHS)
def test_order_below_min_amount_is_rejected(path):
    """最小数量 0.1：固定名义 5 USDT 在 102 买 -> 5 / 102 = 0.049 取整到 0.001 为 0.049 < 0.1 -> 拒绝。"""
    rules = MarketRules(amount_step=0.001, min_amount=0.1)
    result, _ = run(Scripted({0: {"enter_long": True}}), RISING, path=path, rules=rules,
                    sizer=Sizer(SIZE_NOTIONAL, 5.0))
    assert result.trades == []
    (rejection,) = result.rejections
    assert rejection.amount == pytest.approx(0.049)
    assert rejection.reason == "amount below the market's minimum amount"


def test_event_path_reports_progress_up_to_completion(monkeypatch):
    """进度回调：每处理 PROGRESS_EVERY 根报告一次，单调不减，最后一次是 (总根数, 总根数)。"""
    monkeypatch.setattr(engine, "PROGRESS_EVERY", 2)
    calls = []
    bars = make_bars([(100 + k, 101 + k, 99 + k, 100 + k) for k in range(10)])
    spec = InstanceSpec(Scripted({0: {"enter_long": True}, 6: {"exit_long": True}}), bars)
    run_backtest([spec], BacktestSettings(cash=1000.0, path="event", progress=lambda done, total: calls.append(
        (done, total))))
    assert len(calls) >= 3
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert calls[-1] == (10, 10)


def test_portfolio_of_mixed_timeframes_uses_a_regular_grid_aligned_by_close_time():
    """1m 实例（10 根，无交易）与 5m 实例（4 根）共享 1000 现金，费率 0。

    组合时间轴 = 从第一根到最晚一根开盘（5m 的第 4 根在 15 分）的 1 分钟网格：16 个点（年化按 1m 才成立）。
    5m 实例在第 0 根收盘开多 -> 第 1 根（5 分开盘）以 100 买 10 个；第 1 根收盘价 110，浮盈 100，
    但这根在 10 分才收盘：组合在 8 分那根（9 分收盘）仍是 1000，在 9 分那根（10 分收盘）才变成 1100。
    """
    minute = make_bars([(100, 101, 99, 100)] * 10)
    five = make_bars([(100, 101, 99, 100), (100, 111, 99, 110), (110, 111, 109, 110), (110, 111, 109, 110)])
    five["timestamp"] = START_TS + 5 * STEP_MS * np.arange(4, dtype=np.int64)
    slow = Scripted({0: {"enter_long": True}}, name="five", symbol="ETH/USDT")
    slow.timeframe = "5m"
    settings = BacktestSettings(cash=1000.0, fees=FeeSchedule(0.0, 0.0, 0.0))
    result = run_backtest([InstanceSpec(Scripted({}, name="minute"), minute), InstanceSpec(slow, five)], settings)
    assert result.timeframe == "1m"
    np.testing.assert_array_equal(result.timestamps, START_TS + STEP_MS * np.arange(16, dtype=np.int64))
    assert result.equity[8] == 1000.0
    assert result.equity[9] == pytest.approx(1100.0)
    assert result.equity[-1] == pytest.approx(1100.0)
