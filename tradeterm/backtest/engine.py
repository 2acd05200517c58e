"""回测引擎：模拟时钟 + 历史行情 + 模拟经纪商。一个或多个策略实例共享一个账户，给出每个实例与组合的结果。

两条路径：
- 逐事件路径（`run_event_path`）：按时间顺序把每个实例的 K 线交给 `SimulatedBroker`，收盘时问策略要信号。
  向量化策略用 `precompute` + `signals_at` 查表（循环里没有 pandas），并跳过“什么都不会发生”的 K 线
  （没有信号、没有待成交订单、持仓没有止损止盈）；有状态策略每根 K 线调用 `on_data(df)`。
- 快速路径（`run_fast_path`）：单个向量化实例时，整段历史在一次 numba 循环里模拟完（`fast.simulate`）。
两条路径的交易与权益逐位相同（tests/backtest/test_paths_agree.py）。

风控（`BacktestSettings.risk`，即 config 的 `risk:` 块）与有状态的仓位计算（kelly、volatility_target）只在逐事件路径上：
每次运行新建一个 `RiskManager`（经 `backtest.risk.BacktestRisk` 接到经纪商的风控挂钩上），每根 K 线收盘用账户权益
更新熔断；此时每个实例的每根 K 线都会被访问（不再跳过“什么都不会发生”的 K 线），熔断与 ATR 看到的 K 线与实盘引擎相同。
"""

from __future__ import annotations

import gc
import heapq
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import numpy as np
import pandas as pd

from tradeterm.backtest.broker import Book, FeeSchedule, OrderRequest, RiskCheck, SimulatedBroker, marked_open_trade
from tradeterm.backtest.defaults import PATHS
from tradeterm.backtest.fast import simulate
from tradeterm.execution.fills import REJECT_REASONS, MarketRules
from tradeterm.backtest.results import (
    EXIT_REASONS, BacktestResult, InstanceResult, LazyTrades, Rejection, RiskEvent, Trade, pnl_curve,
)
from tradeterm.backtest.timeline import Series, plan_timeline, portfolio_curve
from tradeterm.sizing.sizers import ALL_IN, PositionSizer, Sizer, SizingFunction
from tradeterm.config.markets import timeframe_ms
from tradeterm.models import MarketType
from tradeterm.strategy.base import SIGNAL_COLUMNS, Strategy

if TYPE_CHECKING:
    # 只用于类型标注：风控与配置结构要加载 pydantic（约 0.1 秒），没有配置风控的回测（最常见）用不到它们
    from tradeterm.backtest.risk import BacktestRisk
    from tradeterm.config.schema import RiskConfig

# 进度回调：(已处理的 K 线数, 总 K 线数) -> None
ProgressFunction = Callable[[int, int], None]
# 逐事件路径每处理这么多次 K 线回报一次进度
PROGRESS_EVERY = 20_000


@dataclass
class PathOutcome:
    """一条路径对一个实例的产出：交易、被拒绝的下单，以及（可选）pnl_curve 用的交易数组。"""

    trades: list[Trade]                           # 全部交易（最后一笔可能未平仓）
    rejections: list[Rejection]                   # 被拒绝的下单
    arrays: tuple[np.ndarray, ...] | None = None  # trade_arrays(trades) 的等价数组；None 时由 trades 拆出


@dataclass
class InstanceSpec:
    """一次回测里的一个策略实例：策略对象、它的 K 线、市场规则、仓位函数与移动止损。"""

    strategy: Strategy                               # 已按参数创建好的策略实例
    data: pd.DataFrame                               # K 线表，列为 timestamp,open,high,low,close,volume
    rules: MarketRules = field(default_factory=MarketRules)  # 交易所下单规则；全 0 表示没有规则
    # 仓位计算：Sizer（无状态，快速路径可用）、KellySizer / VolatilityTargetSizer（有状态，逐事件路径）或任意函数；
    # 每次运行每个实例取一份状态为空的副本，规格可以重复运行
    sizer: SizingFunction | PositionSizer = ALL_IN
    trailing_stop: float = 0.0                       # 移动止损回撤比例，小数；0 表示不用
    budget: float | None = None                      # 报告用的分配资金，计价货币；None 为账户资金 / 实例数


