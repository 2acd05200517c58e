"""撮合（成交）模型：回测、模拟盘与本地沙盒交易所共用的唯一一份成交规则。

本模块只放纯函数（标量进、标量出、无 I/O、不依赖引擎），全部是 `jitable`（见 tradeterm/jit.py）：
Python 的逐事件路径、模拟盘与沙盒交易所直接执行它们（不加载 numba），numba 的快速路径把同一份源码编进内核，
所以各条路径用的是同一份代码，结果逐位相同。

单位约定：价格为计价货币（如 USDT），数量（amount）为基础货币（如 BTC），名义金额（notional）为计价货币；
side 为 +1 买、-1 卖；费率为小数（0.001 = 0.1%）；滑点为基点（1 bp = 0.01%）。

成交规则：
1. 市价单：第 t 根 K 线收盘时产生的信号，在第 t+1 根的开盘价成交；成交价按滑点向不利方向移动
   （买：open * (1 + bps/1e4)，卖：open * (1 - bps/1e4)），按名义金额收 taker 费。
2. 限价单：K 线穿过限价才成交（买：low <= 限价；卖：high >= 限价），成交价为限价；
   若开盘价已跳空越过限价（买：open <= 限价），按开盘价成交（对交易者更优）。收 maker 费。
3. 止损（stop-market）：在之后各根 K 线的 high/low 上检查；多仓止损（卖出平仓）在 low <= 止损价时触发，
   成交价为止损价，若开盘即跳空越过止损价则按开盘价成交；触发后按市价单处理，所以再加滑点、收 taker 费。
4. 止盈（挂在目标价的限价单）：多仓在 high >= 目标价时成交于目标价（开盘已越过时按开盘价），收 maker 费。
5. 同一根 K 线里止损和止盈都可能触发时，假定止损先触发（保守）。
6. 移动止损：止损价 = 持仓以来的最优价（多仓为最高价、空仓为最低价）按比例回撤；
   最优价只用已经收盘的 K 线更新，当根 K 线先按旧止损价检查，再更新最优价（保守，不用当根的高点抬高止损）。
7. 资金：现货买入花费（含手续费）不能超过可用现金；数量向下取整到交易所的数量步长，
   取整后低于最小数量或最小名义金额的订单被拒绝（与交易所一致）。策略给出的限价、止损价、止盈价取整到
   最小价格变动（四舍五入到最近一档）；市价成交价（开盘价加滑点）不取整。止损/止盈单视为开仓时已挂出，
   触发时不再按最小名义金额检查。没有交易所信息的裸 CSV 回测没有这些规则（MarketRules 全为 0）。
8. 手续费一律以计价货币收取：fee = notional * fee_rate。
9. 合约为 1 倍、无杠杆：开空同样占用“名义金额 + 手续费”的现金，空仓价值 = 数量 * (2 * 开仓价 - 标记价)。
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from tradeterm.jit import jitable

# 订单拒绝原因代码：0 表示可以下单
REJECT_NONE = 0
# 取整后数量为 0（或负数），无法下单
REJECT_ZERO_AMOUNT = 1
# 数量低于交易所最小数量（基础货币）
REJECT_MIN_AMOUNT = 2
# 名义金额（price * amount，计价货币）低于交易所最小名义金额
REJECT_MIN_NOTIONAL = 3
# 拒绝原因代码 -> 英文说明（写入结果与日志）
REJECT_REASONS = {
    REJECT_NONE: "ok",
    REJECT_ZERO_AMOUNT: "amount rounds to zero",
    REJECT_MIN_AMOUNT: "amount below the market's minimum amount",
    REJECT_MIN_NOTIONAL: "notional below the market's minimum notional",
}
# 基点换算成小数的除数：1 bp = 1/10000
BPS = 10_000.0
# 取整时容忍的相对浮点误差（步长的倍数），避免 0.3/0.1 = 2.9999999 被向下取整成 2
ROUNDING_EPSILON = 1e-9
# 能取整的最大档数（价格/步长的绝对值，个）：达到它（或不是有限数）时原样返回。
# 为什么：取整要把档数转成整数，Python 对 inf/NaN 抛错、对大数给出精确整数，编译后的代码转 64 位整数时溢出；
# 在 2^62 以内两者完全相同，超出的价格/数量（或 NaN）本来就无从取整
ROUNDING_LIMIT = 2.0 ** 62


@dataclass(frozen=True, slots=True)
class MarketRules:
    """一个市场的下单规则（来自交易所的市场信息）。任一项为 0 表示没有这条规则（如裸 CSV 回测）。"""

    price_tick: float = 0.0    # 最小价格变动，计价货币（如 0.01 USDT）；0 表示价格不取整
    amount_step: float = 0.0   # 数量步长，基础货币（如 0.00001 BTC）；0 表示数量不取整
    min_amount: float = 0.0    # 最小下单数量，基础货币；0 表示不限
    min_notional: float = 0.0  # 最小名义金额，计价货币（如 5 USDT）；0 表示不限

    @property
    def is_free(self) -> bool:
        """是否完全没有规则（裸 CSV 回测）。"""
        return not (self.price_tick or self.amount_step or self.min_amount or self.min_notional)


def _precision_to_step(value: Any, precision_mode: int | None) -> float:
    """把 ccxt 的 precision 字段转成步长：TICK_SIZE 模式直接是步长，DECIMAL_PLACES 模式是小数位数。

    precision_mode 取 ccxt 常量（2 = DECIMAL_PLACES，4 = TICK_SIZE）；None 时按取值猜：
    大于等于 1 的整数视为小数位数，其余视为步长。
    """
    if value is None:
        return 0.0
    number = float(value)
    decimal_places = precision_mode == 2 or (precision_mode is None and number >= 1 and number.is_integer())
    return 10.0 ** -number if decimal_places else number


def market_rules_from_ccxt(market: dict[str, Any], precision_mode: int | None = None) -> MarketRules:
    """由 ccxt 的市场信息字典（exchange.markets[symbol]）构造 MarketRules；缺的字段视为没有规则。"""
    precision = market.get("precision") or {}
    limits = market.get("limits") or {}
    amount_limits = limits.get("amount") or {}
    cost_limits = limits.get("cost") or {}
    return MarketRules(
        price_tick=_precision_to_step(precision.get("price"), precision_mode),
        amount_step=_precision_to_step(precision.get("amount"), precision_mode),
        min_amount=float(amount_limits.get("min") or 0.0),
        min_notional=float(cost_limits.get("min") or 0.0),
    )


@jitable
def apply_slippage(price: float, side: int, slippage_bps: float) -> float:
    """按滑点把价格向不利方向移动：买价上移、卖价下移。"""
    return price * (1.0 + side * slippage_bps / BPS)


@jitable
def round_amount(amount: float, step: float) -> float:
    """数量向下取整到步长（交易所只接受步长的整数倍）；step 为 0 时原样返回。"""
    if step <= 0.0:
        return amount
    # 加一个极小的相对容差再取整，避免浮点误差把恰好整倍数的数量多砍掉一档
    units = amount / step + ROUNDING_EPSILON
    if not abs(units) < ROUNDING_LIMIT:
        return amount
    return math.floor(units) * step


@jitable
def round_price(price: float, tick: float) -> float:
    """价格取整到最近的一档最小价格变动；tick 为 0 时原样返回（无从取整的 NaN、inf 与超大价格也原样返回）。"""
    if tick <= 0.0:
        return price
    units = price / tick + 0.5
    if not abs(units) < ROUNDING_LIMIT:
        return price
    return math.floor(units) * tick


def round_prices(prices: np.ndarray, tick: float) -> np.ndarray:
    """round_price 的数组形式（沙盒一次把整段行情放到价格网格上）：每个元素与 round_price 的结果逐位相同。

    同样的三步浮点运算（除、加 0.5、向下取整后乘回），由 numpy 逐元素执行；无从取整的元素原样保留。
    tests/execution/test_fills.py 在随机价格上逐个比较。"""
    prices = np.asarray(prices, dtype=np.float64)
    if tick <= 0.0:
        return prices.copy()
    with np.errstate(over="ignore", invalid="ignore"):
        # 溢出成 inf 与 NaN 的档数不取整（NaN 的比较结果为 False，与 round_price 的 `not abs(units) < ROUNDING_LIMIT` 一致）
        units = prices / tick + 0.5
        roundable = np.abs(units) < ROUNDING_LIMIT
        return np.where(roundable, np.floor(units) * tick, prices)


@jitable
def order_reject_reason(amount: float, price: float, min_amount: float, min_notional: float) -> int:
    """交易所会不会拒绝这张订单：返回 REJECT_* 代码，0 表示可以下单。amount 应已取整到步长。"""
    if not amount > 0.0:
        return REJECT_ZERO_AMOUNT
    if min_amount > 0.0 and amount < min_amount:
        return REJECT_MIN_AMOUNT
    if min_notional > 0.0 and amount * price < min_notional:
        return REJECT_MIN_NOTIONAL
    return REJECT_NONE


@jitable
def market_fill_price(bar_open: float, side: int, slippage_bps: float) -> float:
    """市价单在这根 K 线开盘时的成交价：开盘价加上不利方向的滑点。"""
    return apply_slippage(bar_open, side, slippage_bps)


@jitable
def limit_fill_price(bar_open: float, bar_high: float, bar_low: float, side: int, limit: float) -> float:
    """限价单在这根 K 线上的成交价；未成交返回 NaN。

    买单：开盘价 <= 限价时按开盘价成交（跳空到限价之下），否则 low <= 限价时按限价成交。卖单对称。
    """
    if side > 0:
        if bar_open <= limit:
            return bar_open
        if bar_low <= limit:
            return limit
        return math.nan
    if bar_open >= limit:
        return bar_open
    if bar_high >= limit:
        return limit
    return math.nan


@jitable
def stop_fill_price(bar_open: float, bar_high: float, bar_low: float, side: int, stop: float,
                    slippage_bps: float) -> float:
    """止损单在这根 K 线上的成交价；未触发返回 NaN。side 是平仓单的方向（多仓止损为 -1 卖出）。

    卖出止损：low <= 止损价时触发，成交于止损价；开盘价已在止损价之下（跳空）时成交于开盘价。
    买入止损（空仓止损）对称。触发后是市价单，所以再按滑点向不利方向移动。
    """
    if side < 0:
        if bar_open <= stop:
            return apply_slippage(bar_open, side, slippage_bps)
        if bar_low <= stop:
            return apply_slippage(stop, side, slippage_bps)
        return math.nan
    if bar_open >= stop:
        return apply_slippage(bar_open, side, slippage_bps)
    if bar_high >= stop:
        return apply_slippage(stop, side, slippage_bps)
    return math.nan


@jitable
def take_profit_fill_price(bar_open: float, bar_high: float, bar_low: float, side: int, target: float) -> float:
    """止盈单（挂在目标价的限价平仓单）在这根 K 线上的成交价；未到达返回 NaN。side 是平仓单的方向。"""
    return limit_fill_price(bar_open, bar_high, bar_low, side, target)


@jitable
def fee_amount(notional: float, fee_rate: float) -> float:
    """手续费，计价货币：名义金额乘费率。"""
    return notional * fee_rate


@jitable
def affordable_amount(cash: float, price: float, fee_rate: float, step: float) -> float:
    """用 cash（计价货币）在 price 价位最多能买多少（含手续费），向下取整到步长。"""
    if cash <= 0.0 or price <= 0.0:
        return 0.0
    return round_amount(cash / (price * (1.0 + fee_rate)), step)


@jitable
def trailing_stop_level(best_price: float, side: int, trail: float) -> float:
    """移动止损价：best_price 是持仓以来的最优价（多仓最高、空仓最低），trail 为回撤比例（小数）。

    side 是持仓方向（+1 多、-1 空）：多仓止损价 = 最高价 * (1 - trail)，空仓 = 最低价 * (1 + trail)。
    """
    return best_price * (1.0 - side * trail)


@jitable
def tighter_stop(stop: float, other: float, side: int) -> float:
    """两个止损价取离当前价更近（更严）的一个；side 为持仓方向，NaN 表示没有。"""
    if math.isnan(stop):
        return other
    if math.isnan(other):
        return stop
    return max(stop, other) if side > 0 else min(stop, other)
