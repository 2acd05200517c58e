"""阈值比较的平局规则：内置策略在价格尺度上比较，两边之差除以当根收盘价、四舍五入到 TIE_DECIMALS（11）位小数，
再与 0 比较（“落定”）。

为什么：浮点计算在真正的平局上留下噪声（z 恰为 -2 算成 -2.000000000000056、均值恰等于收盘价却算出 +2.96e-14），
比较的结果就只取决于价格的二进制表示，信号时有时无。落定之后噪声消失，平局按定义判定
（`z < -2` 在 z 恰为 -2 时为假，`z <= 0` 在 z 恰为 0 时为真）。

规则（README 有说明）：
- 两个价格量的比较（均线交叉：fast_ma 对 slow_ma；MACD 交叉：macd 对 macd_signal；MACD 与零轴；
  均值回归：收盘价 - 均值 对 k * 标准差，即 z 对 k）取 relative_gap = settle((a - b) / close)，与 0 比较；
- ROC 本身就是相对价差（close / 前收 - 1），直接落定后与 min_roc 比较；
- 直接取自 K 线的价格（动量策略的收盘价与通道）不经运算，原样精确比较；
- 阈值（entry_z、min_roc 等）按给定值参与运算，不落定。

为什么是价格尺度、11 位：十进制价格转成二进制时每个值有半个 ulp（相对 1.1e-16）的误差，均值、标准差、EMA 的
运算误差也是价格的若干 ulp；z 对 k 的比较在价格尺度上的误差约为 (2 + k) 个 ulp，k 取到参数上限 1000 时也只有
相对 2.2e-13，比半个落定单位（5e-12）小 20 倍以上，所以平局总被判成平局。反过来，真实差异小于收盘价的 5e-12
（BTC 22000 上 1.1e-7 USDT）的两个值会被当作相等：远小于任何交易所的最小价格变动（BTC 0.01），
换算到 z 是 5e-12 * 收盘价 / 标准差（BTC 1 分钟线的典型窗口上约 1e-7）。若直接把 z 舍入到固定位数，标准差只有
一两个最小价位时 z 的噪声会达到 1e-9，舍入就不再可靠，所以不这样做。
舍入用 numpy 的 round（乘 1e11 取整再除回），同一输入在任何路径上结果逐位相同。
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tradeterm.indicators._series import ArrayLike, as_float_array

# 比较之前保留的小数位数：11 位，即相对收盘价的差小于 5e-12 时视为平局
TIE_DECIMALS = 11


def settle(values: ArrayLike) -> ArrayLike:
    """把相对量（相对价差、ROC）四舍五入到 TIE_DECIMALS 位小数；NaN 保持 NaN。输入为 Series 时保留索引与列名。"""
    out = np.round(as_float_array(values), TIE_DECIMALS)
    if isinstance(values, pd.Series):
        return pd.Series(out, index=values.index, name=values.name)
    return out


def relative_gap(line: ArrayLike, other: ArrayLike, scale: ArrayLike) -> ArrayLike:
    """两条价格线的落定相对差：settle((line - other) / scale)，scale 通常是当根收盘价（计价货币）。

    判断交叉只需要它的符号：大于 0 表示 line 在 other 之上，等于 0 是平局。scale 为 0 或任一输入缺失时结果为 NaN（比较为假，不产生信号）。
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = (as_float_array(line) - as_float_array(other)) / as_float_array(scale)
    gap = np.where(np.isfinite(gap), gap, np.nan)
    if isinstance(line, pd.Series):
        return settle(pd.Series(gap, index=line.index, name=line.name))
    return settle(gap)