@dataclass(frozen=True)
class BacktestSettings:
    """整个回测的设置。"""

    cash: float = 10_000.0                           # 账户初始资金，计价货币
    fees: FeeSchedule = field(default_factory=FeeSchedule)  # 费率与滑点
    risk: RiskConfig | None = None                   # config 的 risk 块；None 表示不启用风控（每次运行新建 RiskManager）
    risk_check: RiskCheck | None = None              # 额外的自定义风控挂钩（在 risk 之后检查）；None 表示没有
    path: str = "auto"                               # auto、fast 或 event
    progress: ProgressFunction | None = None         # 进度回调（CLI 的进度条）


def risk_enabled(settings: BacktestSettings) -> bool:
    """是否配置了至少一条风控限制（全是 None 的 risk 块等于没有）。"""
    return settings.risk is not None and bool(settings.risk.active_limits())


def fast_path_possible(specs: list[InstanceSpec], settings: BacktestSettings) -> bool:
    """能否走快速路径：单个向量化实例、无状态的内置仓位函数（Sizer）、没有风控。"""
    return (len(specs) == 1 and specs[0].strategy.is_vectorized and isinstance(specs[0].sizer, Sizer)
            and settings.risk_check is None and not risk_enabled(settings))


def run_backtest(specs: list[InstanceSpec], settings: BacktestSettings | None = None) -> BacktestResult:
    """运行回测并组装结果；路径由 settings.path 决定（auto 时能快则快）。"""
    settings = settings or BacktestSettings()
    if settings.path not in PATHS:
        raise ValueError(f"path must be one of {PATHS}, got {settings.path!r}")
    if len(specs) > 1:
        # 组合时间轴放不下时在模拟之前就拒绝（TimelineTooLarge），不白跑一遍
        plan_timeline([Series(s.strategy.name, s.strategy.timeframe, s.data["timestamp"].to_numpy(dtype=np.int64))
                       for s in specs])
    use_fast = settings.path == "fast" or (settings.path == "auto" and fast_path_possible(specs, settings))
    if use_fast:
        if not fast_path_possible(specs, settings):
            raise ValueError("the fast path needs one vectorized strategy, a built-in Sizer and no risk limits")
        outcomes, events = [run_fast_path(specs[0], settings)], []
    else:
        outcomes, events = run_event_path_with_events(specs, settings)
    return assemble_result(specs, settings, outcomes, "fast" if use_fast else "event", events)


def _arrays(df: pd.DataFrame) -> tuple[np.ndarray, ...]:
    """K 线表 -> (timestamp int64, open, high, low, close float64) 连续数组。"""
    return (np.ascontiguousarray(df["timestamp"].to_numpy(dtype=np.int64)),
            *(np.ascontiguousarray(df[c].to_numpy(dtype=np.float64)) for c in ("open", "high", "low", "close")))


def _allow_short(strategy: Strategy) -> bool:
    """合约市场可做空，现货不可。"""
    return strategy.market_type is MarketType.FUTURES


# ---- 快速路径 ----------------------------------------------------------------------------


