"""持仓记账：开仓占用多少现金、平仓退回多少现金、持仓按标记价值多少。

纯标量函数，都是 `jitable`（见 tradeterm/jit.py）：Python 直接执行，快速路径把同一份源码编进 numba 内核。

逐事件路径（Python 经纪商）与快速路径（numba）都只通过这里改现金，保证两条路径的浮点运算逐位相同。

记账方式（1 倍、无杠杆）：开仓时把名义金额（数量 * 成交价）和手续费从现金中扣除；
多仓价值 = 数量 * 标记价；空仓价值 = 数量 * (2 * 开仓价 - 标记价)，即占用的保证金加上浮动盈亏。
所以权益 = 现金 + 各持仓价值，现货与合约用同一套公式。金额单位均为计价货币。
"""

from __future__ import annotations

from tradeterm.execution.fills import fee_amount
from tradeterm.jit import jitable


@jitable
def position_value(side: int, amount: float, entry_price: float, mark_price: float) -> float:
    """持仓按标记价的价值（计价货币）；side 为 +1 多、-1 空，amount 为基础货币数量。"""
    if side > 0:
        return amount * mark_price
    return amount * (2.0 * entry_price - mark_price)


@jitable
def open_cash_delta(amount: float, price: float, fee_rate: float) -> tuple[float, float]:
    """开仓：返回 (现金减少额, 手续费)，均为计价货币；现金减少额含手续费。"""
    notional = amount * price
    fee = fee_amount(notional, fee_rate)
    return notional + fee, fee


@jitable
def close_cash_delta(side: int, amount: float, entry_price: float, exit_price: float,
                     fee_rate: float) -> tuple[float, float, float]:
    """平仓：返回 (现金增加额, 手续费, 毛盈亏)，均为计价货币；现金增加额已扣手续费，毛盈亏未扣任何手续费。"""
    notional = amount * exit_price
    fee = fee_amount(notional, fee_rate)
    value = position_value(side, amount, entry_price, exit_price)
    gross = side * (exit_price - entry_price) * amount
    return value - fee, fee, gross
