"""流式均线：简单移动平均（SMAStream）与指数平滑（EMAStream，也用于 Wilder 平滑），以及全部流式指标的基类。

每个流式指标每根 K 线调用一次 `update(值)`，返回当前值（预热期间为 NaN）；`extend(序列)` 把一段历史逐根喂进去
（用于从历史 K 线建立状态），返回最后的值。结果与向量化函数（ta.sma、ta.ema）在同一段序列、从同一根起算时
逐位相同：这里按内核（tradeterm/indicators/_kernels.py）的同样顺序做同样的浮点运算。
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from typing import Any

from tradeterm.indicators._kernels import ROLLING_MEAN_RESUM_EVERY
from tradeterm.indicators._series import check_period
from tradeterm.indicators.streaming_ties import NAN

_isfinite = math.isfinite


def as_values(column: Any) -> Iterable:
    """extend 的输入 -> 可迭代的 Python 数：numpy 数组与 pandas Series 先 tolist()（逐个取 numpy 标量很慢）。"""
    tolist = getattr(column, "tolist", None)
    return tolist() if tolist is not None else column


class Stream:
    """流式指标的基类：子类实现 update(*输入)；这里提供 extend 与当前值 value。"""

    # 实例属性放在 __slots__ 里：每个实例更小，属性读写更快（实盘每根 K 线都要读写）
    __slots__ = ("value",)

    def __init__(self) -> None:
        """建立空状态。"""
        # 最近一次 update 的返回值；还没有输入时为 NaN
        self.value: Any = NAN

    def update(self, *inputs: float) -> Any:
        """输入一根 K 线的值，返回当前指标值（子类实现）。"""
        raise NotImplementedError

    def extend(self, *columns: Any) -> Any:
        """把一段历史逐根输入（每个参数一列，如 extend(high, low, close)），返回最后的值；列为空时返回当前值。"""
        update = self.update
        if len(columns) == 1:
            for value in as_values(columns[0]):
                update(value)
        else:
            for values in zip(*(as_values(c) for c in columns)):
                update(*values)
        return self.value


class SMAStream(Stream):
    """简单移动平均的流式形式：与 ta.sma（rolling_mean_kernel）逐位相同。

    内核的做法照搬：Neumaier 补偿的滑动和（先加新值、再减移出的值），从序列第一根起每到第 period-1+k*1024 个位置
    把窗口和从头精确求一次（每 1024 根一次 O(period)，摊下来每根 O(1)）；窗口里有 NaN 或 ±inf 时为 NaN；
    窗口内全部相同时直接取该值；全非负时不小于 0、全为负时不大于 0。
    """

    # 状态见 __init__
    __slots__ = ("period", "_window", "_count", "_total", "_compensation", "_valid", "_negative", "_same_run",
                 "_previous", "_until_resum")

    def __init__(self, period: int):
        """period：窗口长度，K 线根数。"""
        super().__init__()
        # 窗口长度，K 线根数
        self.period = check_period(period)
        # 最近 period 个输入（含 NaN / inf：它们也占窗口里的位置）
        self._window: deque[float] = deque(maxlen=self.period)
        # 已输入的个数（即下一个输入在序列里的下标）
        self._count = 0
        # 窗口内有限值的补偿和：和 + 补偿量 约等于真实的和
        self._total = 0.0
        # Neumaier 补偿量
        self._compensation = 0.0
        # 窗口内有限值的个数
        self._valid = 0
        # 窗口内负值的个数（符号保护）
        self._negative = 0
        # 连续相同有限值的个数（跳过缺失值计数，同内核）
        self._same_run = 0
        # 最近一个有限值
        self._previous = NAN
        # 距下一次重新求和还剩的位置数
        self._until_resum = ROLLING_MEAN_RESUM_EVERY

    def update(self, value: float) -> float:
        """输入一个值，返回窗口均值（窗口未满或含缺失值时为 NaN）。"""
        value = float(value)
        period, window = self.period, self._window
        total, compensation = self._total, self._compensation
        if _isfinite(value):
            self._valid += 1
            total, compensation = compensated_add(total, compensation, value)
            if value < 0:
                self._negative += 1
            if value == self._previous:
                self._same_run += 1
            else:
                self._same_run = 1
            self._previous = value
        if len(window) == period:
            old = window[0]
            if _isfinite(old):
                self._valid -= 1
                result = total - old
                if abs(total) >= abs(old):
                    compensation += (total - result) - old
                else:
                    compensation += (-old - result) + total
                total = result
                if old < 0:
                    self._negative -= 1
        window.append(value)
        index = self._count
        self._count = index + 1
        if index >= period - 1:
            self._until_resum -= 1
            if self._until_resum == 0:
                # 与内核同一位置重新精确求和：补偿累加的残余误差不随序列长度增长
                self._until_resum = ROLLING_MEAN_RESUM_EVERY
                total, compensation = _exact_window_sum(window)
        self._total, self._compensation = total, compensation
        self.value = self._mean(index)
        return self.value

    def _mean(self, index: int) -> float:
        """下标为 index 的位置上的均值（内核的输出规则）。"""
        period = self.period
        if index < period - 1 or self._valid < period:
            return NAN
        if self._same_run >= period:
            return self._previous
        mean = (self._total + self._compensation) / period
        if self._negative == 0 and mean < 0:
            return 0.0
        if self._negative == period and mean > 0:
            return 0.0
        return mean


def _exact_window_sum(window: deque) -> tuple[float, float]:
    """窗口内有限值从头的补偿和：(和, 补偿量)，与内核重新求和的循环相同。"""
    total = compensation = 0.0
    for value in window:
        if _isfinite(value):
            total, compensation = compensated_add(total, compensation, value)
    return total, compensation


def compensated_add(total: float, compensation: float, value: float) -> tuple[float, float]:
    """Neumaier 补偿求和的一步（与内核的补偿加法同样的运算、同样的顺序）：返回加上 value 之后的 (和, 补偿量)。"""
    result = total + value
    if abs(total) >= abs(value):
        compensation += (total - result) + value
    else:
        compensation += (value - result) + total
    return result, compensation


class EMAStream(Stream):
    """指数平滑的流式形式：与 ta.ema（ema_kernel）逐位相同。

    alpha 缺省为 2/(period+1)（EMA）；传 1/period 即 Wilder 平滑（ATR 用）。开头的 NaN 被跳过，种子是第一个有效值起
    period 个值的简单平均（逐个累加再除以 period），之后 prev + alpha * (x - prev)；种子之后的 NaN 使结果一直为 NaN（同内核）。
    """

    __slots__ = ("period", "alpha", "_seen", "_total")  # 状态见 __init__

    def __init__(self, period: int, alpha: float | None = None):
        """period：种子长度，K 线根数；alpha：平滑系数，缺省 2/(period+1)。"""
        super().__init__()
        # 种子长度，K 线根数
        self.period = check_period(period)
        # 平滑系数（0..1）；与向量化函数同样的算式，得到同一个 float
        self.alpha = 2.0 / (self.period + 1.0) if alpha is None else float(alpha)
        # 从第一个有效值起已输入的个数（0 表示还在跳过开头的 NaN）
        self._seen = 0
        # 种子期间的累加和
        self._total = 0.0

    def update(self, value: float) -> float:
        """输入一个值，返回平滑值（种子凑齐之前为 NaN）。"""
        value = float(value)
        seen = self._seen
        if seen >= self.period:
            previous = self.value
            self.value = previous + self.alpha * (value - previous)
            return self.value
        if seen == 0 and value != value:
            return NAN  # 开头的 NaN：尚无数据
        self._seen = seen + 1
        self._total += value
        if self._seen == self.period:
            self.value = self._total / self.period
        return self.value