def run_fast_path(spec: InstanceSpec, settings: BacktestSettings) -> "PathOutcome":
    """单个向量化实例：信号一次算完，交给 numba 循环模拟，再把结果转成 Trade / Rejection。"""
    strategy = spec.strategy
    frame = strategy.compute(spec.data)
    ts, open_, high, low, close = _arrays(spec.data)
    # 逐列取出（不拼成宽矩阵）：避免 pandas 合并混合类型的列，百万行时能省下几十毫秒
    flags = [np.ascontiguousarray(frame[c].to_numpy(dtype=bool)) for c in SIGNAL_COLUMNS]
    # 策略没有的止损/止盈列给空数组（simulate 视为处处不设），不必造两个百万长的 NaN 数组
    exits = [np.ascontiguousarray(frame[c].to_numpy(dtype=float)) if c in frame else np.empty(0)
             for c in ("stop_loss", "take_profit")]
    # 交易与拒绝记录的容量：每笔交易、每次拒绝都对应一根有信号的 K 线
    capacity = sum(int(np.count_nonzero(f)) for f in flags) + 1
    fees, rules, sizer = settings.fees, spec.rules, spec.sizer
    ints, floats, count, rejects, rejected, state = simulate(
        open_, high, low, close, *flags, *exits, float(settings.cash), fees.taker, fees.maker, fees.slippage_bps,
        rules.price_tick, rules.amount_step, rules.min_amount, rules.min_notional, sizer.method,
        float(sizer.value), float(spec.trailing_stop), _allow_short(strategy), capacity)
    name, symbol = strategy.name, strategy.symbol
    # pnl_curve 需要的数组直接取自模拟结果（与 trade_arrays(trades) 的值相同）
    arrays = [ints[:count, 0], ints[:count, 1], ints[:count, 2], floats[:count, 0], floats[:count, 2],
              floats[:count, 3], floats[:count, 5], np.zeros(count, dtype=np.bool_)]
    side, amount, entry_price, entry_fee, entry_index = state[:5]
    marked = None
    if side != 0:
        last = len(close) - 1
        marked = marked_open_trade(name, symbol, int(side), int(entry_index), last, int(ts[int(entry_index)]),
                                   float(entry_price), float(close[last]), float(amount), float(entry_fee))
        extra = (marked.entry_index, marked.exit_index, marked.side, marked.entry_price, marked.amount,
                 marked.entry_fee, marked.pnl, True)
        arrays = [np.append(column, value).astype(column.dtype) for column, value in zip(arrays, extra)]

    def build() -> list[Trade]:
        """把交易矩阵转成 Trade 对象（第一次读取 trades 时才调用）。"""
        return _trades_from_matrix(name, symbol, ts, ints[:count], floats[:count]) + ([marked] if marked else [])

    trades = LazyTrades(build, count + (marked is not None))
    rejections = [Rejection(name, int(ts[int(r[0])]), int(r[1]), float(r[2]), float(r[3]), REJECT_REASONS[int(r[4])])
                  for r in rejects[:rejected]]
    return PathOutcome(trades, rejections, tuple(np.ascontiguousarray(a) for a in arrays))


def _trades_from_matrix(name: str, symbol: str, ts: np.ndarray, ints: np.ndarray, floats: np.ndarray) -> list[Trade]:
    """快速路径的交易矩阵 -> Trade 列表（列的含义见 fast.INT_COLUMNS / FLOAT_COLUMNS）。"""
    # 先整体转成 Python 列表再逐笔构造，比逐个取 numpy 标量快一个数量级
    rows, values = ints.tolist(), floats.tolist()
    entry_ts, exit_ts = ts[ints[:, 0]].tolist(), ts[ints[:, 1]].tolist()
    # 成批创建几万个对象时暂停循环垃圾回收：这些对象没有循环引用，回收器反复扫描只会白白耗时
    collecting = gc.isenabled()
    gc.disable()
    try:
        return [
            Trade(name, symbol, side, entry, leave, t_in, t_out, p_in, p_out, amount, fee_in, fee_out, pnl, reason)
            for (entry, leave, side, reason), (p_in, p_out, amount, fee_in, fee_out, pnl), t_in, t_out
            in zip(rows, values, entry_ts, exit_ts)
        ]
    finally:
        if collecting:
            gc.enable()


# ---- 逐事件路径 --------------------------------------------------------------------------


