"""策略基类：一个接口，两种速度。

插件继承 `Strategy`，有两种写法：
- 向量化写法（内置四个策略都是）：实现 `indicators(df)` 与 `signals(df)`，后者返回布尔列
  `enter_long`、`exit_long`、`enter_short`、`exit_short`（可选浮点列 `stop_loss`、`take_profit`）。
  基类据此派生出逐根 K 线的 `on_data`（取最后一行），回测器也可以一次算完整段历史，走编译过的快速路径。
- 有状态写法：直接重写 `on_data(df)`，回测器走逐事件路径（更慢，结果相同）。

向量化策略还可以加一个可选的逐根形式（实盘更快）：`reset()` 建立流式指标（`ta.SMAStream` 等），`update(bar)` 每根
已收盘 K 线返回这一根的信号标志（与 signals() 同一行的值相同，字典，键同信号列）。实盘的机器人据此每根只做一次 O(1)
的增量计算，不再每根在整个窗口上重算指标；没有实现 update 的策略照旧在最近的窗口上调用 on_data。
回测仍用向量化的 signals()；`tradeterm.strategy.incremental.incremental_mismatches` 检查两种形式是否一致。

仓位逻辑在引擎里，不在策略里：策略只说“该进/该出”，引擎按当前仓位决定是否下单
（已持多仓时的 enter_long 被忽略，空仓时的 exit_long 被忽略）；同一根 K 线先处理平仓再处理开仓。
现货市场只做多：enter_short/exit_short 在现货上被丢弃。
"""

from __future__ import annotations

from abc import ABC
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from tradeterm.models import Bar, Fill, MarketType, Side, SignalIntent, TradeSignal

# 向量化信号的四个布尔列，按引擎处理顺序排列（先平后开）
SIGNAL_COLUMNS = ("exit_long", "exit_short", "enter_long", "enter_short")
# 每个信号列对应的下单方向与意图
SIGNAL_ACTIONS: dict[str, tuple[Side, SignalIntent]] = {
    "exit_long": (Side.SELL, SignalIntent.CLOSE_LONG),
    "exit_short": (Side.BUY, SignalIntent.CLOSE_SHORT),
    "enter_long": (Side.BUY, SignalIntent.OPEN_LONG),
    "enter_short": (Side.SELL, SignalIntent.OPEN_SHORT),
}
# 只在合约市场有效的信号列
SHORT_COLUMNS = frozenset({"exit_short", "enter_short"})
# 做空信号列在 SIGNAL_COLUMNS 里的位置（现货上逐根路径把它们置为 False）
SHORT_POSITIONS = tuple(i for i, column in enumerate(SIGNAL_COLUMNS) if column in SHORT_COLUMNS)
# 窗口类参数（均线、通道、z 分数的周期）的上限，K 线根数：更长的窗口没有意义，且会让行情缓存的时间跨度溢出
MAX_WINDOW = 100_000


