"""实盘的逐根路径与回测给出同样的信号：引擎的 Bot 每根 K 线在最近 window 根上调用 on_data，回测在整段历史上
一次 compute；四个内置策略在真实行情（以及插入了平台的真实行情）上逐根比较，信号必须完全相同。"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradeterm.engine.bot import MIN_WINDOW
from tradeterm.models import MarketType
from tradeterm.strategy.base import SIGNAL_COLUMNS
from tradeterm.strategy.loader import build_strategy, load_strategy_class

# 四个内置策略
BUILTINS = ["MACross", "MACDStrategy", "MeanReversion", "MomentumStrategy"]
# 插入的平台长度，K 线根数
PLATFORM = 40
# 各平台的起始行号：第 100 根起每 300 根一段，共 20 段（都在前 6,000 根内）
PLATFORM_STARTS = range(100, 6000 - PLATFORM, 300)


def live_flags(strategy, bars: pd.DataFrame, row: int, window: int) -> list[bool]:
    """实盘路径：以第 row 根结尾、长 window 根的滑动窗口上 on_data 的信号，按 SIGNAL_COLUMNS 排成布尔列表。"""
    signals = strategy.on_data(bars.iloc[max(0, row - window + 1):row + 1].reset_index(drop=True))
    fired = {s.reason.split(".")[1] for s in signals}
    return [c in fired for c in SIGNAL_COLUMNS]


def with_flat_stretches(bars: pd.DataFrame) -> pd.DataFrame:
    """真实 K 线的前 6,000 根里从第 100 根起每隔 300 根插一段 PLATFORM 根的平台（开高低收都等于那一刻的收盘价）：
    平台上的常数窗口覆盖各种真实价位。"""
    out = bars.iloc[:6000].copy()
    for start in PLATFORM_STARTS:
        price = out["close"].iloc[start]
        out.iloc[start:start + PLATFORM, out.columns.get_indexer(["open", "high", "low", "close"])] = price
    return out


@pytest.mark.parametrize("flat", [False, True])
@pytest.mark.parametrize("name", BUILTINS)
def test_live_window_signals_equal_the_backtest_signals(name, flat, btc_bars):
    """实盘窗口（max(300, 2 * warmup) 根）上的信号与回测整段计算的那一行完全相同。
    抽查的根：真实行情每 40 根一根；插了平台的行情取前 5 个（窗口够长之后的）平台及其前后各 10 根。"""
    bars = with_flat_stretches(btc_bars) if flat else btc_bars.iloc[:6000]
    strategy = build_strategy(load_strategy_class(name), {}, market_type=MarketType.FUTURES)
    full = strategy.compute(bars)[list(SIGNAL_COLUMNS)].to_numpy()
    window = max(MIN_WINDOW, 2 * strategy.warmup)
    if flat:
        starts = [start for start in PLATFORM_STARTS if start - 10 >= window][:5]
        checked = [row for start in starts for row in range(start - 10, start + PLATFORM + 10)]
    else:
        checked = range(window, len(bars), 40)
    mismatched = [row for row in checked if live_flags(strategy, bars, row, window) != full[row].tolist()]
    assert mismatched == []
    assert full.any()


def test_flat_stretches_give_mean_reversion_no_signal_once_the_window_is_flat(btc_bars):
    """平台开始 19 根之后窗口全是同一价：z 为 NaN，MeanReversion 在这些根上没有任何信号（每个平台 21 根，共 20 个平台）。"""
    bars = with_flat_stretches(btc_bars)
    frame = build_strategy(load_strategy_class("MeanReversion"), {}, market_type=MarketType.FUTURES).compute(bars)
    flat_rows = np.concatenate([np.arange(start + 19, start + PLATFORM) for start in PLATFORM_STARTS])
    assert len(flat_rows) == 20 * 21
    assert frame["zscore"].iloc[flat_rows].isna().all()
    assert not frame[list(SIGNAL_COLUMNS)].iloc[flat_rows].to_numpy().any()
