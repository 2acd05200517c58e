"""四个内置策略的逻辑：在手工构造的几根 K 线上，信号出现在按定义算出的那一根。"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tradeterm.models import MarketType
from tradeterm.strategy.loader import build_strategy, load_strategy_class


def bars(closes, highs=None, lows=None) -> pd.DataFrame:
    """由收盘价（及可选高低价）造 1 分钟 K 线。"""
    closes = np.asarray(closes, dtype=float)
    return pd.DataFrame({"timestamp": np.arange(len(closes)) * 60_000, "open": closes,
                         "high": closes if highs is None else highs, "low": closes if lows is None else lows,
                         "close": closes, "volume": 1.0})


def rows(frame: pd.DataFrame, column: str) -> list[int]:
    """某个信号列为 True 的行号。"""
    return np.flatnonzero(frame[column].to_numpy()).tolist()


def test_ma_cross_enters_on_cross_above_and_exits_on_cross_below():
    """MACross(fast=2, slow=3)：收盘 [5,4,3,4,6,5,3,2]。

    SMA2 = [-, 4.5, 3.5, 3.5, 5, 5.5, 4, 2.5]；SMA3 = [-, -, 4, 3.667, 4.333, 5, 4.667, 3.333]
    t=3: 3.5 <= 3.667 无；t=4: 5 > 4.333 且 3.5 <= 3.667 -> 上穿；t=6: 4 < 4.667 且 5.5 >= 5 -> 下穿。
    """
    strategy = build_strategy(load_strategy_class("MACross"), {"fast": 2, "slow": 3})
    frame = strategy.compute(bars([5, 4, 3, 4, 6, 5, 3, 2]))
    assert rows(frame, "enter_long") == [4]
    assert rows(frame, "exit_long") == [6]
    assert rows(frame, "enter_short") == [], "spot never shorts"


def test_ma_cross_on_futures_reverses():
    """合约上下穿同时开空、上穿同时平空。"""
    strategy = build_strategy(load_strategy_class("MACross"), {"fast": 2, "slow": 3}, market_type=MarketType.FUTURES)
    frame = strategy.compute(bars([5, 4, 3, 4, 6, 5, 3, 2]))
    assert rows(frame, "enter_short") == [6] and rows(frame, "exit_short") == [4]


def test_mean_reversion_enters_below_band_and_exits_at_mean():
    """MeanReversion(window=3, entry_z=1.2, exit_z=0)：收盘 [10,10,10,7,10,11]。

    t=3 窗口 [10,10,7]：均值 9，总体标准差 sqrt(2)=1.414，z=(7-9)/1.414=-1.414 < -1.2 -> 开多；
    t=4 窗口 [10,7,10]：均值 9，z=+0.707 >= 0 -> 平多；t=2 标准差为 0，z 为 NaN，无信号。
    """
    strategy = build_strategy(load_strategy_class("MeanReversion"), {"window": 3, "entry_z": 1.2})
    frame = strategy.compute(bars([10, 10, 10, 7, 10, 11]))
    assert rows(frame, "enter_long") == [3]
    assert 4 in rows(frame, "exit_long") and 3 not in rows(frame, "exit_long") and 2 not in rows(frame, "exit_long")


def test_momentum_breaks_out_above_previous_high_and_exits_below_previous_low():
    """MomentumStrategy(lookback=3, exit_lookback=2)：收盘 [10,11,10,12,13,11,9]（高=低=收）。

    t=3：前 3 根最高 11，收 12 > 11，ROC3 = 12/10-1 = 0.2 > 0 -> 开多；t=4：前 3 根最高 12，13 > 12 -> 开多（引擎忽略重复）；
    t=6：前 2 根最低 11，收 9 < 11 -> 平多；t=5：前 2 根最低 12，11 < 12 -> 也平多。
    """
    strategy = build_strategy(load_strategy_class("MomentumStrategy"), {"lookback": 3, "exit_lookback": 2})
    frame = strategy.compute(bars([10, 11, 10, 12, 13, 11, 9]))
    assert rows(frame, "enter_long") == [3, 4]
    assert rows(frame, "exit_long") == [5, 6]


def test_macd_signals_match_crosses_of_macd_and_signal_line(btc_bars):
    """MACDStrategy：开多恰在 MACD 线上穿信号线的那些根，平多恰在下穿的那些根（按定义逐根核对）。"""
    strategy = build_strategy(load_strategy_class("MACDStrategy"))
    frame = strategy.compute(btc_bars.iloc[:5000])
    macd, signal = frame["macd"].to_numpy(), frame["macd_signal"].to_numpy()
    expected_up = [t for t in range(1, len(frame)) if macd[t] > signal[t] and macd[t - 1] <= signal[t - 1]]
    expected_down = [t for t in range(1, len(frame)) if macd[t] < signal[t] and macd[t - 1] >= signal[t - 1]]
    assert rows(frame, "enter_long") == expected_up and len(expected_up) > 50
    assert rows(frame, "exit_long") == expected_down
    assert min(expected_up) >= strategy.warmup - 1
