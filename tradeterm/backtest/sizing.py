"""仓位计算的挂钩：给定权益、成交价与费率，返回下单数量（基础货币）。默认全仓（all-in，含手续费）。

任何 `Callable[[equity, price, fee_rate], amount]` 都可以作为仓位函数交给逐事件路径；
内置的 `Sizer` 还能被 numba 快速路径使用（方法与参数都是数字）。算出的数量随后由经纪商按可用现金封顶、
按数量步长向下取整（见 fills.affordable_amount / round_amount）。
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from numba import njit

from tradeterm.errors import ConfigError

# 全仓：用全部权益（含手续费）
SIZE_ALL_IN = 0
# 权益的固定比例（value 为小数，0.1 = 10%），含手续费
SIZE_FRACTION = 1
# 固定名义金额（value 为计价货币金额），不含手续费
SIZE_NOTIONAL = 2

# 仓位函数的类型：(权益 计价货币, 成交价 计价货币, 费率 小数) -> 数量 基础货币
SizingFunction = Callable[[float, float, float], float]


@njit(cache=True)
def sized_amount(method: int, value: float, equity: float, price: float, fee_rate: float) -> float:
    """按方法算数量（基础货币，未取整）：全仓 / 权益比例 / 固定名义金额。"""
    if method == SIZE_ALL_IN:
        return equity / (price * (1.0 + fee_rate))
    if method == SIZE_FRACTION:
        return equity * value / (price * (1.0 + fee_rate))
    return value / price


@dataclass(frozen=True, slots=True)
class Sizer:
    """内置仓位函数：可调用，也可被快速路径以数字形式读取。"""

    method: int = SIZE_ALL_IN  # SIZE_* 之一
    value: float = 1.0         # SIZE_FRACTION 时为权益比例（小数）；SIZE_NOTIONAL 时为名义金额（计价货币）

    def __call__(self, equity: float, price: float, fee_rate: float) -> float:
        """返回下单数量，基础货币（未取整、未按现金封顶）。"""
        return sized_amount(self.method, self.value, equity, price, fee_rate)


# 默认仓位：全仓（与 backtesting.py、vectorbt 的 size=inf 一致）
ALL_IN = Sizer()


def sizer_from_config(sizing, instances: int, source: str = "config") -> Sizer:
    """由配置的 sizing 块（SizingConfig）构造仓位函数；instances 为共享账户的策略实例数（equal_weight 用）。

    回测目前支持 all_in、fixed_fraction、fixed_notional、equal_weight（= 1/实例数 的权益比例）。
    """
    if sizing.method == "all_in":
        return ALL_IN
    if sizing.method == "fixed_fraction":
        return Sizer(SIZE_FRACTION, float(sizing.fraction))
    if sizing.method == "fixed_notional":
        return Sizer(SIZE_NOTIONAL, float(sizing.notional))
    if sizing.method == "equal_weight":
        return Sizer(SIZE_FRACTION, 1.0 / max(instances, 1))
    raise ConfigError(source, [f"sizing.method: '{sizing.method}' is not supported by the backtester yet; "
                               f"use all_in, fixed_fraction, fixed_notional or equal_weight"])
