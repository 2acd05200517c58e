"""仓位计算（tradeterm/sizing/sizers.py）：五种方法各自手算，kelly 用已知的交易历史（含上限与交易不足时的回退），
volatility_target 用手算的 ATR；再在回测里（手工 K 线）确认经纪商按同样的数字下单。
"""

from __future__ import annotations

import numpy as np
import pytest

from tradeterm.backtest.broker import FeeSchedule
from tradeterm.backtest.engine import BacktestSettings, InstanceSpec, fast_path_possible, run_backtest
from tradeterm.sizing.sizers import (
    ALL_IN, SIZE_FRACTION, SIZE_NOTIONAL, KellySizer, Sizer, VolatilityTargetSizer, sizer_from_config, trade_return,
)
from tradeterm.config.schema import SizingConfig
from tradeterm.indicators.volatility import atr
from tradeterm.models import Fill, Side
from tests.backtest.scripted import START_TS, STEP_MS, Scripted, make_bars


def kelly_with(returns: list[float], **kw) -> KellySizer:
    """按给定的每笔收益率（小数）喂给一个 KellySizer。"""
    sizer = KellySizer(**kw)
    for ret in returns:
        sizer.on_trade_closed(ret * 1000.0, ret)
    return sizer


# ---- 无状态的四种 -----------------------------------------------------------------------------


def test_stateless_methods_from_config():
    """权益 10000、价格 100、费率 0.001：
    all_in = 10000 / (100 * 1.001) = 99.9000999；fixed_fraction 0.2 = 2000 / 100.1 = 19.98002；
    fixed_notional 500 = 500 / 100 = 5（不含手续费）；equal_weight 4 个实例 = 2500 / 100.1 = 24.975025。
    """
    assert sizer_from_config(SizingConfig(), 1)(10_000, 100, 0.001) == pytest.approx(10_000 / 100.1, rel=1e-12)
    fraction = sizer_from_config(SizingConfig(method="fixed_fraction", fraction=0.2), 1)
    assert fraction == Sizer(SIZE_FRACTION, 0.2)
    assert fraction.amount(10_000, 100, 0.001) == pytest.approx(2_000 / 100.1, rel=1e-12)
    notional = sizer_from_config(SizingConfig(method="fixed_notional", notional=500), 1)
    assert notional == Sizer(SIZE_NOTIONAL, 500.0) and notional(10_000, 100, 0.001) == pytest.approx(5.0)
    equal = sizer_from_config(SizingConfig(method="equal_weight"), 4)
    assert equal(10_000, 100, 0.001) == pytest.approx(2_500 / 100.1, rel=1e-12)
    # 无状态：fresh 返回自己，快速路径仍可用
    assert equal.fresh() is equal and not equal.needs_bars


# ---- kelly ----------------------------------------------------------------------------------------

# 已知的 5 笔交易收益率：3 胜 2 负
HISTORY = [0.04, 0.02, -0.01, -0.03, 0.03]


def test_kelly_from_a_known_trade_history():
    """W = 3/5 = 0.6；平均盈利 = (0.04 + 0.02 + 0.03) / 3 = 0.03；平均亏损 = (0.01 + 0.03) / 2 = 0.02；R = 1.5；
    f* = 0.6 - 0.4 / 1.5 = 0.333...；半凯利 = 0.1667（低于上限 0.25）。
    数量 = 10000 * 0.16667 / (100 * 1.001) = 16.650017。
    """
    sizer = kelly_with(HISTORY, kelly_fraction=0.5, cap=0.25, min_trades=5)
    assert sizer.win_rate == pytest.approx(0.6)
    assert sizer.payoff_ratio == pytest.approx(1.5)
    assert sizer.kelly() == pytest.approx(1 / 3)
    assert sizer.fraction() == pytest.approx(1 / 6)
    assert sizer(10_000, 100, 0.001) == pytest.approx(10_000 / 6 / 100.1, rel=1e-12)


def test_kelly_is_capped():
    """同样的历史、全凯利（kelly_fraction 1）：f = 0.333 > 上限 0.25 -> 0.25。"""
    assert kelly_with(HISTORY, kelly_fraction=1.0, cap=0.25, min_trades=5).fraction() == pytest.approx(0.25)


