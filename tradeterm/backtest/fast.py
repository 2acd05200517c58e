"""快速路径：向量化策略的整段历史在一次 numba 编译的循环里模拟完。

`simulate` 是 `tradeterm.jit.kernel`（预编译模块或 njit，第一次调用时选定）；它调用的成交规则、记账与仓位函数
都是 `jitable` 的纯 Python 函数，编译时被编进这一个内核，所以加载快速路径只要加载这一个入口。

规则与 `broker.SimulatedBroker` 逐条相同（处理顺序见 broker 模块说明），成交价来自同一份 `fills`，
现金变化来自同一份 `accounting`，仓位来自同一份 `sizing.sized_amount`；测试证明两条路径的交易与权益逐位相同。
只适用于单个策略实例、内置仓位函数（`Sizer`）、没有风控挂钩、只有市价信号（向量化信号都是市价）的情形。
"""

from __future__ import annotations

import math

import numpy as np

from tradeterm.backtest.accounting import close_cash_delta, open_cash_delta
from tradeterm.execution.fills import (
    REJECT_NONE, affordable_amount, market_fill_price, order_reject_reason, round_amount, round_price,
    stop_fill_price, take_profit_fill_price, tighter_stop, trailing_stop_level,
)
from tradeterm.backtest.results import EXIT_SIGNAL, EXIT_STOP_LOSS, EXIT_TAKE_PROFIT, EXIT_TRAILING_STOP
from tradeterm.jit import jitable, kernel
from tradeterm.sizing.sizers import sized_amount

# 交易记录矩阵的浮点列：开仓价、平仓价、数量、开仓费、平仓费、净盈亏（计价货币/基础货币）
FLOAT_COLUMNS = ("entry_price", "exit_price", "amount", "entry_fee", "exit_fee", "pnl")
# 交易记录矩阵的整数列：开仓行、离场行、方向、离场原因
INT_COLUMNS = ("entry_index", "exit_index", "side", "exit_reason")


@jitable
def _protective(value: float, tick: float) -> float:
    """信号里的止损/止盈价：非有限或非正表示不设（NaN），否则取整到价格档位（同 broker._protective_price）。"""
    if not (value > 0.0) or math.isinf(value):
        return math.nan
    return round_price(value, tick)


@jitable
def _record_trade(ints, floats, count: int, entry_index: int, exit_index: int, side: int, reason: int,
                  entry_price: float, exit_price: float, amount: float, entry_fee: float, exit_fee: float,
                  gross: float) -> int:
    """把一笔平仓的交易写进交易矩阵的第 count 行（列见 INT_COLUMNS / FLOAT_COLUMNS），返回新的行数。"""
    ints[count, 0] = entry_index
    ints[count, 1] = exit_index
    ints[count, 2] = side
    ints[count, 3] = reason
    floats[count, 0] = entry_price
    floats[count, 1] = exit_price
    floats[count, 2] = amount
    floats[count, 3] = entry_fee
    floats[count, 4] = exit_fee
    floats[count, 5] = gross - entry_fee - exit_fee
    return count + 1


@jitable
def _flat() -> tuple[int, float, float, float, float, float]:
    """空仓时的持仓状态：(方向, 数量, 开仓价, 开仓手续费, 止损价, 止盈价)。"""
    return 0, 0.0, 0.0, 0.0, math.nan, math.nan


# simulate 的签名：四个价格数组、四个布尔信号数组、止损/止盈数组，现金与费率等标量，返回交易矩阵等（见 simulate）
SIMULATE_SIGNATURE = ("Tuple((i8[:, :], f8[:, :], i8, f8[:, :], i8, f8[:]))"
                      "(f8[:], f8[:], f8[:], f8[:], b1[:], b1[:], b1[:], b1[:], f8[:], f8[:], "
                      "f8, f8, f8, f8, f8, f8, f8, f8, i8, f8, f8, b1, i8)")


