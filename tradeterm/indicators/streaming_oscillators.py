"""流式振荡/动量指标：MACD（MACDStream）、Wilder RSI（RSIStream）、变动率（ROCStream）。

与 ta.macd、ta.rsi、ta.roc 在同一段序列、从同一根起算时逐位相同（同样的递推、同样的运算顺序）；每根 O(1)。
"""

from __future__ import annotations

from collections import deque
from typing import NamedTuple

from tradeterm.indicators._series import check_period
from tradeterm.indicators.streaming_moving import EMAStream, Stream
from tradeterm.indicators.streaming_ties import NAN, divide


class MACDValue(NamedTuple):
    """MACD 在一根 K 线上的三个值（与 ta.macd 的三列同名同义）。"""

    macd: float       # EMA(fast) - EMA(slow)，价格单位
    signal: float     # macd 的 EMA(signal)，价格单位
    histogram: float  # macd - signal，价格单位


class MACDStream(Stream):
    """MACD 的流式形式：三条 EMAStream 组合，与 ta.macd 逐位相同（信号线的 EMA 同样跳过 macd 开头的 NaN）。"""

    __slots__ = ("fast", "slow", "signal")  # 三条 EMA，见 __init__

    def __init__(self, fast: int = 12, slow: int = 26, signal: int = 9):
        """fast / slow / signal：三个 EMA 的周期，K 线根数；要求 fast < slow（同 ta.macd）。"""
        super().__init__()
        fast, slow = check_period(fast, "fast"), check_period(slow, "slow")
        signal = check_period(signal, "signal")
        if fast >= slow:
            raise ValueError(f"MACD fast period must be below slow period, got fast={fast} slow={slow}")
        # 快线 EMA
        self.fast = EMAStream(fast)
        # 慢线 EMA
        self.slow = EMAStream(slow)
        # 信号线：MACD 线的 EMA
        self.signal = EMAStream(signal)
        # 当前的三个值（预热期间为 NaN）
        self.value = MACDValue(NAN, NAN, NAN)

    def update(self, value: float) -> MACDValue:
        """输入一个收盘价，返回 (macd, signal, histogram)；预热期间为 NaN。"""
        line = self.fast.update(value) - self.slow.update(value)
        signal = self.signal.update(line)
        self.value = MACDValue(line, signal, line - signal)
        return self.value


class RSIStream(Stream):
    """Wilder RSI 的流式形式（0..100）：与 ta.rsi（wilder_rsi_kernel）逐位相同。

    与内核一样从序列第一根起算、不跳过 NaN：前 period 个涨跌幅的简单平均为种子（第一个值在第 period 根），
    之后按 1/period 平滑；平滑期间的 NaN 涨跌幅按“无涨无跌”处理，种子里的 NaN 使结果一直为 NaN。
    """

    __slots__ = ("period", "_count", "_previous", "_gain", "_loss")  # 状态见 __init__

    def __init__(self, period: int = 14):
        """period：平滑周期，K 线根数。"""
        super().__init__()
        # 平滑周期，K 线根数
        self.period = check_period(period)
        # 已输入的个数
        self._count = 0
        # 上一个输入（算涨跌幅用）
        self._previous = NAN
        # 平均涨幅（种子期间是涨幅之和），价格单位
        self._gain = 0.0
        # 平均跌幅（种子期间是跌幅之和），价格单位，非负
        self._loss = 0.0

    def update(self, value: float) -> float:
        """输入一个收盘价，返回 RSI（第 period 根之前为 NaN）。"""
        value = float(value)
        index, period = self._count, self.period
        self._count = index + 1
        change = value - self._previous
        self._previous = value
        if index == 0:
            return NAN
        if index <= period:
            # 种子：与内核相同的分支（NaN 涨跌幅落进 else，使跌幅之和成为 NaN）
            if change > 0:
                self._gain += change
            else:
                self._loss -= change
            if index < period:
                return NAN
            self._gain /= period
            self._loss /= period
            total = self._gain + self._loss
            self.value = 100.0 if total == 0 else 100.0 * self._gain / total
            return self.value
        up = change if change > 0 else 0.0
        down = -change if change < 0 else 0.0
        self._gain = (self._gain * (period - 1) + up) / period
        self._loss = (self._loss * (period - 1) + down) / period
        total = self._gain + self._loss
        # 无涨无跌时给 0（TA-Lib 的约定，同内核）
        self.value = 0.0 if total == 0 else 100.0 * self._gain / total
        return self.value


class ROCStream(Stream):
    """变动率的流式形式（小数）：x[t] / x[t-period] - 1，与 ta.roc 逐位相同（除以 0 按 IEEE 得 ±inf 或 NaN）。"""

    __slots__ = ("period", "_window")  # 状态见 __init__

    def __init__(self, period: int = 10):
        """period：比较的间隔，K 线根数。"""
        super().__init__()
        # 比较的间隔，K 线根数
        self.period = check_period(period)
        # 最近 period 个输入（最旧的就是 period 根之前的值）
        self._window: deque[float] = deque(maxlen=self.period)

    def update(self, value: float) -> float:
        """输入一个收盘价，返回变动率（前 period 根为 NaN）。"""
        value = float(value)
        window = self._window
        self.value = divide(value, window[0]) - 1.0 if len(window) == self.period else NAN
        window.append(value)
        return self.value
