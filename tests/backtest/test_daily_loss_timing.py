"""回测里单日亏损熔断的时间：在 UTC 00:00 解除（00:00 开盘成交的开仓不再被挡），当日亏损从前一天最后一根的收盘算起。

每个用例都是手工 K 线，期望的成交、拒绝与熔断说明在文档字符串里手算（手续费 0、无滑点、全仓 1000 USDT）。
分别在 1 分钟线（跨午夜）与 1 天线上验证。
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradeterm.backtest.broker import FeeSchedule
from tradeterm.backtest.engine import BacktestSettings, InstanceSpec, run_backtest
from tradeterm.config.schema import RiskConfig
from tradeterm.sizing.sizers import SIZE_NOTIONAL, Sizer
from tests.backtest.scripted import START_TS, STEP_MS, Scripted, make_bars

# 一天的毫秒数
DAY_MS = 86_400_000
# 1 分钟线用例的起点：2023-01-01 23:56 UTC（第 4 根是 2023-01-02 00:00）
EVENING = START_TS + DAY_MS - 4 * STEP_MS
# 次日 00:00 UTC，毫秒
MIDNIGHT = START_TS + DAY_MS


def settings(**risk) -> BacktestSettings:
    """共享账户 1000 USDT、手续费与滑点为 0，risk 为风控限制。"""
    return BacktestSettings(cash=1000.0, fees=FeeSchedule(0.0, 0.0, 0.0), risk=RiskConfig(**risk))


def evening_bars(rows: list[tuple[float, float, float, float]]) -> pd.DataFrame:
    """从 23:56 起每分钟一根的手工 K 线。"""
    bars = make_bars(rows)
    bars["timestamp"] = EVENING + STEP_MS * np.arange(len(rows), dtype=np.int64)
    return bars


def test_daily_loss_clears_at_midnight_on_1m_bars():
    """23:56 收盘开多 -> 23:57 开盘 100 买 10 BTC；23:57 收盘 95，权益 950，亏损 (1000 - 950) / 1000 = 5% >= 4% -> 熔断。
    23:57 收盘平多（23:58 开盘 95 平仓，减仓放行）；23:58 收盘再开多 -> 23:59 开盘被拒（同一天，熔断中）；
    23:59 收盘再开多 -> 次日 00:00 开盘成交：新的 UTC 日，熔断已解除，买 950 / 95 = 10 BTC。
    （修复前熔断要等 00:00 那根收盘才解除，这一单也被拒。）
    """
    bars = evening_bars([(100, 100, 100, 100), (100, 100, 95, 95), (95, 95, 95, 95), (95, 95, 95, 95),
                         (95, 95, 95, 95), (95, 95, 95, 95)])
    script = {0: {"enter_long": True}, 1: {"exit_long": True}, 2: {"enter_long": True}, 3: {"enter_long": True}}
    result = run_backtest([InstanceSpec(Scripted(script), bars)], settings(daily_loss=0.04))
    (event,) = result.risk_events
    assert (event.ts, event.rule) == (EVENING + STEP_MS, "daily_loss")
    assert event.message == "daily_loss breaker tripped: today's loss 5.00% >= limit 4.00%"
    instance = result.instances[0]
    assert [(j.ts, j.rule) for j in instance.rejections] == [(EVENING + 3 * STEP_MS, "daily_loss")]
    first, second = instance.trades
    assert (first.entry_price, first.exit_ts, first.exit_price, first.pnl) == (100.0, EVENING + 2 * STEP_MS, 95.0,
                                                                               -50.0)
    assert (second.entry_ts, second.entry_price, second.amount) == (MIDNIGHT, 95.0, 10.0)


def test_daily_loss_counts_the_loss_inside_the_first_bar_of_the_day():
    """当日起始权益是前一天最后一根（23:59）的收盘权益，不是当日第一根的收盘权益。

    23:56 收盘开多 -> 23:57 开盘 100 买 10 BTC；23:57、23:58、23:59 收盘 100，权益 1000（前一天最后的收盘）。
    00:00 那根开盘跳空到 99、收盘 98.5：权益 985，亏损 1.5% < 2%；00:01 收盘 97.53：权益 975.3，
    从前一天收盘算 (1000 - 975.3) / 1000 = 2.47% >= 2% -> 熔断（事件记在 00:01）。
    若从当日第一根的收盘 985 算只有 (985 - 975.3) / 985 = 0.98%，熔断不会触发。
    """
    bars = evening_bars([(100, 100, 100, 100)] * 4 + [(99, 99, 98, 98.5), (98.5, 98.5, 97.5, 97.53),
                                                      (97.53, 97.53, 97.53, 97.53)])
    result = run_backtest([InstanceSpec(Scripted({0: {"enter_long": True}}), bars)], settings(daily_loss=0.02))
    (event,) = result.risk_events
    assert (event.ts, event.rule) == (MIDNIGHT + STEP_MS, "daily_loss")
    assert event.message == "daily_loss breaker tripped: today's loss 2.47% >= limit 2.00%"


def daily_bars(rows: list[tuple[float, float, float, float]]) -> pd.DataFrame:
    """从 2023-01-01 起每天一根的手工 K 线。"""
    bars = make_bars(rows)
    bars["timestamp"] = START_TS + DAY_MS * np.arange(len(rows), dtype=np.int64)
    return bars


def daily(script: dict) -> Scripted:
    """1 天周期的剧本策略。"""
    strategy = Scripted(script)
    strategy.timeframe = "1d"
    return strategy


def test_daily_loss_on_1d_bars_trips_at_the_close_and_clears_the_next_day():
    """1 天线：第 0 天收盘开多 -> 第 1 天开盘 100 买 10 BTC；第 1 天收盘 94，权益 940，
    从第 0 天收盘的 1000 算亏损 6% >= 5% -> 熔断（事件记在第 1 天）。第 1 天收盘平多并再开多：
    两单都在第 2 天 00:00 开盘以 94 成交，那已是新的 UTC 日，开仓放行（940 / 94 = 10 BTC）。
    （修复前：当日起始权益取当日唯一一根的收盘，1 天线上亏损永远是 0；熔断又要等第 2 天收盘才解除。）
    """
    bars = daily_bars([(100, 100, 100, 100), (100, 100, 94, 94), (94, 94, 94, 94), (94, 94, 94, 94)])
    script = {0: {"enter_long": True}, 1: {"exit_long": True, "enter_long": True}}
    result = run_backtest([InstanceSpec(daily(script), bars)], settings(daily_loss=0.05))
    (event,) = result.risk_events
    assert (event.ts, event.rule) == (START_TS + DAY_MS, "daily_loss")
    assert event.message == "daily_loss breaker tripped: today's loss 6.00% >= limit 5.00%"
    instance = result.instances[0]
    assert instance.rejections == []
    first, second = instance.trades
    assert (first.exit_ts, first.exit_price, first.pnl) == (START_TS + 2 * DAY_MS, 94.0, -60.0)
    assert (second.entry_ts, second.entry_price, second.amount) == (START_TS + 2 * DAY_MS, 94.0, 10.0)


def test_a_daily_bar_counts_on_the_day_it_covers_and_a_1m_entry_at_midnight_goes_through():
    """1 天实例 slow（BTC/USDT，固定 500 USDT）与 1 分钟实例 fast（ETH/USDT，固定 100 USDT）共享 1000 USDT。
    slow 在第 0 天收盘开多 -> 第 1 天 00:00 以 100 买 5 BTC；第 1 天那根收盘 90，到第 2 天 00:00 才收盘：
    那一刻权益 = 500 + 5 * 90 = 950，按它覆盖的第 1 天计，从第 0 天收盘的 1000 算亏损 5% >= 4% -> 熔断，
    事件时间记第 1 天 23:59（那一刻最后收盘的 1m K 线的开盘时间）。
    fast 在第 1 天 23:59 收盘开多，成交在第 2 天 00:00 开盘：已是新的 UTC 日，放行（100 / 10 = 10 ETH）。
    """
    slow = daily({0: {"enter_long": True}})
    slow.name = "slow"
    slow_bars = daily_bars([(100, 100, 100, 100), (100, 100, 90, 90), (90, 90, 90, 90)])
    fast = Scripted({0: {"enter_long": True}}, name="fast", symbol="ETH/USDT")
    fast_bars = make_bars([(10, 10, 10, 10)] * 3)
    fast_bars["timestamp"] = START_TS + 2 * DAY_MS - STEP_MS + STEP_MS * np.arange(3, dtype=np.int64)
    specs = [InstanceSpec(slow, slow_bars, sizer=Sizer(SIZE_NOTIONAL, 500.0)),
             InstanceSpec(fast, fast_bars, sizer=Sizer(SIZE_NOTIONAL, 100.0))]
    result = run_backtest(specs, settings(daily_loss=0.04))
    (event,) = result.risk_events
    assert (event.ts, event.rule) == (START_TS + 2 * DAY_MS - STEP_MS, "daily_loss")
    assert event.message == "daily_loss breaker tripped: today's loss 5.00% >= limit 4.00%"
    fast_result = result.instances[1]
    assert fast_result.rejections == []
    (trade,) = fast_result.trades
    assert (trade.entry_ts, trade.entry_price, trade.amount) == (START_TS + 2 * DAY_MS, 10.0, 10.0)


def test_daily_loss_blocks_every_entry_for_the_rest_of_the_day():
    """同一天里熔断之后的每一次开仓都被拒，直到 00:00：23:56 起的 1 分钟线，23:57 收盘亏损 5% -> 熔断；
    23:57 收盘平多，之后 23:58、23:59 开盘的两次开仓都被拒（拒绝原因写明规则与上限），00:00 开盘的放行。
    """
    bars = evening_bars([(100, 100, 100, 100), (100, 100, 95, 95)] + [(95, 95, 95, 95)] * 4)
    script = {0: {"enter_long": True}, 1: {"exit_long": True, "enter_long": True}, 2: {"enter_long": True},
              3: {"enter_long": True}}
    result = run_backtest([InstanceSpec(Scripted(script), bars)], settings(daily_loss=0.04))
    instance = result.instances[0]
    assert [(j.ts, j.rule) for j in instance.rejections] == [(EVENING + 2 * STEP_MS, "daily_loss"),
                                                             (EVENING + 3 * STEP_MS, "daily_loss")]
    assert instance.rejections[0].reason == ("daily_loss circuit breaker is tripped (limit 4.00%); "
                                             "new entries are blocked")
    assert [t.entry_ts for t in instance.trades] == [EVENING + STEP_MS, MIDNIGHT]
    assert instance.trades[1].amount == pytest.approx(10.0)
