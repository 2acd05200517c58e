"""仓位计算：给定权益、成交价与费率，返回开仓数量（基础货币）。回测（两条路径）与交易引擎共用这一个模块。

五种方法（config 的 `sizing.method`）：
- all_in / fixed_fraction / fixed_notional / equal_weight：无状态，用数字形式的 `Sizer`（numba 快速路径能直接读）；
- kelly：分数凯利，从本实例自己的已平仓交易学习（`KellySizer`）；
- volatility_target：按本实例 K 线的 ATR 定数量（`VolatilityTargetSizer`）。

统一接口（`PositionSizer`，三类都实现）：
- `amount(equity, price, fee_rate)`（也可直接调用 `sizer(equity, price, fee_rate)`）-> 数量，未取整、未按现金封顶；
- `on_bar(high, low, close)`：每根收盘的 K 线（volatility_target 用来算 ATR；`needs_bars` 为 True 时才必须调用）；
- `on_trade_closed(pnl, ret)`：本实例一笔交易平仓（kelly 用）；`on_fill(fill)` 是引擎用的便捷入口，
  它从本实例的成交流水里自己切出完整交易再调用 `on_trade_closed`；
- `zero_reason()`：数量为 0 时的英文原因（“没有优势”“ATR 还没算出来”），供拒绝记录；
- `fresh()`：同样设置、状态为空的新对象（每次回测给每个实例一个，回测规格可重复运行）。

算出的数量随后由调用方按可用现金封顶、按数量步长向下取整（见 fills.affordable_amount / round_amount）。
任何 `Callable[[equity, price, fee_rate], amount]` 也可以交给逐事件路径（`fresh_sizer` 把它包成无状态的计算器）。
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Protocol

from tradeterm.jit import jitable
from tradeterm.models import Fill

# 全仓：用全部权益（含手续费）
SIZE_ALL_IN = 0
# 权益的固定比例（value 为小数，0.1 = 10%），含手续费
SIZE_FRACTION = 1
# 固定名义金额（value 为计价货币金额），不含手续费
SIZE_NOTIONAL = 2
# kelly 在已平仓交易不足 kelly_min_trades 笔、又没有设置 fraction 时使用的权益比例，小数
KELLY_FALLBACK_FRACTION = 0.1
# 判断持仓已回到 0 的相对容差（相对开仓数量），吸收浮点残差
FLAT_TOLERANCE = 1e-9

# 仓位函数的类型：(权益 计价货币, 成交价 计价货币, 费率 小数) -> 数量 基础货币
SizingFunction = Callable[[float, float, float], float]


@jitable
def sized_amount(method: int, value: float, equity: float, price: float, fee_rate: float) -> float:
    """按方法算数量（基础货币，未取整）：全仓 / 权益比例 / 固定名义金额。

    jitable（见 tradeterm/jit.py）：Python 调用方直接执行，快速路径把同一份源码编进 numba 内核。"""
    if method == SIZE_ALL_IN:
        return equity / (price * (1.0 + fee_rate))
    if method == SIZE_FRACTION:
        return equity * value / (price * (1.0 + fee_rate))
    return value / price


def trade_return(pnl: float, entry_price: float, amount: float) -> float:
    """一笔交易的收益率（小数）= 净盈亏（扣两边手续费）/ 开仓名义金额（开仓价 * 数量，不含手续费）。

    kelly 用收益率而不是盈亏金额：金额随仓位大小变化（而仓位正是 kelly 自己定的），收益率与仓位大小无关。
    """
    notional = entry_price * amount
    return pnl / notional if notional > 0 else 0.0


class PositionSizer(Protocol):
    """仓位计算器的接口（回测经纪商与交易引擎只通过它调用仓位计算）。"""

    # 是否需要每根收盘 K 线的 on_bar（volatility_target 为 True）
    needs_bars: bool

    def amount(self, equity: float, price: float, fee_rate: float) -> float:
        """开仓数量，基础货币（未取整、未按现金封顶）。"""

    def __call__(self, equity: float, price: float, fee_rate: float) -> float:
        """同 amount。"""

    def on_bar(self, high: float, low: float, close: float) -> None:
        """一根 K 线收盘（价格为计价货币）。"""

    def on_trade_closed(self, pnl: float, ret: float) -> None:
        """本实例一笔交易平仓：净盈亏（计价货币）与收益率（小数，见 trade_return）。"""

    def on_fill(self, fill: Fill) -> None:
        """本实例的一笔成交（引擎用）；持仓回到 0 时视为一笔交易平仓。"""

    def zero_reason(self) -> str:
        """数量为 0 的原因（英文）；不是仓位计算造成的返回空串。"""

    def fresh(self) -> "PositionSizer":
        """设置相同、状态为空的新计算器。"""


class _NoHooks:
    """无状态计算器的默认挂钩：K 线、成交、平仓都不影响数量。"""

    # 无实例属性（子类可以是 slots 数据类）
    __slots__ = ()
    # 不需要 on_bar
    needs_bars = False

    def on_bar(self, high: float, low: float, close: float) -> None:
        """无状态：忽略。"""

    def on_trade_closed(self, pnl: float, ret: float) -> None:
        """无状态：忽略。"""

    def on_fill(self, fill: Fill) -> None:
        """无状态：忽略。"""

    def zero_reason(self) -> str:
        """无状态的方法不会故意给出 0。"""
        return ""

    def fresh(self) -> "_NoHooks":
        """没有状态，返回自己。"""
        return self


@dataclass(frozen=True, slots=True)
class Sizer(_NoHooks):
    """内置的无状态仓位函数：可调用，也可被快速路径以数字形式读取（method、value）。"""

    method: int = SIZE_ALL_IN  # SIZE_* 之一
    value: float = 1.0         # SIZE_FRACTION 时为权益比例（小数）；SIZE_NOTIONAL 时为名义金额（计价货币）

    def __call__(self, equity: float, price: float, fee_rate: float) -> float:
        """返回下单数量，基础货币（未取整、未按现金封顶）。"""
        return sized_amount(self.method, self.value, equity, price, fee_rate)

    def amount(self, equity: float, price: float, fee_rate: float) -> float:
        """同 __call__。"""
        return sized_amount(self.method, self.value, equity, price, fee_rate)


# 默认仓位：全仓（与 backtesting.py、vectorbt 的 size=inf 一致）
ALL_IN = Sizer()


class FunctionSizer(_NoHooks):
    """把任意 (权益, 价格, 费率) -> 数量 的函数包成无状态计算器。"""

    # 固定属性集合
    __slots__ = ("function",)

    def __init__(self, function: SizingFunction):
        """function 为仓位函数。"""
        # 被包装的仓位函数
        self.function = function

    def __call__(self, equity: float, price: float, fee_rate: float) -> float:
        """调用被包装的函数。"""
        return self.function(equity, price, fee_rate)

    def amount(self, equity: float, price: float, fee_rate: float) -> float:
        """同 __call__。"""
        return self.function(equity, price, fee_rate)


class _TradeCutter:
    """从一个实例的成交流水切出完整交易（空仓 -> 持仓 -> 空仓），算净盈亏与收益率（同回测的 Trade）。"""

    def __init__(self) -> None:
        """空仓开始。"""
        # 带符号持仓，基础货币
        self.position = 0.0
        # 本笔交易开仓成交的数量合计，基础货币
        self.entry_amount = 0.0
        # 本笔交易开仓成交的名义金额合计（不含手续费），计价货币
        self.entry_notional = 0.0
        # 本笔交易至今的净盈亏（已实现盈亏减全部手续费），计价货币
        self.pnl = 0.0

    def add(self, fill: Fill) -> tuple[float, float] | None:
        """计入一笔成交；持仓回到 0（或反手）时返回已结束那笔交易的 (净盈亏, 收益率)，否则 None。"""
        quote = fill.symbol.split("/")[1].split(":")[0] if "/" in fill.symbol else ""
        fee = fill.fee if fill.fee_currency == quote else 0.0
        signed = fill.side.sign * fill.amount
        if self.position == 0.0 or (self.position > 0) == (signed > 0):
            self._open(fill.amount, fill.price, fee)
            self.position += signed
            return None
        closing = min(abs(signed), abs(self.position))
        share = closing / fill.amount if fill.amount > 0 else 1.0
        average = self.entry_notional / self.entry_amount
        direction = 1.0 if self.position > 0 else -1.0
        self.pnl += (fill.price - average) * closing * direction - fee * share
        self.position += signed
        if abs(self.position) > FLAT_TOLERANCE * self.entry_amount and abs(signed) <= closing:
            return None  # 部分平仓：交易还没结束
        closed = (self.pnl, self.pnl / self.entry_notional if self.entry_notional > 0 else 0.0)
        remainder = abs(signed) - closing
        self.position, self.entry_amount, self.entry_notional, self.pnl = 0.0, 0.0, 0.0, 0.0
        if remainder > FLAT_TOLERANCE * fill.amount:
            # 反手：超出部分在成交价开新仓，承担剩余的手续费
            self._open(remainder, fill.price, fee * (1.0 - share))
            self.position = math.copysign(remainder, signed)
        return closed

    def _open(self, amount: float, price: float, fee: float) -> None:
        """开仓或加仓：累计数量、名义金额与手续费。"""
        self.entry_amount += amount
        self.entry_notional += amount * price
        self.pnl -= fee


class KellySizer:
    """分数凯利：按本实例已平仓交易的胜率与盈亏比，投入权益的 f 比例（含手续费，同 fixed_fraction）。

    设 N 笔已平仓交易的收益率为 r_i（trade_return：净盈亏 / 开仓名义金额）：
    W = 盈利笔数（r > 0）/ N；平均盈利 = r > 0 的均值；平均亏损 = r < 0 的 |r| 的均值；R = 平均盈利 / 平均亏损；
    f* = W - (1 - W) / R；f = min(max(f*, 0) * kelly_fraction, kelly_cap)。
    收益率恰为 0 的交易计入 N（拉低胜率）但不计入平均亏损。没有亏损时 R 为无穷大，f* = W；没有盈利时 f* 取 0。
    已平仓不足 kelly_min_trades 笔时用 fallback（配置的 fraction，未设置时 0.1），不乘 kelly_fraction、不受 cap 约束。
    """

    # 不需要 on_bar
    needs_bars = False

    def __init__(self, kelly_fraction: float = 0.5, cap: float = 0.25, min_trades: int = 20,
                 fallback: float = KELLY_FALLBACK_FRACTION):
        """参数含义见类说明；比例均为小数。"""
        # 凯利缩放系数（0.5 = 半凯利）
        self.kelly_fraction = kelly_fraction
        # 仓位上限，权益比例
        self.cap = cap
        # 开始按凯利计算所需的已平仓交易笔数
        self.min_trades = min_trades
        # 交易不足时使用的权益比例
        self.fallback = fallback
        # 已平仓交易笔数
        self.trades = 0
        # 盈利交易笔数（收益率 > 0）
        self.wins = 0
        # 盈利交易的收益率之和，小数
        self.win_sum = 0.0
        # 亏损交易笔数（收益率 < 0）
        self.losses = 0
        # 亏损交易的 |收益率| 之和，小数
        self.loss_sum = 0.0
        # 引擎用的成交流水切分器（on_fill）
        self._cutter = _TradeCutter()

    def fresh(self) -> "KellySizer":
        """设置相同、没有交易历史的新计算器。"""
        return KellySizer(self.kelly_fraction, self.cap, self.min_trades, self.fallback)

    def on_bar(self, high: float, low: float, close: float) -> None:
        """凯利不看 K 线。"""

    def on_trade_closed(self, pnl: float, ret: float) -> None:
        """记入一笔已平仓交易的收益率（pnl 仅供接口一致，不参与计算）。"""
        self.trades += 1
        if ret > 0:
            self.wins += 1
            self.win_sum += ret
        elif ret < 0:
            self.losses += 1
            self.loss_sum -= ret

    def on_fill(self, fill: Fill) -> None:
        """引擎：本实例的每笔成交；持仓回到 0 时记入一笔已平仓交易。"""
        closed = self._cutter.add(fill)
        if closed is not None:
            self.on_trade_closed(*closed)

    @property
    def win_rate(self) -> float:
        """胜率 W，小数；没有交易时为 0。"""
        return self.wins / self.trades if self.trades else 0.0

    @property
    def payoff_ratio(self) -> float:
        """盈亏比 R = 平均盈利 / 平均亏损（收益率）；没有亏损时为无穷大，没有盈利时为 0。"""
        if self.wins == 0:
            return 0.0
        if self.losses == 0:
            return math.inf
        return (self.win_sum / self.wins) / (self.loss_sum / self.losses)

    def kelly(self) -> float:
        """完整凯利比例 f* = W - (1 - W) / R（可为负）；没有盈利交易时为 -1（全是亏损或持平）。"""
        if self.wins == 0:
            return -1.0
        ratio = self.payoff_ratio
        return self.win_rate if math.isinf(ratio) else self.win_rate - (1.0 - self.win_rate) / ratio

    def fraction(self) -> float:
        """当前投入的权益比例：交易不足时为 fallback，否则 min(max(f*, 0) * kelly_fraction, cap)。"""
        if self.trades < self.min_trades:
            return self.fallback
        return min(max(self.kelly(), 0.0) * self.kelly_fraction, self.cap)

    def amount(self, equity: float, price: float, fee_rate: float) -> float:
        """数量 = 权益 * fraction() / (价格 * (1 + 费率))，基础货币。"""
        return sized_amount(SIZE_FRACTION, self.fraction(), equity, price, fee_rate)

    def __call__(self, equity: float, price: float, fee_rate: float) -> float:
        """同 amount。"""
        return self.amount(equity, price, fee_rate)

    def zero_reason(self) -> str:
        """凯利比例为 0 时说明原因（没有优势）。"""
        if self.fraction() > 0:
            return ""
        return (f"kelly sizing is 0: no edge in {self.trades} closed trades (win rate {self.win_rate:.1%}, "
                f"payoff ratio {self.payoff_ratio:.2f}, full Kelly {self.kelly():.3f})")


class VolatilityTargetSizer:
    """波动率目标：数量 = 权益 * target_risk / ATR，即持仓在一根 K 线的典型波动（ATR）上的盈亏约为权益的 target_risk。

    ATR 与指标库的 `indicators.volatility.atr` 完全相同（Wilder 平滑，种子为第 1..period 根真实波幅的均值，
    第 0 根没有前收不计），只是逐根增量计算：看到 atr_period + 1 根 K 线之后才有值，之前数量为 0。
    """

    # 需要每根收盘 K 线
    needs_bars = True

    def __init__(self, target_risk: float, atr_period: int = 14):
        """target_risk 为每根 K 线的风险占权益比例（小数）；atr_period 为 ATR 周期（K 线根数）。"""
        # 目标风险，权益比例（小数）
        self.target_risk = target_risk
        # ATR 周期，K 线根数
        self.atr_period = atr_period
        # 上一根的收盘价，计价货币；NaN 表示还没有 K 线
        self.prev_close = math.nan
        # 种子阶段已累计的真实波幅根数
        self.seed_count = 0
        # 种子阶段真实波幅之和，计价货币
        self.seed_sum = 0.0
        # 当前 ATR，计价货币；NaN 表示还没算出来
        self.atr = math.nan

    def fresh(self) -> "VolatilityTargetSizer":
        """设置相同、没有 K 线历史的新计算器。"""
        return VolatilityTargetSizer(self.target_risk, self.atr_period)

    def on_bar(self, high: float, low: float, close: float) -> None:
        """用一根收盘的 K 线更新 ATR。"""
        previous, self.prev_close = self.prev_close, close
        if math.isnan(previous):
            return  # 第一根没有前收，真实波幅为 NaN（同 TA-Lib）
        true_range = max(high - low, max(abs(high - previous), abs(low - previous)))
        if math.isnan(self.atr):
            self.seed_sum += true_range
            self.seed_count += 1
            if self.seed_count == self.atr_period:
                self.atr = self.seed_sum / self.atr_period
        else:
            # 与 ema_kernel 同一写法（alpha = 1/period），结果逐位相同
            self.atr = self.atr + (1.0 / self.atr_period) * (true_range - self.atr)

    def on_trade_closed(self, pnl: float, ret: float) -> None:
        """波动率目标不看交易历史。"""

    def on_fill(self, fill: Fill) -> None:
        """波动率目标不看成交。"""

    def amount(self, equity: float, price: float, fee_rate: float) -> float:
        """数量 = 权益 * target_risk / ATR，基础货币；ATR 未就绪（或为 0）时为 0。"""
        if not self.atr > 0:
            return 0.0
        return equity * self.target_risk / self.atr

    def __call__(self, equity: float, price: float, fee_rate: float) -> float:
        """同 amount。"""
        return self.amount(equity, price, fee_rate)

    def zero_reason(self) -> str:
        """ATR 未就绪时说明原因。"""
        if self.atr > 0:
            return ""
        seen = self.seed_count + (0 if math.isnan(self.prev_close) else 1)
        return (f"volatility_target sizing is 0: ATR({self.atr_period}) needs {self.atr_period + 1} closed bars, "
                f"seen {seen}")


def fresh_sizer(sizer: SizingFunction) -> PositionSizer:
    """回测开始时每个账本用的计算器：内置计算器取 fresh()（状态为空），普通函数包成 FunctionSizer。"""
    fresh = getattr(sizer, "fresh", None)
    return fresh() if callable(fresh) else FunctionSizer(sizer)


def sizer_from_config(sizing, instances: int, source: str = "config") -> PositionSizer:
    """由配置的 sizing 块（SizingConfig，已校验）构造一个实例的仓位计算器；instances 为共享账户的实例数（equal_weight 用）。

    每次调用返回新对象：kelly 与 volatility_target 有状态，每个实例必须有自己的一个。
    source 仅为兼容旧调用保留（配置已由 pydantic 校验，这里不再报错）。
    """
    if sizing.method == "fixed_fraction":
        return Sizer(SIZE_FRACTION, float(sizing.fraction))
    if sizing.method == "fixed_notional":
        return Sizer(SIZE_NOTIONAL, float(sizing.notional))
    if sizing.method == "equal_weight":
        return Sizer(SIZE_FRACTION, 1.0 / max(instances, 1))
    if sizing.method == "kelly":
        fallback = float(sizing.fraction) if sizing.fraction is not None else KELLY_FALLBACK_FRACTION
        return KellySizer(float(sizing.kelly_fraction), float(sizing.kelly_cap), int(sizing.kelly_min_trades),
                          fallback)
    if sizing.method == "volatility_target":
        return VolatilityTargetSizer(float(sizing.target_risk), int(sizing.atr_period))
    return ALL_IN
