"""内置策略在平局上的判定（规则见 tradeterm/indicators/ties.py）：比较在价格尺度上做，两边之差除以收盘价、
落定到 11 位小数，恰在阈值上的值按定义判定，结果不随价格的二进制表示变化。每个用例的平局都在文档字符串里手算。"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from tradeterm.models import MarketType
from tradeterm.strategy.loader import build_strategy, load_strategy_class
from tests.strategies.test_builtins import bars, rows

# 四列信号
COLUMNS = ("enter_long", "exit_long", "enter_short", "exit_short")


def futures(name: str, **params):
    """合约市场（四个信号列都有效）上的内置策略。"""
    return build_strategy(load_strategy_class(name), params, market_type=MarketType.FUTURES)


@pytest.mark.parametrize("price", [22358.18, 22326.37])
def test_mean_reversion_gives_no_signal_on_a_flat_window(price):
    """25 根同价：标准差恰为 0，z 为 NaN，四个信号都不出现（修复前 22358.18 上 z = 0，两个离场信号每根都出现，
    22326.37 上不出现）。"""
    frame = futures("MeanReversion").compute(bars([price] * 25))
    assert all(rows(frame, c) == [] for c in COLUMNS)
    assert frame["zscore"].isna().all()


def test_mean_reversion_does_not_enter_at_exactly_minus_entry_z():
    """16 根 100、4 根 99.7：最后一根 z 恰为 -2（手算见 tests/indicators/test_exact_windows.py）。
    entry_z = 2 时 z < -2 不成立，不开多（浮点的 z 是 -2.0000000000000004，不落定就会开）；entry_z = 1.999 时开多。"""
    closes = [100.0] * 16 + [99.7] * 4
    assert rows(futures("MeanReversion").compute(bars(closes)), "enter_long") == []
    assert rows(futures("MeanReversion", entry_z=1.999).compute(bars(closes)), "enter_long") == [19]


def test_mean_reversion_exits_at_exactly_zero_z():
    """9 根 7634.16、9 根 7605.30、2 根 7619.73：窗口和恰为 20 * 7619.73，z 恰为 0：
    exit_short（z <= 0）与 exit_long（z >= 0）在第 19 根同时成立（修复前 z = +6.6e-14，exit_short 晚一根才出现）。"""
    closes = [7634.16] * 9 + [7605.30] * 9 + [7619.73] * 2
    frame = futures("MeanReversion").compute(bars(closes))
    assert rows(frame, "exit_short") == [19] and rows(frame, "exit_long") == [19]


def test_mean_reversion_exact_zero_ties_in_real_btc_candles(btc_bars):
    """真实 BTC/USDT 1m 上第 3681 与 28304 根：十进制下 20 根收盘之和恰为 20 * 收盘价（z 恰为 0），exit_short 成立。"""
    closes = btc_bars["close"].to_numpy()
    frame = futures("MeanReversion").compute(btc_bars)
    for row in (3681, 28304):
        window = [Decimal(str(float(v))) for v in closes[row - 19:row + 1]]
        assert sum(window) == 20 * window[-1]
        assert bool(frame["exit_short"].iloc[row]) and frame["zscore"].iloc[row] != 0.0


def test_momentum_roc_exactly_at_min_roc_does_not_enter():
    """lookback=3：收盘 [3.0, 2.9, 2.95, 3.003]（高=低=收）。第 3 根 3.003 > 前 3 根最高 3.0，突破；
    ROC = 3.003 / 3.0 - 1 = 0.001 恰好（浮点 0.001000000000000112）。min_roc = 0.001 时 ROC > min_roc 不成立，不开多；
    min_roc = 0.0009 时开多。"""
    closes = [3.0, 2.9, 2.95, 3.003]
    assert 3.003 / 3.0 - 1 > 0.001
    strategy = build_strategy(load_strategy_class("MomentumStrategy"), {"lookback": 3, "exit_lookback": 2,
                                                                        "min_roc": 0.001})
    assert rows(strategy.compute(bars(closes)), "enter_long") == []
    strategy = build_strategy(load_strategy_class("MomentumStrategy"), {"lookback": 3, "exit_lookback": 2,
                                                                        "min_roc": 0.0009})
    assert rows(strategy.compute(bars(closes)), "enter_long") == [3]


def test_ma_cross_equal_lines_are_not_a_cross():
    """MACross(fast=2, slow=4)：收盘 [200, 486.76, 149.9, 157.68, 478.98, 480]。
    第 3 根：SMA2 = 153.79 <= SMA4 = 248.585；第 4 根：SMA2 = (157.68 + 478.98) / 2 = 318.33，
    SMA4 = (486.76 + 149.9 + 157.68 + 478.98) / 4 = 318.33，两线相等，不是上穿（浮点 318.33000000000004 > 318.33）；
    第 5 根：SMA2 = 479.49 > SMA4 = 316.64 且上一根相等 -> 上穿在第 5 根。"""
    strategy = build_strategy(load_strategy_class("MACross"), {"fast": 2, "slow": 4})
    frame = strategy.compute(bars([200, 486.76, 149.9, 157.68, 478.98, 480]))
    assert frame["fast_ma"].iloc[4] > frame["slow_ma"].iloc[4]
    assert rows(frame, "enter_long") == [5] and rows(frame, "exit_long") == []


def test_macd_cross_and_zero_line_use_settled_relative_gaps():
    """直接给 signals() 一张手工指标表（收盘 20000）：macd - signal 依次为 -1、1e-13（浮点噪声，相对 5e-18，算相等）、2、-3。
    上穿只在第 2 根（第 1 根相等，不算上穿），下穿在第 3 根。above_zero 时 macd = 1e-13 不算在零轴之上。"""
    strategy = futures("MACDStrategy", above_zero=True)
    frame = pd.DataFrame({"close": [20_000.0] * 4, "macd_signal": [5.0, 5.0, 5.0, 5.0],
                          "macd": [4.0, 5.0 + 1e-13, 7.0, 2.0]})
    flags = strategy.signals(frame)
    assert flags["enter_long"].tolist() == [False, False, True, False]
    assert flags["exit_long"].tolist() == [False, False, False, True]
    # 第 1 根上穿（相对差 (1e-13 + 1) / 20000 > 0），但 macd / close = 5e-18 落定为 0，不在零轴之上：不开多
    noise = pd.DataFrame({"close": [20_000.0] * 2, "macd_signal": [-1.0, -1.0], "macd": [-2.0, 1e-13]})
    flags = strategy.signals(noise)
    assert flags["exit_short"].tolist() == [False, True] and flags["enter_long"].tolist() == [False, False]


@pytest.mark.parametrize("price", [22358.18, 22326.37, 1.2345, 27944.05])
def test_macd_signals_do_not_depend_on_the_price_level(price):
    """同一形状（60 根从 0.98 * price 线性涨到 price，再 200 根不动）放在不同价位：MACD 线与信号线在线性段末尾相等
    （相对差 1e-19 量级的噪声），平台开始那根（第 60 根）下穿。落定之后每个价位都在第 60 根下穿、没有别的信号；
    修复前 22326.37 上没有这次下穿（噪声的符号随价格变）。"""
    closes = np.concatenate([np.linspace(price * 0.98, price, 60), np.full(200, price)])
    frame = futures("MACDStrategy").compute(bars(closes))
    assert rows(frame, "exit_long") == [60] and rows(frame, "enter_long") == []