def test_kelly_uses_fraction_or_ten_percent_until_min_trades():
    """只有 4 笔（少于 5）：用配置的 fraction（0.2）；没设 fraction 时用 0.1。第 5 笔之后才按凯利。"""
    config = SizingConfig(method="kelly", kelly_min_trades=5, fraction=0.2)
    sizer = sizer_from_config(config, 1)
    for ret in HISTORY[:4]:
        sizer.on_trade_closed(0.0, ret)
    assert sizer.fraction() == 0.2
    assert sizer_from_config(SizingConfig(method="kelly", kelly_min_trades=5), 1).fraction() == 0.1
    sizer.on_trade_closed(0.0, HISTORY[4])
    assert sizer.fraction() == pytest.approx(1 / 6)


def test_kelly_without_edge_sizes_zero_and_says_why():
    """W = 0.4、R = 0.02 / 0.02 = 1 -> f* = 0.4 - 0.6 = -0.2 -> 0；收益率为 0 的交易计入 N 但不算亏损。"""
    sizer = kelly_with([0.02, 0.02, -0.02, -0.02, 0.0], min_trades=5)
    assert sizer.win_rate == pytest.approx(0.4) and sizer.payoff_ratio == pytest.approx(1.0)
    assert sizer.kelly() == pytest.approx(-0.2)
    assert sizer.fraction() == 0.0 and sizer(10_000, 100, 0.001) == 0.0
    assert "no edge in 5 closed trades (win rate 40.0%, payoff ratio 1.00, full Kelly -0.200)" in sizer.zero_reason()


def test_kelly_without_losses_uses_the_win_rate():
    """没有亏损时 R 为无穷大，f* = W：4 胜 1 平 -> W = 0.8，半凯利 0.4，上限 0.25。"""
    sizer = kelly_with([0.01, 0.01, 0.01, 0.01, 0.0], kelly_fraction=0.5, cap=0.25, min_trades=5)
    assert sizer.kelly() == pytest.approx(0.8) and sizer.fraction() == 0.25


def test_kelly_on_fill_cuts_trades_from_the_fill_stream():
    """引擎的入口：开仓分两笔成交（1 @ 100、1 @ 102，均价 101），平仓一笔 2 @ 110；手续费 0.1/0.102/0.22 USDT。
    净盈亏 = (110 - 101) * 2 - 0.422 = 17.578；收益率 = 17.578 / 202 = 0.0870198。
    再一笔反手：卖 3 @ 100 平掉新的 1 BTC 多仓（买于 105）并开 2 BTC 空仓 -> 记一笔亏损。
    """
    sizer = KellySizer(min_trades=1)
    closed: list[tuple[float, float]] = []
    sizer.on_trade_closed = lambda pnl, ret: closed.append((pnl, ret))

    def fill(side: Side, amount: float, price: float, fee: float) -> Fill:
        """一笔 BTC/USDT 成交，手续费以 USDT 计。"""
        return Fill("c1", "BTC/USDT", side, price, amount, fee, "USDT", START_TS, "t", False, "kelly")

    sizer.on_fill(fill(Side.BUY, 1, 100, 0.1))
    sizer.on_fill(fill(Side.BUY, 1, 102, 0.102))
    assert closed == []
    sizer.on_fill(fill(Side.SELL, 2, 110, 0.22))
    ((pnl, ret),) = closed
    assert pnl == pytest.approx(17.578) and ret == pytest.approx(17.578 / 202)
    assert ret == pytest.approx(trade_return(17.578, 101, 2))
    # 反手：1 BTC 多仓买于 105（费 0.105），卖 3 @ 100（费 0.3，1/3 归平仓）：-5 - 0.105 - 0.1 = -5.205
    sizer.on_fill(fill(Side.BUY, 1, 105, 0.105))
    sizer.on_fill(fill(Side.SELL, 3, 100, 0.3))
    assert closed[1][0] == pytest.approx(-5.205) and closed[1][1] == pytest.approx(-5.205 / 105)
    # 剩下的 2 BTC 空仓买回于 90（费 0.18）：(100 - 90) * 2 - 0.2 - 0.18 = 19.62
    sizer.on_fill(fill(Side.BUY, 2, 90, 0.18))
    assert closed[2][0] == pytest.approx(19.62) and closed[2][1] == pytest.approx(19.62 / 200)


