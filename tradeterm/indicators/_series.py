"""指标输入输出的统一处理：接受 pandas Series 或 numpy 数组，输出保持同样的类型与索引。"""

from __future__ import annotations

import numpy as np
import pandas as pd

# 指标接受的输入：Series（保留索引）或任意可转为 float64 数组的序列
ArrayLike = pd.Series | np.ndarray


def as_float_array(values: ArrayLike) -> np.ndarray:
    """转成连续的 float64 数组（numba 内核与 numpy 计算都需要）。"""
    if isinstance(values, pd.Series):
        return np.ascontiguousarray(values.to_numpy(dtype=np.float64, na_value=np.nan))
    return np.ascontiguousarray(np.asarray(values, dtype=np.float64))


def like(template: ArrayLike, values: np.ndarray, name: str) -> ArrayLike:
    """按输入的类型包装结果：输入是 Series 则返回同索引、名为 name 的 Series，否则返回数组。"""
    if isinstance(template, pd.Series):
        return pd.Series(values, index=template.index, name=name)
    return values


def frame_like(template: ArrayLike, columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """多列指标的结果：总是 DataFrame；输入为 Series 时沿用其索引。"""
    index = template.index if isinstance(template, pd.Series) else None
    return pd.DataFrame(columns, index=index)


def check_period(period: int, name: str = "period") -> int:
    """周期必须是正整数；否则是调用方（策略）的缺陷，抛 ValueError。"""
    if isinstance(period, bool) or not isinstance(period, (int, np.integer)) or period < 1:
        raise ValueError(f"{name} must be a positive integer, got {period!r}")
    return int(period)


