"""通道类指标：唐奇安通道（Donchian channel）。"""

from __future__ import annotations

import pandas as pd

from tradeterm.indicators._series import ArrayLike, as_float_array, check_period, frame_like


def donchian(high: ArrayLike, low: ArrayLike, period: int = 20) -> pd.DataFrame:
    """唐奇安通道：upper = 最近 period 根（含当前）最高价的最大值，lower = 最低价的最小值，middle 为二者均值。

    含当前 K 线，因此“突破”应比较收盘价与上一根的 upper（策略里用 shift(1)），否则永远无法突破。
    """
    period = check_period(period)
    upper = pd.Series(as_float_array(high)).rolling(period, min_periods=period).max().to_numpy()
    lower = pd.Series(as_float_array(low)).rolling(period, min_periods=period).min().to_numpy()
    return frame_like(high, {"upper": upper, "lower": lower, "middle": (upper + lower) / 2.0})
