"""均线类指标：简单移动平均（SMA）与指数移动平均（EMA）。"""

from __future__ import annotations

from tradeterm.indicators._kernels import ema_kernel, rolling_mean_kernel
from tradeterm.indicators._series import ArrayLike, as_float_array, check_period, like


def sma(values: ArrayLike, period: int) -> ArrayLike:
    """简单移动平均：最近 period 个值的算术平均；前 period-1 个为 NaN。

    窗口内有 NaN（或 ±inf）时结果为 NaN，与 pandas rolling(period).mean() 相同；numba 内核见 rolling_mean_kernel。
    """
    period = check_period(period)
    data = as_float_array(values)
    out = rolling_mean_kernel(data, period)
    return like(values, out, f"sma_{period}")


def ema(values: ArrayLike, period: int) -> ArrayLike:
    """指数移动平均：alpha = 2/(period+1)，以前 period 个有效值的 SMA 为种子（同 TA-Lib）。

    开头的 NaN 被跳过（例如对 MACD 线再求 EMA 时），种子从第一个有效值起算。
    """
    period = check_period(period)
    data = as_float_array(values)
    out = ema_kernel(data, period, 2.0 / (period + 1.0))
    return like(values, out, f"ema_{period}")