# 三笔交易的 K 线（手续费 0）：第 1 根开盘 100 买、第 2 根开盘 110 卖（+10%）；第 3 根 100 买、第 4 根 95 卖（-5%）；
# 第 5 根开盘 100 再买
KELLY_BARS = make_bars([(100, 100, 100, 100), (100, 100, 100, 100), (110, 110, 110, 110), (100, 100, 100, 100),
                        (95, 95, 95, 95), (100, 100, 100, 100), (100, 100, 100, 100)])
# 对应的剧本：0、2、4 收盘开多，1、3 收盘平多
KELLY_SCRIPT = {0: {"enter_long": True}, 1: {"exit_long": True}, 2: {"enter_long": True}, 3: {"exit_long": True},
                4: {"enter_long": True}}


def test_kelly_in_a_backtest_learns_from_the_instance_trades():
    """kelly_min_trades 2、没设 fraction：前两笔用 0.1。
    第 1 笔：1000 * 0.1 / 100 = 1 BTC，+10 -> 权益 1010；第 2 笔：1010 * 0.1 / 100 = 1.01 BTC，-5.05 -> 1004.95。
    第 3 笔：W = 0.5、R = 0.10 / 0.05 = 2、f* = 0.5 - 0.5 / 2 = 0.25、半凯利 0.125 -> 1004.95 * 0.125 / 100 = 1.2561875。
    kelly 有状态，自动走逐事件路径；同一份规格再跑一次结果相同（每次运行从空的交易历史开始）。
    """
    sizer = sizer_from_config(SizingConfig(method="kelly", kelly_min_trades=2), 1)
    spec = InstanceSpec(Scripted(KELLY_SCRIPT), KELLY_BARS, sizer=sizer)
    settings = BacktestSettings(cash=1000.0, fees=FeeSchedule(0.0, 0.0, 0.0))
    assert not fast_path_possible([spec], settings)
    result = run_backtest([spec], settings)
    amounts = [t.amount for t in result.instances[0].trades]
    assert amounts == pytest.approx([1.0, 1.01, 1.2561875], rel=1e-12)
    assert result.instances[0].path == "event"
    assert [t.amount for t in run_backtest([spec], settings).instances[0].trades] == pytest.approx(amounts)
    assert sizer.trades == 0  # 规格里的计算器没有被运行改动


# ---- volatility_target ---------------------------------------------------------------------------

# ATR(3) 的手工 K 线（开、高、低、收）：
# 第 1 根 TR = max(103-99, |103-100|, |99-100|) = 4；第 2 根 max(4, |102-101|, |98-101|) = 4；
# 第 3 根 max(5, |104-99|, |99-99|) = 5 -> 种子 ATR = 13/3；第 4 根 TR = max(8, |104-103|, |96-103|) = 8
# -> ATR = 13/3 + (8 - 13/3) / 3 = 50/9
ATR_BARS = make_bars([(100, 102, 98, 100), (100, 103, 99, 101), (101, 102, 98, 99), (99, 104, 99, 103),
                      (103, 104, 96, 97), (97, 98, 96, 97)])


def test_atr_is_computed_incrementally_by_hand():
    """逐根喂入：前 3 根之后仍未就绪，第 4 根（下标 3）之后 13/3，下标 4 之后 50/9；与指标库的 atr 相同。"""
    sizer = VolatilityTargetSizer(target_risk=0.01, atr_period=3)
    seen = []
    for _, row in ATR_BARS.iterrows():
        sizer.on_bar(row.high, row.low, row.close)
        seen.append(sizer.atr)
    assert np.isnan(seen[:3]).all()
    assert seen[3] == pytest.approx(13 / 3) and seen[4] == pytest.approx(50 / 9)
    np.testing.assert_array_equal(np.array(seen), atr(ATR_BARS.high, ATR_BARS.low, ATR_BARS.close, 3).to_numpy())
    # 第 5 根 TR = max(98-96, |98-97|, |96-97|) = 2 -> ATR = 50/9 + (2 - 50/9) / 3 = 118/27；
    # 数量 = 10000 * 0.01 / ATR = 100 * 27 / 118（与价格无关）
    assert seen[5] == pytest.approx(118 / 27)
    assert sizer(10_000, 97, 0.001) == pytest.approx(100 * 27 / 118)


