"""指标的递推内核（numba 编译）：EMA 与 Wilder 平滑这类必须逐点递推的计算，以及滚动均值、滚动标准差。

每个内核是 `tradeterm.jit.kernel`：第一次调用时才选定预编译模块或 numba.njit（导入本模块不加载 numba），
签名固定为 float64 数组与 int64 周期（其他类型的参数照常由 njit 按实际类型编译）。

这些内核只处理 float64 的 numpy 数组，开头的 NaN 视为“尚无数据”并跳过；种子取前 n 个有效值的简单平均，
与 TA-Lib 的约定一致，所以预热期之后的数值与 TA-Lib 逐点相等（浮点误差内）。
"""

from __future__ import annotations

import numpy as np

from tradeterm.jit import jitable, kernel

# 滚动均值内核每隔多少个位置（K 线根数）把窗口和从头重新精确求一次，使补偿累加的残余误差不随序列长度增长
ROLLING_MEAN_RESUM_EVERY = 1024


@kernel("i8(f8[:])")
def first_valid(values: np.ndarray) -> int:
    """第一个非 NaN 元素的下标；全为 NaN 时返回数组长度。"""
    for i in range(values.shape[0]):
        if not np.isnan(values[i]):
            return i
    return values.shape[0]


@kernel("f8[:](f8[:], i8, f8)")
def ema_kernel(values: np.ndarray, period: int, alpha: float) -> np.ndarray:
    """指数平滑：以前 period 个有效值的均值为种子，之后 out[t] = out[t-1] + alpha * (x[t] - out[t-1])。

    alpha 为 2/(period+1) 时是 EMA，为 1/period 时是 Wilder 平滑（RSI、ATR 使用）。
    """
    n = values.shape[0]
    out = np.full(n, np.nan)
    start = first_valid(values)
    seed_end = start + period - 1
    if seed_end >= n:
        return out
    total = 0.0
    for i in range(start, seed_end + 1):
        total += values[i]
    prev = total / period
    out[seed_end] = prev
    for i in range(seed_end + 1, n):
        prev = prev + alpha * (values[i] - prev)
        out[i] = prev
    return out


@kernel("f8[:](f8[:], i8)")
def wilder_rsi_kernel(close: np.ndarray, period: int) -> np.ndarray:
    """Wilder RSI：前 period 个涨跌幅的简单平均为种子，之后按 1/period 平滑；第一个值在下标 period。"""
    n = close.shape[0]
    out = np.full(n, np.nan)
    if n <= period:
        return out
    gain = 0.0
    loss = 0.0
    for i in range(1, period + 1):
        change = close[i] - close[i - 1]
        if change > 0:
            gain += change
        else:
            loss -= change
    gain /= period
    loss /= period
    out[period] = 100.0 if gain + loss == 0 else 100.0 * gain / (gain + loss)
    for i in range(period + 1, n):
        change = close[i] - close[i - 1]
        up = change if change > 0 else 0.0
        down = -change if change < 0 else 0.0
        gain = (gain * (period - 1) + up) / period
        loss = (loss * (period - 1) + down) / period
        # 无涨无跌时 TA-Lib 给 0；这里沿用以保持一致
        out[i] = 0.0 if gain + loss == 0 else 100.0 * gain / (gain + loss)
    return out