class _Feed:
    """逐事件路径里一个实例的行情与策略：K 线数组（Python 列表，循环里取值快）与下一根要访问的 K 线。"""

    # 固定属性集合；各属性的含义与单位见 __init__
    __slots__ = ("strategy", "book", "data", "ts", "close_ts_array", "close_array", "open", "high", "low", "close",
                 "signal_rows", "cursor", "first_row", "signal_start", "every_bar", "step")

    def __init__(self, spec: InstanceSpec, book: Book, every_bar: bool = False):
        """准备数组；向量化策略预先算好信号并找出有信号的行。every_bar 为 True 时从第 0 根起每根都访问。"""
        ts, open_, high, low, close = _arrays(spec.data)
        # 策略实例
        self.strategy = spec.strategy
        # 该实例在经纪商里的账本
        self.book = book
        # 原始 K 线表（有状态策略的 on_data 需要 DataFrame）
        self.data = spec.data
        # K 线周期，毫秒（收盘时间 = 开盘时间 + step）
        self.step = timeframe_ms(self.strategy.timeframe)
        # 收盘时间数组，UTC 毫秒（标记价查找用：只用已收盘的 K 线）
        self.close_ts_array = ts + self.step
        # 收盘价数组，计价货币（标记价查找用）
        self.close_array = close
        # 开盘时间、开高低收的 Python 列表（循环里按行取值）
        self.ts, self.open, self.high, self.low, self.close = (a.tolist() for a in (ts, open_, high, low, close))
        # 向量化策略：有任何信号的行号（升序）；有状态策略为 None（每根都要调用 on_data）
        self.signal_rows: list[int] | None = None
        # signal_rows 里第一个大于等于当前行的位置（行号只增不减，所以游标只前进）
        self.cursor = 0
        # 第一根要访问的行号
        self.first_row = 0
        if self.strategy.is_vectorized:
            frame = self.strategy.precompute(spec.data)
            active = np.zeros(len(frame), dtype=bool)
            for column in SIGNAL_COLUMNS:
                active |= frame[column].to_numpy(dtype=bool)
            self.signal_rows = np.flatnonzero(active).tolist()  # 有信号的行号
            self.first_row = self.signal_rows[0] if self.signal_rows else len(self.ts)  # 第一个信号行
        else:
            self.first_row = max(self.strategy.warmup, 1) - 1  # 预热够了的第一行
        # 第一根可能有信号的行（有状态策略在它之前不调用 on_data）
        self.signal_start = self.first_row
        # 每根 K 线都访问（风控要每根收盘的权益、volatility_target 要每根的 ATR）
        self.every_bar = every_bar
        if every_bar:
            self.first_row = 0  # 从第一根起逐根访问

    def signals(self, row: int) -> list:
        """第 row 根收盘时的信号：向量化策略查表（没有信号的行不查），有状态策略调用 on_data（df 以这根结尾）。"""
        rows = self.signal_rows
        if row < self.signal_start:
            return []
        if rows is None:
            return self.strategy.on_data(self.data.iloc[: row + 1])
        while self.cursor < len(rows) and rows[self.cursor] < row:
            self.cursor += 1
        if self.cursor < len(rows) and rows[self.cursor] == row:
            return self.strategy.signals_at(self.ts[row]) or []
        return []

    def next_row(self, row: int, busy: bool) -> int:
        """下一根要访问的行：账本有事要做或是有状态策略时是下一根，否则跳到下一根有信号的行。"""
        rows = self.signal_rows
        if busy or rows is None or self.every_bar:
            return row + 1
        while self.cursor < len(rows) and rows[self.cursor] <= row:
            self.cursor += 1
        return rows[self.cursor] if self.cursor < len(rows) else len(self.ts)

    def mark(self, ts: int) -> float:
        """时刻 ts 的标记价：收盘时间不晚于 ts 的最后一根 K 线的收盘价（尚无则用第一根开盘价）。

        按收盘时间找，周期不同的实例互相标记时才不会看到尚未收盘的 K 线（1m 实例在 00:03 成交时，
        5m 实例 00:00 开盘的那根要到 00:05 才收盘，用的是 23:55 那根的收盘价）；周期相同时与“开盘早于 ts”相同。"""
        row = int(np.searchsorted(self.close_ts_array, ts, side="right")) - 1
        return float(self.close_array[row]) if row >= 0 else self.open[0]


