"""流式指标的标量工具：与向量化计算逐位相同的除法、取大，以及单个值的落定（settle）与落定相对差（relative_gap）。

为什么需要它们：numpy 按 IEEE 754 处理除以 0（得 ±inf 或 NaN）而 Python 的 float 除法抛 ZeroDivisionError；
np.maximum 遇 NaN 返回 NaN 而内置 max 不一定。流式指标要与 numpy / numba 的结果逐位相同，就得用同样的规则。
落定规则本身见 tradeterm/indicators/ties.py；这里是它作用在单个数上的形式（乘 1e11、按“四舍六入五成双”取整、
再除回，与 np.round 的做法一致），测试逐位比对两者。
"""

from __future__ import annotations

import math

from tradeterm.indicators.ties import TIE_DECIMALS

# 落定的比例：10 的 TIE_DECIMALS 次方（1e11，可被 float64 精确表示），np.round 用的是同一个数
SETTLE_SCALE = 10.0 ** TIE_DECIMALS
# 非数（NaN），流式指标预热期间与缺数据时的值
NAN = math.nan

_isfinite = math.isfinite
_copysign = math.copysign


def divide(numerator: float, denominator: float) -> float:
    """IEEE 754 的除法（与 numpy 相同）：除以 ±0 时得 ±inf，0/0 与 NaN/0 得 NaN，不抛异常。"""
    try:
        return numerator / denominator
    except ZeroDivisionError:
        if numerator != numerator or numerator == 0.0:
            return NAN
        return _copysign(math.inf, numerator) * _copysign(1.0, denominator)


def maximum(first: float, second: float) -> float:
    """与 np.maximum 相同的取大：任一为 NaN 时得 NaN；两者相等时取第二个（与 numpy 对 ±0 的取法一致）。"""
    return first if first > second or first != first else second


def settle_value(value: float) -> float:
    """单个相对量的落定：与 ta.settle 作用在同一个数上的结果逐位相同（NaN 保持 NaN，±inf 保持 ±inf）。"""
    scaled = value * SETTLE_SCALE
    if _isfinite(scaled):
        # round() 是“五成双”的取整，与 np.rint 相同；copysign 保留 -0.0（np.rint(-0.3) 是 -0.0）
        scaled = _copysign(float(round(scaled)), scaled)
    return scaled / SETTLE_SCALE


def relative_gap_value(line: float, other: float, scale: float) -> float:
    """单根 K 线上的落定相对差 settle((line - other) / scale)：与 ta.relative_gap 同一行的值逐位相同。

    scale 为 0 或任一输入缺失（NaN）时结果为 NaN（比较为假，不产生信号）。"""
    gap = divide(line - other, scale)
    if not _isfinite(gap):
        return NAN
    return settle_value(gap)
