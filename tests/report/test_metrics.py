"""绩效指标：手算的小权益曲线与交易，以及在真实回测曲线上与独立实现（pandas）的对比。"""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

from tradeterm.backtest.engine import BacktestSettings, InstanceSpec, run_backtest
from tradeterm.backtest.results import EXIT_OPEN, EXIT_SIGNAL, Trade
from tradeterm.report.metrics import (
    compute_metrics, exposure_mask, max_drawdown_duration, periods_per_year, result_metrics, return_metrics,
    trade_metrics,
)
from tradeterm.strategy.loader import build_strategy, load_strategy_class


def make_trade(pnl: float, entry: int = 0, exit_: int = 1, is_open: bool = False, fees: float = 1.0) -> Trade:
    """构造一笔只关心盈亏、行号与手续费的交易。"""
    return Trade(instance="t", symbol="BTC/USDT", side=1, entry_index=entry, exit_index=exit_, entry_ts=0,
                 exit_ts=None if is_open else 1, entry_price=100.0, exit_price=100.0, amount=1.0,
                 entry_fee=fees / 2, exit_fee=0.0 if is_open else fees / 2, pnl=pnl,
                 exit_reason=EXIT_OPEN if is_open else EXIT_SIGNAL)


def test_periods_per_year_uses_a_365_day_year():
    """1m：365 * 24 * 60 = 525,600；1h：8,760；1d：365。"""
    assert periods_per_year("1m") == 525_600
    assert periods_per_year("1h") == 8_760
    assert periods_per_year("1d") == 365


def test_return_metrics_on_a_hand_computed_daily_curve():
    """初始 100，日线权益 110、99、121、121。

    收益 r = 0.1, -0.1, 0.2222..., 0；均值 0.0555...；样本标准差 sqrt(0.0570370/3) = 0.137885；
    Sharpe = 0.0555556 / 0.137885 * sqrt(365) = 7.6976；下行偏差 = sqrt(0.01 / 4) = 0.05，
    Sortino = 0.0555556 / 0.05 * sqrt(365) = 21.2277；最大回撤 = 1 - 99/110 = 10%，持续 1 根；
    年数 = 4/365，CAGR = 1.21^(365/4) - 1；Calmar = CAGR / 0.1。
    """
    m = return_metrics(np.array([110.0, 99.0, 121.0, 121.0]), 100.0, "1d")
    returns = [0.1, -0.1, 121 / 99 - 1, 0.0]
    mean, stdev = statistics.mean(returns), statistics.stdev(returns)
    assert m["total_return"] == pytest.approx(0.21)
    assert m["sharpe"] == pytest.approx(mean / stdev * math.sqrt(365))
    assert m["sharpe"] == pytest.approx(7.6976, abs=1e-3)
    assert m["sortino"] == pytest.approx(21.2277, abs=1e-3)
    assert m["volatility"] == pytest.approx(stdev * math.sqrt(365))
    assert m["max_drawdown"] == pytest.approx(0.1)
    assert m["max_drawdown_bars"] == 1
    cagr = 1.21 ** (365 / 4) - 1
    assert m["cagr"] == pytest.approx(cagr)
    assert m["calmar"] == pytest.approx(cagr / 0.1)


def test_cagr_beyond_float_range_is_infinite_not_an_overflow_error():
    """40 根 1 分钟 K 线赚 6%：年化倍数 1.06 ** 13140 超出浮点范围，CAGR 如实为 +inf（以前抛 OverflowError）。"""
    equity = np.linspace(10_000.0, 10_600.0, 40)
    m = return_metrics(equity, 10_000.0, "1m")
    assert m["cagr"] == math.inf
    assert m["total_return"] == pytest.approx(0.06)
    # 亏光与零长度区间保持原来的约定
    assert return_metrics(np.array([10_000.0, 0.0]), 10_000.0, "1d")["cagr"] == -1.0
    assert math.isnan(return_metrics(np.array([]), 10_000.0, "1d")["cagr"])