class Strategy(ABC):
    """所有策略插件的基类。子类在类属性 `params` 中声明参数及默认值，配置中的参数覆盖默认值。"""

    # 参数默认值：名称 -> 默认值；类型由默认值推断（int/float/bool/str），配置里的未知参数会被拒绝
    params: ClassVar[dict[str, Any]] = {}
    # 数值参数的取值区间：名称 -> (最小值, 最大值)，闭区间，None 表示该侧不设界；配置、--param 与控制套接字的
    # set_params 都按它检查（见 strategy.loader.param_problems）。参数之间的约束（如 fast < slow）写在 validate_params
    param_ranges: ClassVar[dict[str, tuple[float | None, float | None]]] = {}

    def __init__(
        self,
        params: dict[str, Any] | None = None,
        *,
        name: str | None = None,
        symbol: str = "BTC/USDT",
        timeframe: str = "1m",
        market_type: MarketType = MarketType.SPOT,
    ):
        """创建实例：params 为覆盖默认值的参数（已由加载器校验）；其余为配置里的实例信息。"""
        # 本实例的参数：类默认值被传入值覆盖后的结果（遮蔽类属性 params，类属性仍是默认值）
        self.params: dict[str, Any] = {**type(self).params, **(params or {})}
        # 实例名，来自配置；缺省为类名
        self.name: str = name or type(self).__name__
        # 交易对，ccxt 形式，如 BTC/USDT
        self.symbol: str = symbol
        # K 线周期，如 1m、1h
        self.timeframe: str = timeframe
        # 市场类型：现货只做多，合约可多可空
        self.market_type: MarketType = MarketType(market_type)
        # 策略自己看到的持仓，基础货币，带符号；由 on_order_fill 更新
        self.position: float = 0.0
        # 预先计算的整段信号：K 线开盘时间(ms) -> 行号；None 表示未预计算（实时逐根计算）
        self._precomputed_rows: dict[int, int] | None = None
        # 预先计算的信号矩阵：行对应 K 线，列依次为 SIGNAL_COLUMNS
        self._precomputed_flags: np.ndarray | None = None
        # 预先计算的止损/止盈价（计价货币），NaN 表示不设；形状 (K 线数, 2)
        self._precomputed_exits: np.ndarray | None = None

    # ---- 插件作者实现的部分 -------------------------------------------------------------

    @property
    def warmup(self) -> int:
        """第一个信号之前需要的历史 K 线根数；子类按参数覆盖。"""
        return 0

    @classmethod
    def validate_params(cls, params: dict[str, Any]) -> list[str]:
        """参数之间的约束检查（如 fast < slow）；返回问题列表，每条写明参数、值与要求。子类按需覆盖。"""
        return []

    def indicators(self, df: pd.DataFrame) -> pd.DataFrame:
        """在 K 线 DataFrame 上添加指标列并返回（必须因果：第 t 行只用第 t 行及之前的数据）。"""
        return df

    def signals(self, df: pd.DataFrame) -> pd.DataFrame:
        """向量化信号：输入为 indicators() 的结果，返回含 SIGNAL_COLUMNS 布尔列的 DataFrame。

        未实现时表示这是一个只重写 on_data 的有状态策略。
        """
        raise NotImplementedError

    def reset(self) -> None:
        """逐根写法（可选）：建立或清空逐根状态（流式指标、交叉检测器等）。每次从第一根 K 线重新逐根计算之前调用。"""

    def update(self, bar: Bar) -> Mapping[str, Any] | None:
        """逐根写法（可选）：一根已收盘的 K 线 -> 这根上的信号标志，reset() 之后按时间顺序每根调用一次。

        返回字典：键为 SIGNAL_COLUMNS 里的列名（缺的算 False），可选 stop_loss / take_profit（价格，计价货币）；
        None 或空字典表示没有信号。必须与 signals() 在从同一根起算的整段历史上同一行的值相同（现货丢弃做空由基类完成）。
        未实现时，实盘在最近的窗口上调用 on_data（向量化重算）。
        """
        raise NotImplementedError

    def on_order_fill(self, fill: Fill) -> None:
        """成交回报：默认更新 self.position；有状态策略可覆盖并调用 super()。"""
        self.position += fill.side.sign * fill.amount

    # ---- 基类派生的部分 ---------------------------------------------------------------

    @property
    def is_vectorized(self) -> bool:
        """是否实现了向量化 signals()，即回测可走快速路径。"""
        return type(self).signals is not Strategy.signals

    @property
    def is_incremental(self) -> bool:
        """是否实现了逐根的 update()，即实盘可以每根只做增量计算。"""
        return type(self).update is not Strategy.update

    def seed(self, rows: Iterable[Sequence[float]]) -> None:
        """从头开始逐根计算：reset()，再把历史 K 线逐根交给 update()（不要信号）。

        rows 的每行为 [timestamp, open, high, low, close, volume]（机器人窗口的一行）。"""
        self.reset()
        update = self.update
        for row in rows:
            update(Bar(int(row[0]), row[1], row[2], row[3], row[4], row[5]))

    def bar_flags(self, row: Sequence[float]) -> tuple[list[bool], float, float]:
        """逐根路径：一根新收盘的 K 线交给 update()，返回 (按 SIGNAL_COLUMNS 排列的布尔标志, 止损价, 止盈价)。

        与 compute() 同一行的规则相同：缺的列与 NaN 算 False，现货上做空信号被丢弃；止损止盈为 NaN 表示不设。"""
        flags = self.update(Bar(int(row[0]), row[1], row[2], row[3], row[4], row[5]))
        if not flags:
            return [False] * len(SIGNAL_COLUMNS), np.nan, np.nan
        active = [_truthy(flags.get(column)) for column in SIGNAL_COLUMNS]
        if self.market_type is MarketType.SPOT:
            for position in SHORT_POSITIONS:
                active[position] = False
        return active, flags.get("stop_loss", np.nan), flags.get("take_profit", np.nan)

    def on_bar(self, row: Sequence[float]) -> list[TradeSignal]:
        """逐根路径的信号：与 on_data 在“从第一根起的整段历史、以这根结尾”上的结果相同，但每根只做一次增量计算。"""
        flags, stop_loss, take_profit = self.bar_flags(row)
        if not any(flags):
            return []
        return self._to_signals(int(row[0]), flags, stop_loss, take_profit)

    def compute(self, df: pd.DataFrame) -> pd.DataFrame:
        """在整段 K 线上计算指标与信号，返回带指标列与四个布尔信号列的 DataFrame（缺的信号列补 False）。"""
        # pandas 3 的写时复制（Copy-on-Write）下浅拷贝就能保证不改动调用方的 df，且省去整表复制（百万根 K 线约 0.3 秒）
        frame = self.indicators(df.copy(deep=False))
        flags = self.signals(frame)
        out = frame.copy(deep=False)
        for column in SIGNAL_COLUMNS:
            out[column] = flags[column].fillna(False).astype(bool) if column in flags else False
        for column in ("stop_loss", "take_profit"):
            if column in flags:
                out[column] = flags[column].astype(float)
        if self.market_type is MarketType.SPOT:
            # 现货只能做多：做空信号在这里统一丢弃，快速路径与逐根路径看到的是同一组信号
            for column in SHORT_COLUMNS:
                out[column] = False
        return out

    def precompute(self, df: pd.DataFrame) -> pd.DataFrame:
        """回测用：一次算完整段历史的信号并缓存，之后 on_data/signals_at 直接查表（不再逐根调用 pandas）。

        合法性由前视检查保证：整段计算的第 t 行等于截断到 t 再计算的最后一行。返回 compute() 的结果。
        """
        frame = self.compute(df)
        timestamps = frame["timestamp"].to_numpy(dtype=np.int64)
        self._precomputed_rows = dict(zip(timestamps.tolist(), range(len(timestamps))))
        self._precomputed_flags = frame[list(SIGNAL_COLUMNS)].to_numpy(dtype=bool)
        exits = np.full((len(frame), 2), np.nan)
        for j, column in enumerate(("stop_loss", "take_profit")):
            if column in frame:
                exits[:, j] = frame[column].to_numpy(dtype=float)
        self._precomputed_exits = exits
        return frame

    def signals_at(self, ts: int) -> list[TradeSignal] | None:
        """查预计算表：开盘时间为 ts 的 K 线收盘时的信号；表中没有这根 K 线时返回 None。"""
        if self._precomputed_rows is None:
            return None
        row = self._precomputed_rows.get(int(ts))
        if row is None:
            return None
        flags = self._precomputed_flags[row]
        if not flags.any():
            return []
        stop_loss, take_profit = self._precomputed_exits[row]
        return self._to_signals(ts, flags, stop_loss, take_profit)

    def on_data(self, df: pd.DataFrame) -> list[TradeSignal]:
        """每根已收盘 K 线调用一次；df 以这根 K 线结尾。向量化策略取 compute() 的最后一行。"""
        if not self.is_vectorized:
            raise NotImplementedError(f"{type(self).__name__} must implement signals() or override on_data()")
        ts = int(df["timestamp"].iloc[-1])
        cached = self.signals_at(ts)
        if cached is not None:
            return cached
        # 只取信号列的最后一个值，与 compute(df).iloc[-1] 相同（NaN 视为 False，现货丢弃做空），
        # 但不构造整张输出表与混合类型的行：实盘每根 K 线每个实例都走这里，省下一半以上的时间
        frame = self.indicators(df.copy(deep=False))
        signals = self.signals(frame)
        flags = np.array([_last_flag(signals, c) for c in SIGNAL_COLUMNS])
        if self.market_type is MarketType.SPOT:
            flags[[SIGNAL_COLUMNS.index(c) for c in SHORT_COLUMNS]] = False
        stop_loss, take_profit = (float(signals[c].iloc[-1]) if c in signals else np.nan
                                  for c in ("stop_loss", "take_profit"))
        return self._to_signals(ts, flags, stop_loss, take_profit)

    def _to_signals(self, ts: int, flags: np.ndarray, stop_loss: float, take_profit: float) -> list[TradeSignal]:
        """把一行布尔信号转成 TradeSignal 列表（先平后开）；止损止盈价只附在开仓信号上。"""
        out = []
        for column, active in zip(SIGNAL_COLUMNS, flags):
            if not active:
                continue
            side, intent = SIGNAL_ACTIONS[column]
            opening = intent in (SignalIntent.OPEN_LONG, SignalIntent.OPEN_SHORT)
            out.append(TradeSignal(
                symbol=self.symbol, side=side, intent=intent, ts=ts,
                stop_loss=_price_or_none(stop_loss) if opening else None,
                take_profit=_price_or_none(take_profit) if opening else None,
                reason=f"{type(self).__name__}.{column}",
            ))
        return out

    def describe(self) -> str:
        """一行描述：类名与参数，用于日志与界面。"""
        args = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"