@kernel(SIMULATE_SIGNATURE)
def simulate(open_, high, low, close, exit_long, exit_short, enter_long, enter_short, stop_loss, take_profit, cash,
             taker, maker, slippage_bps, tick, step, min_amount, min_notional, size_method, size_value, trailing,
             allow_short, capacity):
    """模拟一个策略实例的整段历史。

    exit_long、exit_short、enter_long、enter_short：布尔数组（第 t 个在第 t 根收盘时产生）；
    stop_loss、take_profit：浮点数组（计价货币，NaN 表示不设）；长度为 0 表示策略没有这一列（处处不设）。
    capacity：交易与拒绝记录的容量（不少于有开仓或平仓信号的 K 线数加 1）。
    返回 (整数交易矩阵, 浮点交易矩阵, 交易数, 拒绝记录矩阵 [行号, 方向, 数量, 价格, 原因], 拒绝数,
    期末状态 [方向, 数量, 开仓价, 开仓费, 开仓行, 现金])。
    """
    n = open_.shape[0]
    # 每笔交易至少要一根有开仓信号的 K 线，每次拒绝对应一根有信号的 K 线，所以按信号数分配而不是按 K 线数
    ints = np.empty((capacity, 4), dtype=np.int64)
    floats = np.empty((capacity, 6))
    rejects = np.empty((capacity, 5))
    count = 0
    rejected = 0
    side = 0
    amount = 0.0
    entry_price = 0.0
    entry_fee = 0.0
    entry_index = 0
    stop = math.nan
    target = math.nan
    best = 0.0
    has_stop = stop_loss.shape[0] > 0
    has_target = take_profit.shape[0] > 0
    # 上一根收盘时的信号，在本根开盘处理（止损/止盈价只在开仓时才用到，那时再从上一根取出并取整）
    p_exit_long = p_exit_short = p_enter_long = p_enter_short = False
    for i in range(n):
        o = open_[i]
        h = high[i]
        lo = low[i]
        # 1. 开盘：按 exit_long、exit_short、enter_long、enter_short 的顺序处理上一根的意图
        # （绝大多数 K 线没有意图：先判断一次，省去逐个检查）
        intents = 4 if p_exit_long or p_exit_short or p_enter_long or p_enter_short else 0
        for k in range(intents):
            active = p_exit_long if k == 0 else p_exit_short if k == 1 else p_enter_long if k == 2 else p_enter_short
            if not active:
                continue
            if k < 2:
                # 平仓意图：只在持有对应方向时下单；平多是卖（-1），平空是买（+1）
                held = 1 if k == 0 else -1
                if side != held:
                    continue
                price = market_fill_price(o, -held, slippage_bps)
                if order_reject_reason(amount, price, min_amount, min_notional) != REJECT_NONE:
                    rejects[rejected, 0] = i
                    rejects[rejected, 1] = -held
                    rejects[rejected, 2] = amount
                    rejects[rejected, 3] = price
                    rejects[rejected, 4] = order_reject_reason(amount, price, min_amount, min_notional)
                    rejected += 1
                    continue
                cash_in, fee, gross = close_cash_delta(side, amount, entry_price, price, taker)
                cash += cash_in
                count = _record_trade(ints, floats, count, entry_index, i, side, EXIT_SIGNAL, entry_price, price,
                                      amount, entry_fee, fee, gross)
                side, amount, entry_price, entry_fee, stop, target = _flat()
            else:
                # 开仓意图：只在空仓时；现货不开空
                want = 1 if k == 2 else -1
                if side != 0 or (want < 0 and not allow_short):
                    continue
                price = market_fill_price(o, want, slippage_bps)
                equity = cash
                wanted = round_amount(sized_amount(size_method, size_value, equity, price, taker), step)
                size = min(wanted, affordable_amount(cash, price, taker, step))
                code = order_reject_reason(size, price, min_amount, min_notional)
                if code != REJECT_NONE:
                    rejects[rejected, 0] = i
                    rejects[rejected, 1] = want
                    rejects[rejected, 2] = size
                    rejects[rejected, 3] = price
                    rejects[rejected, 4] = code
                    rejected += 1
                    continue
                cost, fee = open_cash_delta(size, price, taker)
                cash -= cost
                side = want
                amount = size
                entry_price = price
                entry_fee = fee
                entry_index = i
                best = price
                # 有意图的 K 线 i >= 1：意图与止损/止盈价都来自上一根（第 i-1 根）收盘时的信号
                stop = _protective(stop_loss[i - 1], tick) if has_stop else math.nan
                target = _protective(take_profit[i - 1], tick) if has_target else math.nan
        # 2. 没有限价挂单（向量化信号都是市价）；3. 止损（含移动止损）优先，其次止盈
        if side != 0:
            level = stop
            reason = EXIT_STOP_LOSS
            if trailing > 0.0:
                tighter = tighter_stop(stop, trailing_stop_level(best, side, trailing), side)
                if tighter != stop:
                    level = tighter
                    reason = EXIT_TRAILING_STOP
            price = math.nan
            fee_rate = taker
            if not math.isnan(level):
                price = stop_fill_price(o, h, lo, -side, level, slippage_bps)
            if math.isnan(price) and not math.isnan(target):
                price = take_profit_fill_price(o, h, lo, -side, target)
                fee_rate = maker
                reason = EXIT_TAKE_PROFIT
            if not math.isnan(price):
                cash_in, fee, gross = close_cash_delta(side, amount, entry_price, price, fee_rate)
                cash += cash_in
                count = _record_trade(ints, floats, count, entry_index, i, side, reason, entry_price, price,
                                      amount, entry_fee, fee, gross)
                side, amount, entry_price, entry_fee, stop, target = _flat()
        # 4. 收盘：更新移动止损的最优价，记下本根的信号留到下一根开盘
        if side > 0:
            best = max(best, h)
        elif side < 0:
            best = min(best, lo)
        p_exit_long = exit_long[i]
        p_exit_short = exit_short[i]
        p_enter_long = enter_long[i]
        p_enter_short = enter_short[i]
    state = np.array([float(side), amount, entry_price, entry_fee, float(entry_index), cash])
    return ints, floats, count, rejects, rejected, state
