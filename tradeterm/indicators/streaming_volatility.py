"""流式波动类指标：滚动均值/标准差/偏离/z 分数（RollingMomentsStream）、布林带（BollingerStream）、
真实波幅（TrueRangeStream）与平均真实波幅（ATRStream）。

与 ta.rolling_moments、ta.bollinger、ta.true_range、ta.atr 在同一段序列、从同一根起算时逐位相同。
代价：滚动矩照搬内核的“逐窗平移两遍”（见 rolling_moments_kernel），每根要把窗口过两遍，是 O(period)——
固定的代价，只与周期有关，不随历史长度增长（周期 20 时每根约十微秒）；真实波幅与 ATR 每根 O(1)。
"""

from __future__ import annotations

import math
from collections import deque
from typing import NamedTuple

from tradeterm.indicators._series import check_period
from tradeterm.indicators.streaming_moving import EMAStream, Stream
from tradeterm.indicators.streaming_ties import NAN, maximum

_isfinite = math.isfinite
_sqrt = math.sqrt


class MomentsValue(NamedTuple):
    """滚动矩在一根 K 线上的值（与 ta.rolling_moments 的四列同名同义）。"""

    mean: float       # 窗口均值，价格单位
    std: float        # 窗口总体标准差（ddof=0），价格单位
    deviation: float  # 当前值 - 均值，价格单位
    zscore: float     # deviation / std；std 为 0（常数窗口）时为 NaN


class BollingerValue(NamedTuple):
    """布林带在一根 K 线上的三条线（与 ta.bollinger 的三列同名同义），价格单位。"""

    middle: float  # 中轨：窗口均值
    upper: float   # 上轨：middle + num_std * 标准差
    lower: float   # 下轨：middle - num_std * 标准差


# 预热期间的滚动矩
_NO_MOMENTS = MomentsValue(NAN, NAN, NAN, NAN)


class RollingMomentsStream(Stream):
    """滚动均值、总体标准差、偏离与 z 分数的流式形式：与 ta.rolling_moments 逐位相同。

    每个值只由它自己的窗口决定（窗口里有 NaN 或 ±inf 时全为 NaN），所以这里保留最近 period 个值，
    在每根上按内核的同样顺序平移两遍求出。每根 O(period)，见模块说明。
    """

    __slots__ = ("period", "_window")  # 状态见 __init__

    def __init__(self, period: int = 20):
        """period：窗口长度，K 线根数。"""
        super().__init__()
        # 窗口长度，K 线根数
        self.period = check_period(period)
        # 最近 period 个输入
        self._window: deque[float] = deque(maxlen=self.period)
        # 当前值（预热期间为 NaN）
        self.value = _NO_MOMENTS

    def update(self, value: float) -> MomentsValue:
        """输入一个值，返回 (mean, std, deviation, zscore)；窗口未满或含缺失值时全为 NaN。"""
        window = self._window
        window.append(float(value))
        self.value = self._moments() if len(window) == self.period else _NO_MOMENTS
        return self.value

    def _moments(self) -> MomentsValue:
        """满窗口上的四个值（rolling_moments_kernel 的同样运算）。"""
        window, period = self._window, self.period
        base = window[0]
        total = 0.0
        for value in window:
            if not _isfinite(value):
                return _NO_MOMENTS
            total += value - base
        shift = total / period
        accumulated = 0.0
        for value in window:
            diff = (value - base) - shift
            accumulated += diff * diff
        std = _sqrt(accumulated / period)
        deviation = (window[-1] - base) - shift
        return MomentsValue(base + shift, std, deviation, deviation / std if std > 0 else NAN)


class BollingerStream(Stream):
    """布林带的流式形式：与 ta.bollinger 逐位相同（均值与标准差取自 RollingMomentsStream）。"""

    __slots__ = ("num_std", "moments")  # 状态见 __init__

    def __init__(self, period: int = 20, num_std: float = 2.0):
        """period：窗口长度，K 线根数；num_std：带宽，标准差倍数，须为正。"""
        super().__init__()
        if not num_std > 0:
            raise ValueError(f"num_std must be positive, got {num_std!r}")
        # 带宽，标准差倍数
        self.num_std = float(num_std)
        # 窗口的均值与标准差
        self.moments = RollingMomentsStream(period)
        # 当前的三条线（预热期间为 NaN）
        self.value = BollingerValue(NAN, NAN, NAN)

    def update(self, value: float) -> BollingerValue:
        """输入一个收盘价，返回 (middle, upper, lower)。"""
        moments = self.moments.update(value)
        width = self.num_std * moments.std
        self.value = BollingerValue(moments.mean, moments.mean + width, moments.mean - width)
        return self.value


class TrueRangeStream(Stream):
    """真实波幅的流式形式：max(high-low, |high-前收|, |low-前收|)，与 ta.true_range 逐位相同（第一根为 NaN）。"""

    __slots__ = ("_previous_close",)  # 状态见 __init__

    def __init__(self) -> None:
        """建立空状态。"""
        super().__init__()
        # 上一根的收盘价；还没有时为 NaN（使第一根的真实波幅为 NaN）
        self._previous_close = NAN

    def update(self, high: float, low: float, close: float) -> float:
        """输入一根 K 线的最高、最低、收盘价，返回真实波幅，价格单位。"""
        high, low = float(high), float(low)
        previous = self._previous_close
        self._previous_close = float(close)
        # np.maximum 的嵌套顺序与 true_range 相同：NaN 一路传下去
        self.value = maximum(high - low, maximum(abs(high - previous), abs(low - previous)))
        return self.value


class ATRStream(Stream):
    """平均真实波幅（Wilder 平滑，alpha = 1/period）的流式形式：与 ta.atr 逐位相同（第一个值在第 period 根）。"""

    __slots__ = ("true_range", "smoothing")  # 状态见 __init__

    def __init__(self, period: int = 14):
        """period：平滑周期，K 线根数。"""
        super().__init__()
        period = check_period(period)
        # 真实波幅
        self.true_range = TrueRangeStream()
        # Wilder 平滑：平滑内核跳过第一根的 NaN，种子正好从第 1 根开始（同 ta.atr）
        self.smoothing = EMAStream(period, 1.0 / period)

    def update(self, high: float, low: float, close: float) -> float:
        """输入一根 K 线的最高、最低、收盘价，返回 ATR，价格单位（预热期间为 NaN）。"""
        self.value = self.smoothing.update(self.true_range.update(high, low, close))
        return self.value