def run_event_path(specs: list[InstanceSpec], settings: BacktestSettings) -> list["PathOutcome"]:
    """逐事件回测，只返回各实例的产出（风控事件见 run_event_path_with_events）。"""
    return run_event_path_with_events(specs, settings)[0]


def _risk_check(settings: BacktestSettings, risk: BacktestRisk | None) -> RiskCheck | None:
    """经纪商的风控挂钩：先 config 的风控规则，再自定义挂钩；都没有时为 None（不构造请求，省时间）。"""
    custom = settings.risk_check
    if risk is None or custom is None:
        return risk.check if risk is not None else custom

    def both(request: OrderRequest) -> tuple[str, str] | None:
        """两道检查，第一道拒绝即返回。"""
        return risk.check(request) or custom(request)

    return both


def run_event_path_with_events(specs: list[InstanceSpec], settings: BacktestSettings,
                               ) -> tuple[list["PathOutcome"], list[RiskEvent]]:
    """逐事件回测：全部实例按 (K 线开盘时间, 实例顺序) 排队，经纪商处理成交，收盘时收集信号。

    配置了风控时，每根 K 线收盘的账户权益更新熔断（在下一根开盘成交之前，见 _flush_equity）；单日亏损熔断是否还在生效
    按成交时间判断（RiskManager 用 blocking_at），所以 00:00 开盘的成交已经不受前一天的熔断限制。返回各实例产出与熔断事件。"""
    market_type = specs[0].strategy.market_type if specs else MarketType.SPOT
    risk = None
    if risk_enabled(settings):
        from tradeterm.backtest.risk import BacktestRisk  # 按需导入（见模块顶部的 TYPE_CHECKING）

        risk = BacktestRisk(settings.risk, market_type, settings.cash)
    feeds_by_book: dict[int, _Feed] = {}
    broker = SimulatedBroker(
        settings.cash, settings.fees, risk_check=_risk_check(settings, risk),
        mark=lambda book, ts: feeds_by_book[id(book)].mark(ts),
        on_fill=lambda book, fill: feeds_by_book[id(book)].strategy.on_order_fill(fill),
    )
    feeds = []
    for spec in specs:
        book = broker.add_book(Book(spec.strategy.name, spec.strategy.symbol, allow_short=_allow_short(spec.strategy),
                                    rules=spec.rules, sizer=spec.sizer, trailing_stop=spec.trailing_stop))
        feed = _Feed(spec, book, every_bar=risk is not None or book.sizer.needs_bars)
        feeds_by_book[id(book)] = feed
        feeds.append(feed)
    events: list[RiskEvent] = []
    # 待做的熔断更新：收盘时间 X（UTC 毫秒）-> 那根 K 线的开盘时间；开盘时间早于 X 的 K 线全部处理完才做（见 _flush_equity）
    pending: dict[int, int] = {}
    total = sum(len(f.ts) for f in feeds)
    queue = [(f.ts[f.first_row], k, f.first_row) for k, f in enumerate(feeds) if f.first_row < len(f.ts)]
    heapq.heapify(queue)
    visits = 0
    # 每个实例已走到的行号（进度用）
    reached = [0] * len(feeds)
    while queue:
        ts, k, row = heapq.heappop(queue)
        if pending:
            events += _flush_equity(risk, broker, pending, ts)
        feed = feeds[k]
        book = feed.book
        broker.on_bar(book, row, ts, feed.open[row], feed.high[row], feed.low[row])
        signals = feed.signals(row)
        if signals:
            broker.submit(book, signals, feed.close[row])
        broker.on_close(book, feed.high[row], feed.low[row], feed.close[row])
        if risk is not None:
            # 同一收盘时间取最晚的开盘时间（最短周期那根），与引擎按最新 K 线记权益一致
            pending[ts + feed.step] = max(pending.get(ts + feed.step, ts), ts)
        following = feed.next_row(row, broker.has_work(book))
        if following < len(feed.ts):
            heapq.heappush(queue, (feed.ts[following], k, following))
        visits += 1
        reached[k] = row + 1
        if settings.progress is not None and visits % PROGRESS_EVERY == 0:
            settings.progress(sum(reached), total)
    if pending:
        events += _flush_equity(risk, broker, pending, None)
    outcomes = []
    for feed in feeds:
        last = len(feed.ts) - 1
        trades = list(feed.book.trades)
        marked = broker.open_trade(feed.book, last, feed.close[last]) if last >= 0 else None
        if marked is not None:
            trades.append(marked)
        outcomes.append(PathOutcome(trades, list(feed.book.rejections)))
    if settings.progress is not None:
        settings.progress(total, total)
    return outcomes, events