def test_incremental_atr_matches_the_indicator_on_real_candles(btc_bars):
    """真实 BTC/USDT 前 3000 根：逐根增量的 ATR(14) 与 indicators.volatility.atr 逐位相同。"""
    bars = btc_bars.iloc[:3000]
    sizer = VolatilityTargetSizer(target_risk=0.01, atr_period=14)
    seen = []
    for high, low, close in zip(bars.high.tolist(), bars.low.tolist(), bars.close.tolist()):
        sizer.on_bar(high, low, close)
        seen.append(sizer.atr)
    np.testing.assert_array_equal(np.array(seen), atr(bars.high, bars.low, bars.close, 14).to_numpy())


def test_volatility_target_in_a_backtest_uses_the_atr_of_the_signal_bar():
    """第 3 根收盘开多 -> 第 4 根开盘 103 买入，用第 3 根收盘时的 ATR 13/3：数量 = 10000 * 0.01 / (13/3) = 300/13。"""
    sizer = sizer_from_config(SizingConfig(method="volatility_target", target_risk=0.01, atr_period=3), 1)
    spec = InstanceSpec(Scripted({3: {"enter_long": True}}), ATR_BARS, sizer=sizer)
    result = run_backtest([spec], BacktestSettings(cash=10_000.0))
    (trade,) = result.instances[0].trades
    assert (trade.entry_price, trade.amount) == (103.0, pytest.approx(300 / 13, rel=1e-12))


def test_volatility_target_is_capped_by_cash():
    """target_risk 0.5：10000 * 0.5 / (13/3) = 1153.8 BTC，买不起 -> 按现金封顶 10000 / (103 * 1.001) = 96.9874。"""
    sizer = VolatilityTargetSizer(target_risk=0.5, atr_period=3)
    result = run_backtest([InstanceSpec(Scripted({3: {"enter_long": True}}), ATR_BARS, sizer=sizer)],
                          BacktestSettings(cash=10_000.0))
    assert result.instances[0].trades[0].amount == pytest.approx(10_000 / (103 * 1.001), rel=1e-12)


def test_volatility_target_before_the_atr_is_ready_is_rejected_with_the_reason():
    """第 1 根收盘的信号在第 2 根开盘成交时，ATR(3) 只见过 2 根 K 线：不下单，拒绝记录写明规则 sizing 与原因。"""
    sizer = VolatilityTargetSizer(target_risk=0.01, atr_period=3)
    result = run_backtest([InstanceSpec(Scripted({1: {"enter_long": True}}), ATR_BARS, sizer=sizer)],
                          BacktestSettings(cash=10_000.0))
    instance = result.instances[0]
    assert instance.trades == []
    (rejection,) = instance.rejections
    assert rejection.ts == START_TS + 2 * STEP_MS and rejection.rule == "sizing"
    assert rejection.reason == "volatility_target sizing is 0: ATR(3) needs 4 closed bars, seen 2"


def test_all_in_default_still_takes_the_fast_path():
    """全仓（Sizer）且没有风控：快速路径可用；kelly 与 volatility_target 不可用。"""
    settings = BacktestSettings()
    bars = make_bars([(100, 100, 100, 100)] * 3)
    assert fast_path_possible([InstanceSpec(Scripted({}), bars, sizer=ALL_IN)], settings)
    assert not fast_path_possible([InstanceSpec(Scripted({}), bars, sizer=KellySizer())], settings)
    assert not fast_path_possible([InstanceSpec(Scripted({}), bars, sizer=VolatilityTargetSizer(0.01))], settings)