def test_drawdown_duration_counts_bars_until_a_new_high():
    """初始 100：100、90、95、99、101、100 -> 水下为 90、95、99 三根（101 创新高），之后 100 再水下 1 根。"""
    assert max_drawdown_duration(np.array([100.0, 90, 95, 99, 101, 100]), 100.0) == 3


def test_drawdown_counts_a_loss_on_the_first_bar():
    """第一根就从初始资金 100 跌到 80：最大回撤 20%（初始资金算作前高）。"""
    assert return_metrics(np.array([80.0, 90.0]), 100.0, "1m")["max_drawdown"] == pytest.approx(0.2)


def test_trade_metrics_count_closed_trades_only():
    """已平仓 +10、-5、+20、-5 与一笔未平仓 +100：胜率 50%，盈亏比 30 / 10 = 3，平均盈利 15，平均亏损 -5，
    期望 5；手续费含未平仓那笔的开仓费：5 笔 * 1。"""
    trades = [make_trade(10), make_trade(-5), make_trade(20), make_trade(-5), make_trade(100, is_open=True)]
    m = trade_metrics(trades)
    assert (m["num_trades"], m["open_trades"]) == (4, 1)
    assert m["win_rate"] == 0.5
    assert m["profit_factor"] == pytest.approx(3.0)
    assert (m["avg_win"], m["avg_loss"], m["expectancy"]) == (15.0, -5.0, 5.0)
    assert m["fees"] == pytest.approx(4 * 1.0 + 0.5)


def test_profit_factor_without_losses_is_infinite_and_without_trades_undefined():
    """只有盈利交易：盈亏比为无穷大；没有交易：胜率与盈亏比都无定义（NaN）。"""
    assert trade_metrics([make_trade(5)])["profit_factor"] == math.inf
    empty = trade_metrics([])
    assert math.isnan(empty["win_rate"]) and math.isnan(empty["profit_factor"])


def test_exposure_counts_bars_held_at_the_close():
    """10 根：第 2 根入场、第 5 根离场（持有第 2、3、4 根收盘），第 8 根入场未平仓（8、9）-> 5 / 10。"""
    trades = [make_trade(1, entry=2, exit_=5), make_trade(1, entry=8, exit_=9, is_open=True)]
    assert exposure_mask(10, trades).sum() == 5
    assert compute_metrics(np.full(10, 100.0), 100.0, "1m", trades)["exposure"] == 0.5


def test_metrics_on_a_real_backtest_match_an_independent_pandas_calculation(btc_bars):
    """真实 MACross 回测的权益曲线：用 pandas 的 pct_change 与 cummax 独立算 Sharpe、Sortino、波动与最大回撤。"""
    strategy = build_strategy(load_strategy_class("MACross"), {})
    result = run_backtest([InstanceSpec(strategy, btc_bars)], BacktestSettings())
    metrics = result_metrics(result)["portfolio"]
    import pandas as pd

    curve = pd.Series(np.concatenate([[10_000.0], result.equity]))
    returns = curve.pct_change().dropna()
    per_year = 365 * 24 * 60
    assert metrics["sharpe"] == pytest.approx(returns.mean() / returns.std() * math.sqrt(per_year), rel=1e-9)
    downside = math.sqrt((returns.clip(upper=0) ** 2).mean())
    assert metrics["sortino"] == pytest.approx(returns.mean() / downside * math.sqrt(per_year), rel=1e-9)
    assert metrics["volatility"] == pytest.approx(returns.std() * math.sqrt(per_year), rel=1e-9)
    assert metrics["max_drawdown"] == pytest.approx((1 - curve / curve.cummax()).max(), rel=1e-12)
    assert metrics["final_equity"] == result.equity[-1]
    closed = [t for t in result.trades if not t.is_open]
    assert metrics["num_trades"] == len(closed)
    assert metrics["win_rate"] == pytest.approx(sum(t.pnl > 0 for t in closed) / len(closed))