def _flush_equity(risk: BacktestRisk, broker: SimulatedBroker, pending: dict[int, int],
                  until: int | None) -> list[RiskEvent]:
    """做完收盘时间 <= until（None 为全部）的熔断更新：权益按收盘时间 X 标记（只用已收盘的 K 线），
    时间记那根 K 线的开盘时间（与交易引擎的权益采样相同）。

    为什么推迟到下一根开盘之前才做：多个实例、周期不同时，队列按开盘时间处理，5m 的 K 线先于它期间的 1m K 线被处理；
    若在它“收盘”时立即更新，熔断会用到还没处理的 1m 成交与价格。等开盘时间早于 X 的 K 线都处理完（即队列弹出
    开盘时间 >= X 的 K 线之前）再更新，熔断只看到 X 时刻已经发生的事；单个实例时与收盘后立即更新完全相同。"""
    events: list[RiskEvent] = []
    for close_ts in sorted(x for x in pending if until is None or x <= until):
        events += risk.on_equity(pending.pop(close_ts), broker.equity(close_ts))
    return events


# ---- 组装结果 ----------------------------------------------------------------------------


def assemble_result(specs: list[InstanceSpec], settings: BacktestSettings, outcomes: list["PathOutcome"],
                    path: str, risk_events: list[RiskEvent] | None = None) -> BacktestResult:
    """由各实例的交易重建权益曲线：实例权益 = 分配资金 + 盈亏曲线；组合权益 = 初始资金 + 各实例盈亏之和
    （时间轴与对齐方式见 portfolio_curve）。"""
    instances = []
    for spec, outcome in zip(specs, outcomes):
        ts, _, _, _, close = _arrays(spec.data)
        budget = spec.budget if spec.budget is not None else settings.cash / len(specs)
        instances.append(InstanceResult(
            name=spec.strategy.name, strategy=spec.strategy.describe(), symbol=spec.strategy.symbol,
            timeframe=spec.strategy.timeframe, budget=budget, timestamps=ts, close=close,
            equity=budget + pnl_curve(close, outcome.trades, outcome.arrays), trades=outcome.trades,
            rejections=outcome.rejections, path=path,
        ))
    timestamps, equity = portfolio_curve(instances, settings.cash)
    timeframe = min((r.timeframe for r in instances), key=timeframe_ms) if instances else "1m"
    return BacktestResult(starting_cash=settings.cash, timeframe=timeframe, timestamps=timestamps, equity=equity,
                          instances=instances, risk_events=list(risk_events or []))


__all__ = ["InstanceSpec", "BacktestSettings", "run_backtest", "run_event_path", "run_event_path_with_events",
           "run_fast_path", "fast_path_possible", "risk_enabled", "assemble_result", "portfolio_curve", "EXIT_REASONS"]
