"""流式通道指标：唐奇安通道（DonchianStream），与 ta.donchian 逐位相同。

最大/最小值用单调队列维护（每根摊下来 O(1)）：队列里只留“之后没有更大（更小）值”的元素，队首就是窗口的极值。
与 pandas 的 rolling(period, min_periods=period) 一样，NaN 与 ±inf 算作缺失：窗口里有一个缺失值，该侧就是 NaN。
"""

from __future__ import annotations

import math
from collections import deque
from typing import NamedTuple

from tradeterm.indicators._series import check_period
from tradeterm.indicators.streaming_moving import Stream
from tradeterm.indicators.streaming_ties import NAN

_isfinite = math.isfinite


class DonchianValue(NamedTuple):
    """唐奇安通道在一根 K 线上的三条线（与 ta.donchian 的三列同名同义），价格单位。"""

    upper: float   # 最近 period 根（含当前）最高价的最大值
    lower: float   # 最近 period 根（含当前）最低价的最小值
    middle: float  # (upper + lower) / 2


class _RollingExtreme:
    """窗口极值的单调队列：sign 为 1 时求最大值，为 -1 时求最小值（比较 sign * 值）。"""

    __slots__ = ("period", "sign", "_queue", "_last_missing")  # 状态见 __init__

    def __init__(self, period: int, sign: int):
        """period：窗口长度，K 线根数；sign：1 求最大，-1 求最小。"""
        # 窗口长度，K 线根数
        self.period = period
        # 1 求最大值，-1 求最小值
        self.sign = sign
        # (下标, 值)，按下标递增、按 sign * 值 递减排列
        self._queue: deque[tuple[int, float]] = deque()
        # 最近一个缺失值（NaN / inf）的下标；没有时为一个足够小的数
        self._last_missing = -period

    def update(self, index: int, value: float) -> float:
        """输入下标为 index 的值，返回窗口极值（窗口未满或含缺失值时为 NaN）。"""
        queue, period = self._queue, self.period
        if _isfinite(value):
            key = self.sign * value
            while queue and self.sign * queue[-1][1] <= key:
                queue.pop()
            queue.append((index, value))
        else:
            self._last_missing = index
        while queue and queue[0][0] <= index - period:
            queue.popleft()
        if index < period - 1 or self._last_missing > index - period:
            return NAN
        return queue[0][1]


class DonchianStream(Stream):
    """唐奇安通道的流式形式：update(high, low) -> (upper, lower, middle)。

    含当前 K 线（与 ta.donchian 相同）；突破要与上一根的通道比较——上一次 update 的返回值。
    """

    __slots__ = ("period", "_count", "_upper", "_lower")  # 状态见 __init__

    def __init__(self, period: int = 20):
        """period：窗口长度，K 线根数。"""
        super().__init__()
        # 窗口长度，K 线根数
        self.period = check_period(period)
        # 已输入的根数（即下一根的下标）
        self._count = 0
        # 最高价的滚动最大值
        self._upper = _RollingExtreme(self.period, 1)
        # 最低价的滚动最小值
        self._lower = _RollingExtreme(self.period, -1)
        # 当前的三条线（预热期间为 NaN）
        self.value = DonchianValue(NAN, NAN, NAN)

    def update(self, high: float, low: float) -> DonchianValue:
        """输入一根 K 线的最高价与最低价，返回 (upper, lower, middle)。"""
        index = self._count
        self._count = index + 1
        upper = self._upper.update(index, float(high))
        lower = self._lower.update(index, float(low))
        self.value = DonchianValue(upper, lower, (upper + lower) / 2.0)
        return self.value