@kernel("UniTuple(f8[:], 3)(f8[:], i8)")
def rolling_moments_kernel(values: np.ndarray, period: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """滚动均值、总体标准差（ddof=0）与当前值对均值的偏离（x - 均值），每个值只由它自己的窗口内容决定。

    做法是“平移两遍”：先把窗口里每个值减去窗口的第一个值 x0（d = x - x0），再对 d 做两遍计算
    （m = sum(d)/period，方差 = sum((d - m)^2)/period），均值 = x0 + m，偏离 = (x - x0) - m。
    为什么这样算：
    - 窗口内价格相差不到一倍时 x - x0 是精确的（Sterbenz 引理），同一数量级的价格差的和也是精确的，
      所以常数窗口的 d 全为 0，方差恰好是 0（不再是 sum/period 的舍入留下的 1-3 ulp），偏离恰好是 0；
    - 偏离直接由精确的 d 算出，不经过舍入后的均值，误差只有价格的几个 ulp；
    - 只依赖窗口内容（与窗口在数组中的位置无关）：实盘的滑动窗口与回测的整段历史在同一根 K 线上逐位相同。
    窗口里有 NaN 或 ±inf 时三者都是 NaN。代价 O(n*period)。
    """
    n = values.shape[0]
    mean = np.full(n, np.nan)
    std = np.full(n, np.nan)
    deviation = np.full(n, np.nan)
    for end in range(period - 1, n):
        start = end - period + 1
        base = values[start]
        total = 0.0
        finite = True
        for i in range(start, end + 1):
            if not np.isfinite(values[i]):
                finite = False
                break
            total += values[i] - base
        if not finite:
            continue
        shift = total / period
        acc = 0.0
        for i in range(start, end + 1):
            diff = (values[i] - base) - shift
            acc += diff * diff
        mean[end] = base + shift
        std[end] = np.sqrt(acc / period)
        deviation[end] = (values[end] - base) - shift
    return mean, std, deviation


@kernel("f8[:](f8[:], i8)")
def rolling_std_kernel(values: np.ndarray, period: int) -> np.ndarray:
    """滚动总体标准差（ddof=0）：rolling_moments_kernel 的标准差一列（常数窗口恰好为 0）。

    pandas 的在线算法在 2 万多价位上误差可达 4e-8 相对；逐窗平移两遍计算在 1e-14 以内，
    代价是 O(n*period)，period 为几十时对百万根 K 线仍只需几十毫秒。
    """
    return rolling_moments_kernel(values, period)[1]


@jitable
def _compensated_add(total: float, compensation: float, value: float) -> tuple[float, float]:
    """Neumaier 补偿求和的一步：返回加上 value 之后的 (和, 补偿量)；真实的和约为 和 + 补偿量。"""
    result = total + value
    if abs(total) >= abs(value):
        compensation += (total - result) + value
    else:
        compensation += (value - result) + total
    return result, compensation


@kernel("f8[:](f8[:], i8)")
def rolling_mean_kernel(values: np.ndarray, period: int) -> np.ndarray:
    """滚动算术平均（窗口 period，要求窗口内 period 个值全部有效），语义与 pandas rolling(period).mean() 相同。

    - 第一个有效值在下标 period-1；窗口里有 NaN 或 ±inf（pandas 把 inf 当作缺失）时结果为 NaN；
    - 窗口内的值全部相同时直接返回该值（不经除法，平坦行情里快慢线严格相等，不会产生假交叉）；
    - 全为非负时结果不小于 0、全为负时不大于 0（与 pandas 相同的符号保护）。

    数值上用 Neumaier 补偿的滑动和（每步加入新值、移出旧值），并每隔 ROLLING_MEAN_RESUM_EVERY 个位置
    把窗口和重新精确求一次，所以误差与直接逐窗求和同一量级（约 1e-16 相对），不随序列长度（百万根）累积。
    代价是 O(n)，与周期无关。
    """
    n = values.shape[0]
    out = np.full(n, np.nan)
    total = 0.0
    compensation = 0.0
    valid = 0
    negative = 0
    same_run = 0
    previous = np.nan
    until_resum = ROLLING_MEAN_RESUM_EVERY
    for i in range(n):
        value = values[i]
        if np.isfinite(value):
            valid += 1
            total, compensation = _compensated_add(total, compensation, value)
            if value < 0:
                negative += 1
            # 连续相同值的个数（跳过缺失值计数，同 pandas）
            if value == previous:
                same_run += 1
            else:
                same_run = 1
            previous = value
        if i >= period:
            old = values[i - period]
            if np.isfinite(old):
                valid -= 1
                total, compensation = _compensated_add(total, compensation, -old)
                if old < 0:
                    negative -= 1
        if i < period - 1:
            continue
        until_resum -= 1
        if until_resum == 0:
            until_resum = ROLLING_MEAN_RESUM_EVERY
            total = 0.0
            compensation = 0.0
            for j in range(i - period + 1, i + 1):
                if np.isfinite(values[j]):
                    total, compensation = _compensated_add(total, compensation, values[j])
        if valid < period:
            continue
        if same_run >= period:
            out[i] = previous
            continue
        mean = (total + compensation) / period
        if negative == 0 and mean < 0:
            mean = 0.0
        elif negative == period and mean > 0:
            mean = 0.0
        out[i] = mean
    return out
