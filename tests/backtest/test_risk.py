"""回测里的风控（tradeterm/backtest/risk.py 把 RiskManager 接到模拟经纪商上）：每条规则一组手工 K 线，拒绝的规则与原因
在注释里手算；再在真实的 2023 年 3 月 BTC/USDT 上让最大回撤熔断触发。
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradeterm.backtest.broker import FeeSchedule
from tradeterm.backtest.engine import BacktestSettings, InstanceSpec, fast_path_possible, run_backtest
from tradeterm.sizing.sizers import SIZE_FRACTION, SIZE_NOTIONAL, Sizer
from tradeterm.config.schema import RiskConfig
from tradeterm.strategy.loader import build_strategy, load_strategy_class
from tests.backtest.scripted import START_TS, STEP_MS, LimitBuyer, Scripted, make_bars

# 五根上涨的 K 线：开盘 100、102、104、106、108（收盘 = 开盘）
RISING = make_bars([(100, 101, 99, 100), (102, 103, 101, 102), (104, 105, 103, 104), (106, 107, 105, 106),
                    (108, 109, 107, 108)])
# 每笔 300 USDT 的固定名义金额
NOTIONAL_300 = Sizer(SIZE_NOTIONAL, 300.0)
# 一天的毫秒数
DAY_MS = 86_400_000


def settings(cash: float = 1000.0, fee: float = 0.001, **risk) -> BacktestSettings:
    """共享账户 cash USDT、maker/taker 同为 fee、无滑点，risk 为风控限制。"""
    return BacktestSettings(cash=cash, fees=FeeSchedule(fee, fee, 0.0), risk=RiskConfig(**risk))


def test_risk_limits_force_the_event_path():
    """配置了任何一条风控限制就不能走快速路径（快速路径没有风控挂钩）；全是 None 的 risk 块等于没有。"""
    spec = InstanceSpec(Scripted({0: {"enter_long": True}}), RISING)
    assert fast_path_possible([spec], BacktestSettings(risk=RiskConfig()))
    assert not fast_path_possible([spec], settings(max_order_notional=500))


def test_max_order_notional_rejects_the_entry_with_rule_and_reason():
    """全仓：第 1 根开盘 102 买 1000 / (102 * 1.001) = 9.79413 BTC，名义金额 = 9.79413 * 102 = 999.00 > 500 -> 拒绝。
    同样的信号用固定 300 USDT 则放行。
    """
    result = run_backtest([InstanceSpec(Scripted({0: {"enter_long": True}}), RISING)],
                          settings(max_order_notional=500))
    instance = result.instances[0]
    assert instance.trades == [] and instance.path == "event"
    (rejection,) = instance.rejections
    assert (rejection.ts, rejection.side, rejection.price) == (START_TS + STEP_MS, 1, 102.0)
    assert rejection.amount == pytest.approx(1000 / (102 * 1.001), rel=1e-12)
    assert rejection.rule == "max_order_notional"
    assert rejection.reason == "order notional 999.00 exceeds max_order_notional 500.00"
    allowed = run_backtest([InstanceSpec(Scripted({0: {"enter_long": True}}), RISING, sizer=NOTIONAL_300)],
                           settings(max_order_notional=500))
    assert len(allowed.instances[0].trades) == 1 and allowed.rejections == []


def test_max_position_counts_the_other_instance_on_the_same_symbol():
    """两个实例都在 BTC/USDT 上各买 300 USDT，上限 500：第一个在 102 买 300/102 = 2.941176 BTC；
    第二个成交时第一个按上一根收盘 100 标记 = 294.12，再加 300 -> 594.12 > 500 -> 拒绝。
    """
    first = Scripted({0: {"enter_long": True}}, name="first")
    second = Scripted({0: {"enter_long": True}}, name="second")
    result = run_backtest([InstanceSpec(first, RISING, sizer=NOTIONAL_300),
                           InstanceSpec(second, RISING, sizer=NOTIONAL_300)], settings(max_position=500))
    a, b = result.instances
    assert len(a.trades) == 1 and b.trades == []
    (rejection,) = b.rejections
    assert rejection.rule == "max_position"
    assert rejection.reason == "BTC/USDT position would be 594.12 (max_position 500.00)"


def test_max_exposure_sums_all_symbols():
    """BTC/USDT 与 ETH/USDT 各买 300 USDT，总敞口上限 500：294.12（BTC 按 100 标记）+ 300 = 594.12 > 500 -> ETH 被拒。"""
    btc = Scripted({0: {"enter_long": True}}, name="btc")
    eth = Scripted({0: {"enter_long": True}}, name="eth", symbol="ETH/USDT")
    specs = [InstanceSpec(btc, RISING, sizer=NOTIONAL_300), InstanceSpec(eth, RISING, sizer=NOTIONAL_300)]
    result = run_backtest(specs, settings(max_exposure=500, max_position=400))
    (rejection,) = result.instances[1].rejections
    assert rejection.rule == "max_exposure"
    assert rejection.reason == "total exposure would be 594.12 (max_exposure 500.00)"


def test_max_orders_per_minute_counts_all_instances():
    """上限每分钟 1 单：两个实例在同一根（第 1 根）开盘下单，第二张被拒。"""
    first = Scripted({0: {"enter_long": True}}, name="first")
    second = Scripted({0: {"enter_long": True}}, name="second")
    result = run_backtest([InstanceSpec(first, RISING, sizer=NOTIONAL_300),
                           InstanceSpec(second, RISING, sizer=NOTIONAL_300)], settings(max_orders_per_minute=1))
    (rejection,) = result.instances[1].rejections
    assert rejection.rule == "max_orders_per_minute"
    assert rejection.reason == "1 orders in the last minute (max_orders_per_minute 1)"


# 限价单的 K 线：第 1 根收盘 100 时挂单，第 2 根 low 89（穿过 90 与 97），第 3 根收盘
LIMIT_BARS = make_bars([(100, 101, 99, 100), (100, 101, 99, 100), (100, 100, 89, 95), (95, 96, 94, 95)])


@pytest.mark.parametrize("limit, rule, reason", [
    # |90 / 100 - 1| = 10% > 5%：第 2 根穿过 90 时成交被拒
    (90.0, "price_band", "limit price 90 is 10.00% away from last price 100 (limit 5.00%)"),
    # |97 / 100 - 1| = 3% <= 5%：成交于 97
    (97.0, None, None),
])
def test_price_band_measures_the_limit_against_the_close_when_it_was_placed(limit, rule, reason):
    """有状态的 LimitBuyer 在第 1 根收盘（100）挂限价买单；价格带 5%，参照是挂单时的收盘价 100。"""
    result = run_backtest([InstanceSpec(LimitBuyer(signal_row=1, limit=limit), LIMIT_BARS)], settings(price_band=0.05))
    instance = result.instances[0]
    if rule is None:
        assert [t.entry_price for t in instance.trades] == [limit] and instance.rejections == []
    else:
        (rejection,) = instance.rejections
        assert instance.trades == [] and (rejection.ts, rejection.price) == (START_TS + 2 * STEP_MS, limit)
        assert (rejection.rule, rejection.reason) == (rule, reason)


def two_day_bars() -> pd.DataFrame:
    """第 0-4 根在 2023-01-01，第 5-7 根在次日 00:00 起（手续费 0 时全仓 1000 USDT 在 100 买 10 BTC）：
    第 1 根开盘 100 买入、收盘 94 -> 权益 940；第 2 根开盘 94 平仓；之后价格不动。
    """
    bars = make_bars([(100, 100, 100, 100), (100, 100, 94, 94)] + [(94, 94, 94, 94)] * 6)
    later = bars.index >= 5
    bars.loc[later, "timestamp"] = START_TS + DAY_MS + STEP_MS * (bars.index[later] - 5)
    return bars


# 剧本：第 0 根开多、第 1 根平多、第 2 根再开多（第 3 根开盘，熔断中）、第 5 根（次日）再开多（第 6 根开盘）
BREAKER_SCRIPT = {0: {"enter_long": True}, 1: {"exit_long": True}, 2: {"enter_long": True}, 5: {"enter_long": True}}


def test_daily_loss_blocks_entries_for_the_rest_of_the_utc_day():
    """当日起始权益 = 第 0 根收盘的 1000；第 1 根收盘权益 940，亏损 6% >= 5% -> 熔断（事件记在第 1 根）。
    第 2 根开盘的平仓放行（减仓不受熔断限制）；第 3 根开盘的开仓被拒；熔断在次日 00:00 解除，
    次日第 5 根收盘的开多在第 6 根开盘买 940/94 = 10 BTC。
    """
    bars = two_day_bars()
    result = run_backtest([InstanceSpec(Scripted(BREAKER_SCRIPT), bars)], settings(fee=0.0, daily_loss=0.05))
    (event,) = result.risk_events
    assert (event.ts, event.rule) == (START_TS + STEP_MS, "daily_loss")
    assert event.message == "daily_loss breaker tripped: today's loss 6.00% >= limit 5.00%"
    instance = result.instances[0]
    (rejection,) = instance.rejections
    assert (rejection.ts, rejection.rule) == (START_TS + 3 * STEP_MS, "daily_loss")
    assert rejection.reason == "daily_loss circuit breaker is tripped (limit 5.00%); new entries are blocked"
    first, second = instance.trades
    assert (first.exit_ts, first.exit_price, first.pnl) == (START_TS + 2 * STEP_MS, 94.0, pytest.approx(-60.0))
    assert (second.entry_ts, second.amount) == (START_TS + DAY_MS + STEP_MS, pytest.approx(10.0))


def test_max_drawdown_stays_tripped_across_days():
    """同样的 K 线、最大回撤 5%：第 1 根收盘回撤 (1000 - 940) / 1000 = 6% -> 熔断；次日也不解除，两次开仓都被拒。"""
    result = run_backtest([InstanceSpec(Scripted(BREAKER_SCRIPT), two_day_bars())],
                          settings(fee=0.0, max_drawdown=0.05))
    (event,) = result.risk_events
    assert event.message == "max_drawdown breaker tripped: drawdown 6.00% >= limit 5.00%"
    instance = result.instances[0]
    assert [(j.ts, j.rule) for j in instance.rejections] == [(START_TS + 3 * STEP_MS, "max_drawdown"),
                                                             (START_TS + DAY_MS + STEP_MS, "max_drawdown")]
    assert len(instance.trades) == 1


def max_drawdown(equity: np.ndarray) -> float:
    """权益曲线的最大回撤（小数）。"""
    peak = np.maximum.accumulate(equity)
    return float(((peak - equity) / peak).max())


def test_max_drawdown_breaker_trips_on_real_btc_candles(btc_bars):
    """MACross(10, 30) 全仓在 2023-03 BTC/USDT 1m 上的最大回撤约 70%；把 max_drawdown 设为 10%：
    熔断触发一次；触发之后没有新开仓（之后的开仓全部以 max_drawdown 被拒）；触发时持有的仓位照常按信号平掉，
    之后空仓，所以回撤只比上限多出那一笔仓位剩下的亏损（不到 1 个百分点），最终权益保持不变。
    """
    def macross():
        """默认参数的 MACross。"""
        return build_strategy(load_strategy_class("MACross"), {}, symbol="BTC/USDT", timeframe="1m")

    free = run_backtest([InstanceSpec(macross(), btc_bars)], BacktestSettings())
    assert max_drawdown(free.equity) > 0.6
    result = run_backtest([InstanceSpec(macross(), btc_bars)], BacktestSettings(risk=RiskConfig(max_drawdown=0.1)))
    (event,) = result.risk_events
    assert event.rule == "max_drawdown" and "limit 10.00%" in event.message
    instance = result.instances[0]
    # 触发那根 K 线开盘时可能刚开仓（熔断看的是收盘权益）；之后再没有开仓
    assert all(t.entry_ts <= event.ts for t in instance.trades)
    assert instance.rejections and all(j.rule == "max_drawdown" and j.ts > event.ts for j in instance.rejections)
    assert all(j.side == 1 for j in instance.rejections)  # 被拒的都是开多，平仓从不被挡
    assert not any(t.is_open for t in instance.trades)
    row = int(np.searchsorted(result.timestamps, event.ts))
    assert max_drawdown(result.equity[: row + 1]) == pytest.approx(0.1, abs=0.001)
    assert 0.1 <= max_drawdown(result.equity) < 0.11
    last_exit = max(t.exit_ts for t in instance.trades)
    after = result.equity[result.timestamps >= last_exit]
    assert np.all(after == after[0])  # 最后一笔平仓之后空仓，权益不再变化


def test_mixed_timeframes_mark_and_breaker_only_use_closed_bars():
    """5m 实例 slow（BTC/USDT）与 1m 实例 fast（ETH/USDT）共享 1000 USDT，手续费 0，最大回撤 20%：
    slow 在 00:05 开盘以 100 买 5 BTC（固定 500 USDT）；00:05 那根 5m K 线的收盘是 50（跌一半），但它到 00:10 才收盘。
    fast 在 00:07 开盘以 10 买入权益的 50%：此刻 slow 按已收盘的 00:00 那根（收盘 100）标记，权益 = 500 + 500 = 1000，
    数量 = 1000 * 0.5 / 10 = 50（若偷看未收盘的 50，权益是 750、数量 37.5，熔断也会在 00:07 之前触发而拒掉这单）。
    00:10 收盘时权益 = 5 * 50 + 50 * 10 = 750，回撤 25% -> 熔断；事件记在 00:09（那一刻最后收盘的 1m K 线的开盘时间）。
    """
    five = 5 * STEP_MS
    slow_bars = make_bars([(100, 100, 100, 100), (100, 100, 50, 50), (50, 50, 50, 50)])
    slow_bars["timestamp"] = START_TS + five * np.arange(3)
    slow = Scripted({0: {"enter_long": True}}, name="slow")
    slow.timeframe = "5m"
    fast = Scripted({6: {"enter_long": True}}, name="fast", symbol="ETH/USDT")
    fast_bars = make_bars([(10, 10, 10, 10)] * 15)
    specs = [InstanceSpec(slow, slow_bars, sizer=Sizer(SIZE_NOTIONAL, 500.0)),
             InstanceSpec(fast, fast_bars, sizer=Sizer(SIZE_FRACTION, 0.5))]
    result = run_backtest(specs, settings(fee=0.0, max_drawdown=0.2))
    (trade,) = result.instances[1].trades
    assert (trade.entry_ts, trade.amount) == (START_TS + 7 * STEP_MS, pytest.approx(50.0))
    (event,) = result.risk_events
    assert event.ts == START_TS + 9 * STEP_MS
    assert event.message == "max_drawdown breaker tripped: drawdown 25.00% >= limit 20.00%"
