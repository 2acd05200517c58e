"""回测结果的数据结构：一笔交易、一次被拒绝的下单、单个策略实例的结果、整个组合的结果，以及由交易重建权益曲线。

两条路径（逐事件、numba 快速）产生同样的 `Trade` 列表，权益曲线都由本模块的 `pnl_curve` 从交易重建，
所以只要交易逐位相同，权益也逐位相同。
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from tradeterm.jit import kernel

# 离场原因代码：策略信号
EXIT_SIGNAL = 0
# 离场原因代码：固定止损
EXIT_STOP_LOSS = 1
# 离场原因代码：止盈
EXIT_TAKE_PROFIT = 2
# 离场原因代码：移动止损
EXIT_TRAILING_STOP = 3
# 离场原因代码：回测结束时仍持有，按最后收盘价标记（未平仓）
EXIT_OPEN = 4
# 离场原因代码 -> 文本（写入 JSON、CSV 与日志库）
EXIT_REASONS = {EXIT_SIGNAL: "signal", EXIT_STOP_LOSS: "stop_loss", EXIT_TAKE_PROFIT: "take_profit",
                EXIT_TRAILING_STOP: "trailing_stop", EXIT_OPEN: "open"}


@dataclass(slots=True)
class Trade:
    """一笔完整的交易（开仓到平仓）；未平仓的交易按最后收盘价标记，is_open 为 True。"""

    instance: str        # 策略实例名
    symbol: str          # 交易对，如 BTC/USDT
    side: int            # 方向：+1 多、-1 空
    entry_index: int     # 开仓成交所在 K 线的行号
    exit_index: int      # 平仓成交所在 K 线的行号；未平仓时为最后一根的行号
    entry_ts: int        # 开仓成交时间（该 K 线开盘时间），UTC 毫秒
    exit_ts: int | None  # 平仓成交时间（该 K 线开盘时间），UTC 毫秒；未平仓为 None
    entry_price: float   # 开仓成交价，计价货币
    exit_price: float    # 平仓成交价，计价货币；未平仓时为最后收盘价（标记价）
    amount: float        # 数量，基础货币
    entry_fee: float     # 开仓手续费，计价货币
    exit_fee: float      # 平仓手续费，计价货币；未平仓为 0
    pnl: float           # 净盈亏（扣两边手续费），计价货币；未平仓为按标记价的浮动盈亏减开仓手续费
    exit_reason: int     # 离场原因，EXIT_* 之一

    @property
    def is_open(self) -> bool:
        """回测结束时是否仍持有。"""
        return self.exit_reason == EXIT_OPEN

    @property
    def fees(self) -> float:
        """两边手续费合计，计价货币。"""
        return self.entry_fee + self.exit_fee

    @property
    def side_name(self) -> str:
        """方向文本：long 或 short。"""
        return "long" if self.side > 0 else "short"

    def to_dict(self) -> dict:
        """导出为 JSON 友好的字典（时间为毫秒）。"""
        return {
            "instance": self.instance, "symbol": self.symbol, "side": self.side_name,
            "entry_time": self.entry_ts, "exit_time": self.exit_ts,
            "entry_price": self.entry_price, "exit_price": self.exit_price, "amount": self.amount,
            "pnl": self.pnl, "fees": self.fees, "exit_reason": EXIT_REASONS[self.exit_reason], "open": self.is_open,
        }


class LazyTrades(Sequence):
    """按需构造的交易列表：快速路径把交易留在数组里，第一次被读取时才创建 Trade 对象（几万笔时省几十毫秒）。"""

    def __init__(self, build: Callable[[], list[Trade]], count: int):
        """build 返回完整的交易列表；count 为交易笔数（len() 不必构造对象）。"""
        # 构造函数，只调用一次
        self._build = build
        # 交易笔数
        self._count = count
        # 已构造的交易列表；None 表示尚未构造
        self._items: list[Trade] | None = None

    def _list(self) -> list[Trade]:
        """构造（只一次）并返回交易列表。"""
        if self._items is None:
            self._items = self._build()
        return self._items

    def __getitem__(self, index):
        """按下标或切片取交易。"""
        return self._list()[index]

    def __len__(self) -> int:
        """交易笔数。"""
        return self._count

    def __iter__(self):
        """逐笔迭代。"""
        return iter(self._list())

    def __eq__(self, other) -> bool:
        """与另一个交易序列逐笔相等。"""
        return isinstance(other, Sequence) and self._list() == list(other)

    def __repr__(self) -> str:
        """调试显示。"""
        return f"LazyTrades({self._list()!r})"


@dataclass(frozen=True, slots=True)
class Rejection:
    """一次被拒绝的下单（取整后数量为 0、低于最小数量/名义金额、资金不足、仓位为 0 或风控拒绝）。"""

    instance: str  # 策略实例名
    ts: int        # 本应成交的 K 线开盘时间，UTC 毫秒
    side: int      # 方向：+1 买、-1 卖
    amount: float  # 取整后的数量，基础货币
    price: float   # 本应成交的价格，计价货币
    reason: str    # 拒绝原因（英文，含数值与上限）
    # 触发的规则：exchange_rules（交易所下单规则）、sizing（仓位为 0）或风控规则名（与 config 的 risk 键同名）
    rule: str = "exchange_rules"

    def to_dict(self) -> dict:
        """导出为 JSON 友好的字典（时间为毫秒；写入 JSON 输出与日志库的 events 表）。"""
        return {"instance": self.instance, "ts": self.ts, "side": "buy" if self.side > 0 else "sell",
                "amount": self.amount, "price": self.price, "rule": self.rule, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class RiskEvent:
    """回测中风控的一次状态变化（目前是熔断触发），写入结果与日志库的 events 表（kind = breaker）。"""

    ts: int        # 触发时那根 K 线的开盘时间，UTC 毫秒（权益取自它的收盘）
    rule: str      # 熔断名：max_drawdown 或 daily_loss
    message: str   # 英文说明，含当时的回撤/亏损与上限


@dataclass
class InstanceResult:
    """单个策略实例的回测结果：自己的时间轴、收盘价、权益曲线（预算 + 盈亏）与交易。"""

    name: str                  # 策略实例名
    strategy: str              # 策略描述，如 MACross(fast=10, slow=30)
    symbol: str                # 交易对
    timeframe: str             # K 线周期，如 1m
    budget: float              # 分到的初始资金，计价货币（单实例时等于账户初始资金）
    timestamps: np.ndarray     # 每根 K 线开盘时间，UTC 毫秒，int64
    close: np.ndarray          # 每根 K 线收盘价，计价货币
    equity: np.ndarray         # 每根 K 线收盘时的权益，计价货币：budget + 已实现净盈亏 + 浮动盈亏
    trades: Sequence[Trade]    # 全部交易（最后一笔可能未平仓）；快速路径给出按需构造的 LazyTrades
    rejections: list[Rejection] = field(default_factory=list)  # 被拒绝的下单
    path: str = "event"        # 使用的路径：fast（numba 一次算完）或 event（逐事件）

    @property
    def closed_trades(self) -> list[Trade]:
        """已平仓的交易。"""
        return [t for t in self.trades if not t.is_open]


@dataclass
class BacktestResult:
    """整个回测：账户（组合）的权益曲线与每个策略实例的结果。"""

    starting_cash: float             # 账户初始资金，计价货币
    timeframe: str                   # 组合时间轴的周期（各实例中最短的），用于年化
    timestamps: np.ndarray           # 组合时间轴（开盘时间，UTC 毫秒）：单实例时为它的 K 线；多实例时为最短周期的等距网格
    equity: np.ndarray               # 组合权益曲线，计价货币（各实例盈亏按收盘时间向前填充后相加，再加初始资金）
    instances: list[InstanceResult]  # 每个实例的结果，顺序同配置
    risk_events: list[RiskEvent] = field(default_factory=list)  # 熔断触发等风控事件，按时间排序

    @property
    def rejections(self) -> list[Rejection]:
        """全部实例被拒绝的下单，按时间排序。"""
        return sorted((j for r in self.instances for j in r.rejections), key=lambda j: (j.ts, j.instance))

    @property
    def trades(self) -> list[Trade]:
        """全部实例的交易，按开仓时间排序。"""
        return sorted((t for r in self.instances for t in r.trades), key=lambda t: (t.entry_ts, t.instance))


def trade_arrays(trades: list[Trade]) -> tuple[np.ndarray, ...]:
    """把交易列表拆成 pnl_curve 需要的数组：开仓行、离场行、方向、开仓价、数量、开仓费、净盈亏、是否未平仓。"""
    columns = list(zip(*((t.entry_index, t.exit_index, t.side, t.entry_price, t.amount, t.entry_fee, t.pnl,
                          t.exit_reason == EXIT_OPEN) for t in trades)))
    types = (np.int64, np.int64, np.int64, np.float64, np.float64, np.float64, np.float64, np.bool_)
    return tuple(np.array(column, dtype=kind) for column, kind in zip(columns, types))


@kernel("f8[:](f8[:], i8[:], i8[:], i8[:], f8[:], f8[:], f8[:], f8[:], b1[:])")
def pnl_curve_kernel(close, entry_index, exit_index, side, entry_price, amount, entry_fee, pnl, is_open):
    """每根 K 线收盘时的累计盈亏（计价货币）：已平仓交易的净盈亏在离场那根计入，持仓期间计浮动盈亏减开仓费。

    参数为 trade_arrays 的各列（开仓行、离场行、方向 int64；开仓价、数量、开仓费、净盈亏 float64；是否未平仓 bool）。
    """
    n = close.shape[0]
    realized = np.zeros(n)
    out = np.zeros(n)
    for k in range(entry_index.shape[0]):
        # 持仓期间（开仓那根到离场前一根；未平仓则到最后一根）按收盘价计浮动盈亏
        last = n if is_open[k] else exit_index[k]
        for j in range(entry_index[k], last):
            out[j] += side[k] * amount[k] * (close[j] - entry_price[k]) - entry_fee[k]
        if not is_open[k]:
            realized[exit_index[k]] += pnl[k]
    # 已实现盈亏的累计和逐根加上去（与 out + np.cumsum(realized) 同样的加法顺序，少建两个百万长的临时数组）
    total = 0.0
    for j in range(n):
        total += realized[j]
        out[j] += total
    return out


def pnl_curve(close: np.ndarray, trades: list[Trade], arrays: tuple[np.ndarray, ...] | None = None) -> np.ndarray:
    """由交易重建每根 K 线收盘时的累计盈亏曲线（计价货币）；权益 = 初始资金 + 这条曲线。

    arrays 为 trade_arrays(trades) 的结果；快速路径直接给出（省去从对象再拆成数组）。
    """
    close = np.ascontiguousarray(close, dtype=np.float64)
    if not trades:
        return np.zeros(close.shape[0])
    return pnl_curve_kernel(close, *(arrays if arrays is not None else trade_arrays(trades)))