def _last_flag(signals: pd.DataFrame, column: str) -> bool:
    """信号表里 column 列最后一个值的布尔含义：列不存在或为 NaN 时为 False。"""
    if column not in signals:
        return False
    value = signals[column].iloc[-1]
    return bool(value) if not pd.isna(value) else False


def _truthy(value: Any) -> bool:
    """逐根标志的布尔含义：None 与 NaN 为 False（同 compute() 的 fillna(False)），其余按 bool。"""
    return value is not None and value == value and bool(value)


def _price_or_none(value: float) -> float | None:
    """NaN 或非正数表示“不设”，返回 None；否则返回价格。"""
    return float(value) if value is not None and np.isfinite(value) and value > 0 else None


def crossed_above(fast: pd.Series, slow: pd.Series) -> pd.Series:
    """在第 t 根上穿：fast[t] > slow[t] 且 fast[t-1] <= slow[t-1]；含 NaN 的比较为 False。"""
    return (fast > slow) & (fast.shift(1) <= slow.shift(1))


def crossed_below(fast: pd.Series, slow: pd.Series) -> pd.Series:
    """在第 t 根下穿：fast[t] < slow[t] 且 fast[t-1] >= slow[t-1]；含 NaN 的比较为 False。"""
    return (fast < slow) & (fast.shift(1) >= slow.shift(1))
