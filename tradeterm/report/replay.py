"""回测与实盘对照（`tradeterm replay-check`）：用一次模拟盘/实盘运行看到的 K 线重放同样的实例，逐笔比较成交。

做法：
1. 每个实例用日志库里的 K 线（运行开始前的预热窗口 + 运行期间实时收盘的）跑一次逐事件回测：同样的策略类与参数、
   同样的费率、滑点与仓位设置、同样的初始资金（风控限制不重放：实盘的风控拒绝记在日志库里，用来解释差异）。
   实例的订阅开始实时之前的信号被屏蔽（`gated_strategy`），回测与实盘从同一根 K 线、同样空仓开始比较。
2. 配对：回测的每笔成交（信号在 K 线 t 收盘，t+1 开盘成交）与实盘同一实例、同一方向、在同一根 K 线上决定的订单
   （orders.bar_ts）配对；先配同一根，再允许相差 `bar_tolerance` 根（并报告）。旧库没有 bar_ts 时按成交时间估计。
3. 分类：配上的比较价格（基点）、手续费率、数量、延迟；回测有而实盘没有的（missed）与实盘有而回测没有的（extra）
   逐条找原因：实例暂停/停止/出错、订单被拒或没到交易所、行情缺口、持仓已因更早的差异而不同、止损止盈只被影线触及、
   非策略信号的订单（止损、止盈、平仓、手动、一键停止）、运行最后一根 K 线上的决定。找不到原因的记为 unexplained。
本模块不做任何 I/O：记录由 `tradeterm.journal.reader` 读出，K 线由调用方按 `InstancePlan.data_range` 取好放进计划。
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradeterm.backtest.broker import FeeSchedule
from tradeterm.backtest.engine import BacktestSettings, InstanceSpec, run_backtest
from tradeterm.backtest.results import EXIT_REASONS, Trade
from tradeterm.sizing.sizers import sizer_from_config
from tradeterm.config.markets import timeframe_ms
from tradeterm.config.schema import SizingConfig
from tradeterm.engine.bot import MIN_WINDOW
from tradeterm.journal.reader import JournalEvent, LiveFill, LiveOrder, RunRecord
from tradeterm.models import MarketType
from tradeterm.report.replay_defaults import DEFAULT_BAR_TOLERANCE, DEFAULT_PRICE_TOLERANCE_BPS
from tradeterm.strategy.base import SIGNAL_COLUMNS, Strategy
from tradeterm.strategy.loader import build_strategy, load_strategy_class

# 手续费率的容差，基点（占名义金额）：超过即是交易所收费与配置的 fees 不符
FEE_TOLERANCE_BPS = 0.5
# 数量相差超过这个比例（小数）时在备注里说明（仓位按当时的权益与价格计算，总会略有不同）
AMOUNT_NOTE_FRACTION = 0.01
# 不是策略信号的订单原因（它们不在回测里，或由实盘在最新价上触发）
NOT_SIGNAL_REASONS = ("stop_loss", "take_profit", "trailing_stop", "flatten", "manual", "kill_switch")
# 回测里由价格触发（而不是信号）的离场
PRICE_EXITS = ("stop_loss", "take_profit", "trailing_stop")
# 持仓视为 0 的阈值，基础货币
FLAT_EPSILON = 1e-12


# ---- 计划与回测 ------------------------------------------------------------------------------------------


@dataclass
class InstancePlan:
    """一个实例的重放计划：策略、参数、仓位设置、比较窗口与（调用方放进来的）K 线。"""

    name: str                        # 实例名
    symbol: str                      # 交易对（交易所形式，如 BTC/USDT:USDT）
    timeframe: str                   # K 线周期
    step: int                        # 周期长度，毫秒
    strategy_class: type[Strategy]   # 策略类
    params: dict[str, Any]           # 运行时的参数
    sizing: dict[str, Any]           # 仓位设置（实例的或全局的，SizingConfig 的字段）
    window: int                      # 预热窗口，K 线根数（与引擎的窗口相同）
    start_ts: int                    # 比较窗口的第一根 K 线（这个交易对开始实时的那根），UTC 毫秒
    last_ts: int                     # 比较窗口的最后一根 K 线，UTC 毫秒（放进 K 线后按实有的 K 线收紧）
    data: pd.DataFrame | None = None  # K 线（timestamp,open,high,low,close,volume），由调用方按 data_range 取

    @property
    def data_range(self) -> tuple[int, int]:
        """要取的 K 线开盘时间范围 (since, until)，UTC 毫秒：预热窗口 + 比较窗口 + 之后几根（看延迟期间的价格）。"""
        return self.start_ts - self.window * self.step, self.last_ts + (DEFAULT_BAR_TOLERANCE + 3) * self.step


@dataclass(frozen=True)
class ModelFill:
    """回测的一笔成交。"""

    instance: str        # 实例名
    side: str            # buy / sell
    bar_ts: int          # 成交所在 K 线的开盘时间，UTC 毫秒
    decision_ts: int     # 决定它的 K 线（信号那根，或价格触发前最后收盘的那根），UTC 毫秒
    price: float         # 成交价，计价货币
    amount: float        # 数量，基础货币
    fee: float           # 手续费，计价货币
    reason: str          # signal / stop_loss / take_profit / trailing_stop
    opening: bool        # 是否开仓


def feed_starts(events: list[JournalEvent]) -> dict[tuple[str, str], int]:
    """每个 (交易对, 周期) 订阅的第一根实时收盘 K 线（引擎的 log 事件 first_live_bar_ts），UTC 毫秒。"""
    starts: dict[tuple[str, str], int] = {}
    for event in events:
        ts = event.data.get("first_live_bar_ts")
        if ts is not None:
            key = (event.data["symbol"], event.data["timeframe"])
            starts[key] = min(int(ts), starts.get(key, int(ts)))
    return starts


def plan_instances(record: RunRecord, plugin_dirs: list[Path]) -> list[InstancePlan]:
    """按运行设置为每个实例做重放计划；策略类找不到或参数不合法时抛 StrategyError（UserError）。"""
    settings = record.settings
    market_type = MarketType(settings.get("market_type", "spot"))
    starts = feed_starts(record.events)
    # 没有 feed 事件的旧库：第一根实时 K 线收盘之后才收盘的 K 线才可能是实时的
    first_close = record.first_bar_ts + timeframe_ms(record.timeframe)
    plans = []
    for spec in settings["instances"]:
        cls = load_strategy_class(spec["class"], plugin_dirs)
        strategy = build_strategy(cls, spec["params"], name=spec["name"], symbol=spec["symbol"],
                                  timeframe=spec["interval"], market_type=market_type)
        step = timeframe_ms(spec["interval"])
        start = starts.get((spec["symbol"], spec["interval"]), first_close - step)
        plans.append(InstancePlan(spec["name"], spec["symbol"], spec["interval"], step, cls, dict(spec["params"]),
                                  spec.get("sizing") or settings["sizing"], max(MIN_WINDOW, 2 * int(strategy.warmup)),
                                  start, record.last_bar_ts))
    return plans


def gated_strategy(plan: InstancePlan, market_type: MarketType) -> Strategy:
    """计划里的策略，但开盘时间早于 plan.start_ts 的 K 线上没有信号（实盘在订阅开始实时之前不交易）。

    用同名子类实现：向量化策略屏蔽 signals() 的早期行，有状态策略在早期 K 线上的 on_data 返回空。"""
    cls, start = plan.strategy_class, plan.start_ts
    if cls.signals is not Strategy.signals:
        class Gated(cls):  # type: ignore[valid-type, misc]
            """屏蔽早期信号的向量化策略。"""

            def signals(self, df: pd.DataFrame) -> pd.DataFrame:
                """原策略的信号，早于 start 的行全部置为 False。"""
                out = super().signals(df).copy()
                early = (df["timestamp"] < start).to_numpy()
                for column in SIGNAL_COLUMNS:
                    if column in out:
                        out[column] = out[column].eq(True).to_numpy() & ~early
                return out
    else:
        class Gated(cls):  # type: ignore[valid-type, misc, no-redef]
            """屏蔽早期信号的有状态策略。"""

            def on_data(self, df: pd.DataFrame) -> list:
                """早于 start 的 K 线上不调用原策略。"""
                return [] if int(df["timestamp"].iloc[-1]) < start else super().on_data(df)
    Gated.__name__ = Gated.__qualname__ = cls.__name__  # 信号的 reason 标签（类名.列名）与实盘相同
    return build_strategy(Gated, plan.params, name=plan.name, symbol=plan.symbol, timeframe=plan.timeframe,
                          market_type=market_type)


def run_model(record: RunRecord, plans: list[InstancePlan]) -> dict[str, list[ModelFill]]:
    """在计划的 K 线上跑逐事件回测（运行的初始资金、费率、滑点与仓位设置），返回 实例名 -> 比较窗口里的成交。"""
    market_type = MarketType(record.settings.get("market_type", "spot"))
    specs = [InstanceSpec(strategy=gated_strategy(plan, market_type), data=_model_bars(plan),
                          sizer=sizer_from_config(SizingConfig.model_validate(plan.sizing), len(plans)))
             for plan in plans]
    fees = record.settings.get("fees", {})
    settings = BacktestSettings(cash=record.starting_cash, path="event",
                                fees=FeeSchedule(float(fees.get("maker", 0.001)), float(fees.get("taker", 0.001)),
                                                 float(fees.get("slippage_bps", 0.0))))
    result = run_backtest(specs, settings)
    return {plan.name: [f for t in outcome.trades for f in trade_fills(t, plan.step)
                        if plan.start_ts <= f.decision_ts <= plan.last_ts]
            for plan, outcome in zip(plans, result.instances)}


def _model_bars(plan: InstancePlan) -> pd.DataFrame:
    """回测用的 K 线：到比较窗口的最后一根为止（之后的是别的运行记下的，不属于这次运行）。"""
    assert plan.data is not None, "load the plan's bars first (InstancePlan.data_range)"
    return plan.data[plan.data["timestamp"] <= plan.last_ts].reset_index(drop=True)


def trade_fills(trade: Trade, step: int) -> list[ModelFill]:
    """回测的一笔交易 -> 开仓与平仓两笔成交（未平仓的只有开仓）；决定的 K 线是成交那根的前一根。"""
    opening = "buy" if trade.side > 0 else "sell"
    closing = "sell" if trade.side > 0 else "buy"
    fills = [ModelFill(trade.instance, opening, trade.entry_ts, trade.entry_ts - step, trade.entry_price,
                       trade.amount, trade.entry_fee, "signal", True)]
    if trade.exit_ts is not None:
        fills.append(ModelFill(trade.instance, closing, trade.exit_ts, trade.exit_ts - step, trade.exit_price,
                               trade.amount, trade.exit_fee, EXIT_REASONS[trade.exit_reason], False))
    return fills


# ---- 实盘一侧 --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Execution:
    """实盘的一张有成交的订单（它的全部成交合在一起）。"""

    order: LiveOrder      # 订单
    price: float          # 成交均价，计价货币
    amount: float         # 成交数量，基础货币
    fee: float            # 手续费合计，单位见 fee_currency
    fee_currency: str     # 手续费币种
    ts: int               # 第一笔成交的时间，UTC 毫秒（交易所时间）
    decision_ts: int      # 决定它的 K 线，UTC 毫秒：orders.bar_ts，旧库按成交时间估计（成交那根的前一根）
    exact: bool           # decision_ts 是否来自 orders.bar_ts

    @property
    def side(self) -> str:
        """buy / sell。"""
        return self.order.side


def executions(record: RunRecord, step_of: dict[str, int]) -> tuple[list[Execution], list[LiveOrder]]:
    """本次运行的订单 -> (有成交的订单, 没有成交的订单)。step_of 为实例名 -> 周期毫秒（手动单按 1 分钟估计）。"""
    by_order: dict[str, list[LiveFill]] = {}
    for fill in record.fills:
        by_order.setdefault(fill.client_order_id, []).append(fill)
    done, unfilled = [], []
    for order in record.orders:
        fills = by_order.get(order.client_order_id)
        if not fills:
            unfilled.append(order)
            continue
        amount = sum(f.amount for f in fills)
        first = min(f.ts for f in fills)
        step = step_of.get(order.instance or "", 60_000)
        decided = order.bar_ts if order.bar_ts is not None else first - first % step - step
        done.append(Execution(order, sum(f.price * f.amount for f in fills) / amount, amount,
                              sum(f.fee for f in fills), fills[0].fee_currency, first, int(decided),
                              order.bar_ts is not None))
    return done, unfilled


# ---- 配对 ------------------------------------------------------------------------------------------------


def pair_fills(model: list[ModelFill], live: list[Execution], step: int, tolerance: int,
               ) -> tuple[list[tuple[ModelFill, Execution]], list[ModelFill], list[Execution]]:
    """一个实例的配对：先配同一根 K 线上决定的同向成交，再配相差不超过 tolerance 根的。返回 (配上的, 回测多的, 实盘多的)。"""
    free = list(live)
    pairs: list[tuple[ModelFill, Execution]] = []
    missed: list[ModelFill] = []
    for exact in (True, False):
        left = []
        for fill in (model if exact else missed):
            match = _best_match(fill, free, step, 0 if exact else tolerance)
            if match is None:
                left.append(fill)
            else:
                free.remove(match)
                pairs.append((fill, match))
        missed = left
    return sorted(pairs, key=lambda p: p[0].bar_ts), missed, free


def _best_match(fill: ModelFill, free: list[Execution], step: int, tolerance: int) -> Execution | None:
    """同向、决定的 K 线最接近（相差不超过 tolerance 根；估计的决定 K 线只可能晚于真实的）的实盘订单。"""
    best, best_key = None, None
    for execution in free:
        if execution.side != fill.side:
            continue
        bars = (execution.decision_ts - fill.decision_ts) // step
        allowed = abs(bars) <= tolerance if execution.exact else 0 <= bars <= tolerance + 1
        key = (abs(bars), execution.ts)
        if allowed and (best_key is None or key < best_key):
            best, best_key = execution, key
    return best


# ---- 结果 ------------------------------------------------------------------------------------------------


@dataclass
class ReplayRow:
    """对照表的一行：一对配上的成交、回测多出的一笔（missed）或实盘多出的一笔（extra）。"""

    instance: str                      # 实例名
    side: str                          # buy / sell
    outcome: str                       # matched / missed / extra
    decision_ts: int                   # 决定的 K 线开盘时间，UTC 毫秒（交易所时间）
    reason: str                        # 原因标签：实盘订单的 reason，或回测的 signal / stop_loss 等
    model_price: float | None = None   # 回测成交价，计价货币
    live_price: float | None = None    # 实盘成交均价，计价货币
    model_amount: float | None = None  # 回测数量，基础货币
    live_amount: float | None = None   # 实盘数量，基础货币
    model_fee: float | None = None     # 回测手续费，计价货币
    live_fee: float | None = None      # 实盘手续费，单位为其手续费币种
    price_diff_bps: float | None = None  # 实盘比模型差多少基点（正数 = 对交易者不利）
    latency_ms: int | None = None      # 实盘成交时间 - 模型成交 K 线开盘，毫秒（交易所时间）
    bar_offset: int = 0                # 实盘决定的 K 线比回测晚几根（负数为早）
    notes: list[str] = field(default_factory=list)        # 已解释的差异（英文）
    unexplained: list[str] = field(default_factory=list)  # 无法解释的差异（英文）

    @property
    def status(self) -> str:
        """match（无差异）、explained（差异都有原因）或 UNEXPLAINED。"""
        return "UNEXPLAINED" if self.unexplained else "explained" if self.notes else "match"


@dataclass
class ReplayTotals:
    """对照的合计。"""

    model_fills: int = 0           # 比较窗口里回测的成交数
    live_fills: int = 0            # 实盘有成交的订单数（实例的与手动的）
    matched: int = 0               # 配上的
    missed: int = 0                # 回测有、实盘没有的
    extra: int = 0                 # 实盘有、回测没有的
    explained: int = 0             # 有差异且都已解释的行
    unexplained: int = 0           # 有无法解释的差异的行
    price_cost: float = 0.0        # 配上的成交里实盘比模型多付（少收）的金额，计价货币（正数 = 不利）
    mean_price_diff_bps: float = 0.0  # 配上的成交的平均价差，基点（正数 = 不利）
    max_price_diff_bps: float = 0.0   # 配上的成交的最大绝对价差，基点
    model_fees: float = 0.0        # 配上的成交的回测手续费合计，计价货币
    live_fees: float = 0.0         # 配上的成交的实盘手续费合计（计价货币收取的部分）
    mean_latency_ms: float = 0.0   # 配上的成交的平均延迟，毫秒（交易所时间）
    max_latency_ms: int = 0        # 配上的成交的最大延迟，毫秒


@dataclass
class ReplayReport:
    """一次运行的对照结果。"""

    run_id: int                    # runs.id
    kind: str                      # paper / live
    exchange: str                  # 交易所说明
    windows: list[dict[str, Any]]  # 每个实例的比较窗口：name、symbol、timeframe、first_ts、last_ts、bars
    rows: list[ReplayRow]          # 逐笔对照，按决定的 K 线排序
    totals: ReplayTotals           # 合计
    notes: list[str]               # 整体说明（英文）

    @property
    def passed(self) -> bool:
        """没有无法解释的差异。"""
        return self.totals.unexplained == 0

    def to_dict(self) -> dict[str, Any]:
        """JSON 友好的字典（时间为 UTC 毫秒）。"""
        rows = [{**asdict(r), "status": r.status} for r in self.rows]
        return {"run_id": self.run_id, "kind": self.kind, "exchange": self.exchange, "windows": self.windows,
                "passed": self.passed, "totals": asdict(self.totals), "notes": self.notes, "rows": rows}


# ---- 比较 ------------------------------------------------------------------------------------------------


@dataclass
class _Context:
    """比较一个实例时要查的东西：它的计划、实盘订单与事件、回测成交。"""

    plan: InstancePlan            # 重放计划（含 K 线）
    model: list[ModelFill]        # 回测成交（比较窗口内）
    live: list[Execution]         # 实盘有成交的订单
    unfilled: list[LiveOrder]     # 实盘没有成交的订单
    events: list[JournalEvent]    # 本次运行的事件
    prior: float                  # 运行开始时的持仓（之前各次运行的成交累计），基础货币，带符号
    slippage_bps: float           # 配置的滑点，基点
    tolerance_bps: float          # 价格容差，基点


def compare_run(record: RunRecord, plans: list[InstancePlan], model: dict[str, list[ModelFill]],
                price_tolerance_bps: float = DEFAULT_PRICE_TOLERANCE_BPS,
                bar_tolerance: int = DEFAULT_BAR_TOLERANCE) -> ReplayReport:
    """逐实例配对与分类，加上不属于任何实例的订单（手动单），汇总成报告。"""
    for plan in plans:
        _tighten_window(plan)
    done, unfilled = executions(record, {p.name: p.step for p in plans})
    slippage = float(record.settings.get("fees", {}).get("slippage_bps", 0.0))
    rows: list[ReplayRow] = []
    for plan in plans:
        context = _Context(plan, model.get(plan.name, []), [e for e in done if e.order.instance == plan.name],
                           [o for o in unfilled if o.instance == plan.name], record.events,
                           _prior_position(record, plan.name), slippage, price_tolerance_bps)
        rows += instance_rows(context, bar_tolerance)
    names = {p.name for p in plans}
    rows += [_manual_row(e) for e in done if e.order.instance not in names]
    rows.sort(key=lambda r: (r.decision_ts, r.instance, r.outcome))
    totals = summarize(rows, sum(len(v) for v in model.values()), len(done))
    return ReplayReport(record.run_id, record.kind, str(record.settings.get("exchange", "")),
                        [_window(p) for p in plans], rows, totals, _run_notes(record))


def _tighten_window(plan: InstancePlan) -> None:
    """比较窗口的最后一根收紧到这个交易对在运行期间实际收盘的最后一根。"""
    if plan.data is not None and len(plan.data):
        seen = plan.data["timestamp"][plan.data["timestamp"] <= plan.last_ts]
        if len(seen):
            plan.last_ts = int(seen.iloc[-1])


def _prior_position(record: RunRecord, instance: str) -> float:
    """运行开始时实例的持仓：之前各次运行里它的成交累计，基础货币，带符号。"""
    return sum((f.amount if f.side == "buy" else -f.amount) for f in record.prior_fills if f.instance == instance)


def _window(plan: InstancePlan) -> dict[str, Any]:
    """一个实例的比较窗口（报告用）。"""
    bars = 0 if plan.data is None else int(((plan.data["timestamp"] >= plan.start_ts)
                                            & (plan.data["timestamp"] <= plan.last_ts)).sum())
    return {"name": plan.name, "symbol": plan.symbol, "timeframe": plan.timeframe, "first_ts": plan.start_ts,
            "last_ts": plan.last_ts, "bars": bars}


def _run_notes(record: RunRecord) -> list[str]:
    """整体说明：没重放的东西与运行本身的状况。"""
    notes = ["risk limits are not replayed: live rejections from the journal explain the trades they blocked"]
    if record.finished_ts is None:
        notes.append(f"run {record.run_id} has no finish time (still running or killed); compared up to its last "
                     f"journaled bar")
    if any(o.bar_ts is None and o.instance for o in record.orders):
        notes.append("some orders have no decision bar (journal written before bar_ts was recorded): they were "
                     "matched by fill time")
    return notes


def instance_rows(context: _Context, bar_tolerance: int) -> list[ReplayRow]:
    """一个实例的对照行：配上的、回测多的、实盘多的。"""
    step = context.plan.step
    pairs, missed, extra = pair_fills(context.model, context.live, step, bar_tolerance)
    rows = [matched_row(context, model, live) for model, live in pairs]
    rows += [missed_row(context, fill) for fill in missed]
    rows += [extra_row(context, execution) for execution in extra]
    return rows


def matched_row(context: _Context, model: ModelFill, live: Execution) -> ReplayRow:
    """配上的一对：价差、手续费率、数量、延迟与决定 K 线的偏差，逐项判断是否有原因。"""
    sign = 1.0 if model.side == "buy" else -1.0
    row = ReplayRow(model.instance, model.side, "matched", model.decision_ts, live.order.reason,
                    model.price, live.price, model.amount, live.amount, model.fee, live.fee,
                    sign * (live.price - model.price) / model.price * 1e4, live.ts - model.bar_ts,
                    (live.decision_ts - model.decision_ts) // context.plan.step)
    _judge_offset(row, model, live)
    _judge_price(context, row, model, live)
    _judge_fee(context, row, model, live)
    if abs(live.amount / model.amount - 1.0) > AMOUNT_NOTE_FRACTION:
        row.notes.append(f"amount {live.amount:g} vs model {model.amount:g}: sizing uses the live account's equity "
                         f"and last price at the decision")
    return row


def _judge_offset(row: ReplayRow, model: ModelFill, live: Execution) -> None:
    """决定的 K 线不同：价格触发的离场与按成交时间估计的配对有原因，策略信号换了一根 K 线则没有。"""
    if row.bar_offset == 0:
        return
    when = f"{abs(row.bar_offset)} bar(s) {'later' if row.bar_offset > 0 else 'earlier'}"
    if not live.exact:
        row.notes.append(f"matched by fill time ({when}): the order has no decision bar in the journal")
    elif model.reason in PRICE_EXITS:
        row.notes.append(f"{model.reason} triggered {when}: live checks the last price, the backtest the bar's "
                         f"high/low")
    else:
        row.unexplained.append(f"the strategy decided {when} live than in the backtest")


def _judge_price(context: _Context, row: ReplayRow, model: ModelFill, live: Execution) -> None:
    """价差：在容差内，或实盘价在模型成交那根到实盘成交那根之间确实成交过（延迟期间价格在走），都有原因。"""
    diff = row.price_diff_bps
    if diff is None or abs(diff) <= context.tolerance_bps:
        return
    low, high = traded_range(context.plan, model.bar_ts, live.ts, context.slippage_bps)
    if low <= live.price <= high:
        row.notes.append(f"price {diff:+.1f} bps vs model: the market traded at {live.price:g} during the "
                         f"{row.latency_ms} ms between the model fill bar's open and the live fill")
    else:
        row.unexplained.append(f"price {diff:+.1f} bps vs model, beyond the {context.tolerance_bps:g} bps "
                               f"tolerance and outside the prices traded meanwhile ({low:g}..{high:g})")


def traded_range(plan: InstancePlan, first_bar: int, until_ts: int, slippage_bps: float) -> tuple[float, float]:
    """从 first_bar 那根到 until_ts 所在那根之间成交过的价格范围（按滑点放宽），计价货币；没有 K 线时为 (inf, -inf)。"""
    data = plan.data
    if data is None:
        return float("inf"), float("-inf")
    span = data[(data["timestamp"] >= first_bar) & (data["timestamp"] <= until_ts)]
    if not len(span):
        return float("inf"), float("-inf")
    widen = slippage_bps / 1e4
    return float(span["low"].min()) * (1 - widen), float(span["high"].max()) * (1 + widen)


def _judge_fee(context: _Context, row: ReplayRow, model: ModelFill, live: Execution) -> None:
    """手续费率（占名义金额）与回测的不同且超过容差：交易所的收费与配置的 fees 不符，记为无法解释。"""
    quote = context.plan.symbol.split("/")[1].split(":")[0]
    if live.fee_currency != quote:
        row.notes.append(f"fee paid in {live.fee_currency}, not in {quote}: not compared")
        return
    live_rate = live.fee / (live.price * live.amount)
    model_rate = model.fee / (model.price * model.amount)
    if abs(live_rate - model_rate) * 1e4 > FEE_TOLERANCE_BPS:
        row.unexplained.append(f"fee rate {live_rate:.4%} of notional live vs {model_rate:.4%} in the backtest: "
                               f"set fees.maker/taker in config.yml to what the exchange charges")


def missed_row(context: _Context, fill: ModelFill) -> ReplayRow:
    """回测有、实盘没有的一笔：依次找原因，找不到记为无法解释。"""
    row = ReplayRow(fill.instance, fill.side, "missed", fill.decision_ts, fill.reason, model_price=fill.price,
                    model_amount=fill.amount, model_fee=fill.fee)
    why = (_status_reason(context, fill.decision_ts) or _gap_reason(context, fill.decision_ts)
           or _unfilled_reason(context, fill) or _rejection_reason(context, fill.decision_ts)
           or _position_reason(context, fill.decision_ts, _model_position_before(context, fill))
           or _wick_reason(context, fill))
    if why:
        row.notes.append(why)
    else:
        row.unexplained.append("the backtest traded here but live sent no order (instance running, no rejection, "
                               "same position)")
    return row


def extra_row(context: _Context, execution: Execution) -> ReplayRow:
    """实盘有、回测没有的一笔：非策略信号、窗口边上的决定、持仓已不同都有原因；其余记为无法解释。"""
    order = execution.order
    row = ReplayRow(context.plan.name, execution.side, "extra", execution.decision_ts, order.reason,
                    live_price=execution.price, live_amount=execution.amount, live_fee=execution.fee)
    base = order.reason.split(";")[0].strip()
    why = None
    if base in NOT_SIGNAL_REASONS:
        why = f"not a strategy signal ({base}): the backtest does not model it"
    elif execution.decision_ts >= context.plan.last_ts:
        why = "decided on the run's last bar: the backtest has no later bar to fill it"
    elif execution.decision_ts < context.plan.start_ts:
        why = "decided before the feed went live: outside the compared window"
    else:
        why = _position_reason(context, execution.decision_ts,
                               _model_position_at(context, execution.decision_ts))
    if why:
        row.notes.append(why)
    else:
        row.unexplained.append(f"live traded on a strategy signal ({order.reason}) the backtest did not give "
                               f"at that bar")
    return row


def _manual_row(execution: Execution) -> ReplayRow:
    """不属于任何实例的订单（手动单）：列出，不比较。"""
    return ReplayRow(execution.order.instance or "", execution.side, "extra", execution.decision_ts,
                     execution.order.reason, live_price=execution.price, live_amount=execution.amount,
                     live_fee=execution.fee, notes=["manual order (no strategy instance): the backtest does not "
                                                    "model it"])


# ---- 找原因 ----------------------------------------------------------------------------------------------


def status_at(events: list[JournalEvent], instance: str, bar_ts: int) -> tuple[str, int | None]:
    """实例在 bar_ts 那根收盘时的状态与这个状态开始于哪根 K 线之后（None 为运行开始）；没有记录时为 running。

    状态事件的 bar_ts 是变化发生时最后收盘的那根：变化影响的是它之后的 K 线。"""
    status, since = "running", None
    for event in events:
        data = event.data
        if event.kind == "instance" and data.get("instance") == instance:
            changed = data.get("bar_ts")
            if changed is None or int(changed) < bar_ts:
                status, since = str(data.get("status", status)), changed
    return status, since


def _status_reason(context: _Context, bar_ts: int) -> str | None:
    """实例当时不在运行（暂停、停止、出错）。"""
    status, since = status_at(context.events, context.plan.name, bar_ts)
    if status == "running":
        return None
    when = "since the run started" if since is None else f"after bar {_fmt(int(since))}"
    return f"instance was {status} at that bar ({when})"


def _gap_reason(context: _Context, bar_ts: int) -> str | None:
    """那根 K 线是订阅断开后用 REST 补上的（引擎不据以交易）。"""
    for event in context.events:
        data = event.data
        if (data.get("gap_first_ts") is not None and context.plan.name in data.get("instances", [])
                and int(data["gap_first_ts"]) <= bar_ts <= int(data["gap_last_ts"])):
            return "the bar arrived through a feed gap (filled from REST; the engine does not trade on it)"
    return None


def _unfilled_reason(context: _Context, fill: ModelFill) -> str | None:
    """实盘在同一根 K 线上下了同向的单，但它没有成交（被拒、没到交易所、被撤）。"""
    for order in context.unfilled:
        if order.side == fill.side and order.bar_ts == fill.decision_ts:
            return f"the live order was {order.status}: {order.reason}"
    return None


def _rejection_reason(context: _Context, bar_ts: int) -> str | None:
    """风控或交易所规则在那根 K 线上拒绝了这个实例的下单（事件的 bar_ts）。"""
    for event in context.events:
        data = event.data
        if event.kind == "rejection" and data.get("instance") == context.plan.name and data.get("bar_ts") == bar_ts:
            return f"rejected by {data.get('rule')}: {data.get('reason')}"
    return None


def _position_reason(context: _Context, bar_ts: int, model_position: float) -> str | None:
    """实盘在那根收盘时的持仓（或有单在途）与回测不同：这是更早的差异的后果。"""
    live = live_state(context, bar_ts)
    model = _state_word(model_position)
    if live == model:
        return None
    return (f"live position was {live} at that bar, the backtest's {model}: follows an earlier difference "
            f"or an order still in flight")


def live_state(context: _Context, bar_ts: int) -> str:
    """实盘在 bar_ts 那根收盘时的持仓状态：flat / long / short，或 order in flight（更早决定的单还没成交）。"""
    close = bar_ts + context.plan.step
    if any(e.decision_ts < bar_ts and e.ts > close for e in context.live):
        return "order in flight"
    position = context.prior + sum((e.amount if e.side == "buy" else -e.amount)
                                   for e in context.live if e.ts <= close)
    return _state_word(position)


def _model_position_before(context: _Context, fill: ModelFill) -> float:
    """回测在这笔成交之前的持仓，基础货币，带符号。"""
    index = context.model.index(fill)
    return sum((f.amount if f.side == "buy" else -f.amount) for f in context.model[:index])


def _model_position_at(context: _Context, bar_ts: int) -> float:
    """回测在 bar_ts 那根收盘时的持仓，基础货币，带符号。"""
    return sum((f.amount if f.side == "buy" else -f.amount) for f in context.model if f.bar_ts <= bar_ts)


def _state_word(position: float) -> str:
    """带符号的持仓 -> flat / long / short。"""
    return "flat" if abs(position) <= FLAT_EPSILON else "long" if position > 0 else "short"


def _wick_reason(context: _Context, fill: ModelFill) -> str | None:
    """回测的止损/止盈价只被那根 K 线的影线触及（不在开盘与收盘之间）：实盘只看最新价，可能没看到那一下。"""
    if fill.reason not in PRICE_EXITS or context.plan.data is None:
        return None
    bar = context.plan.data[context.plan.data["timestamp"] == fill.bar_ts]
    if not len(bar):
        return None
    body_low, body_high = sorted((float(bar["open"].iloc[0]), float(bar["close"].iloc[0])))
    if body_low <= fill.price <= body_high:
        return None
    return (f"{fill.reason} level {fill.price:g} was touched only by the bar's wick: live checks the last price "
            f"between updates, the backtest the bar's high/low")


# ---- 合计 ------------------------------------------------------------------------------------------------


def summarize(rows: list[ReplayRow], model_fills: int, live_fills: int) -> ReplayTotals:
    """由对照行算合计。"""
    matched = [r for r in rows if r.outcome == "matched"]
    diffs = [r.price_diff_bps for r in matched if r.price_diff_bps is not None]
    latencies = [r.latency_ms for r in matched if r.latency_ms is not None]
    return ReplayTotals(
        model_fills=model_fills, live_fills=live_fills, matched=len(matched),
        missed=sum(r.outcome == "missed" for r in rows), extra=sum(r.outcome == "extra" for r in rows),
        explained=sum(r.status == "explained" for r in rows), unexplained=sum(r.status == "UNEXPLAINED" for r in rows),
        price_cost=sum((1 if r.side == "buy" else -1) * (r.live_price - r.model_price) * r.live_amount
                       for r in matched),
        mean_price_diff_bps=float(np.mean(diffs)) if diffs else 0.0,
        max_price_diff_bps=float(max((abs(d) for d in diffs), default=0.0)),
        model_fees=sum(r.model_fee or 0.0 for r in matched), live_fees=sum(r.live_fee or 0.0 for r in matched),
        mean_latency_ms=float(np.mean(latencies)) if latencies else 0.0, max_latency_ms=max(latencies, default=0))


def _fmt(ts: int) -> str:
    """UTC 毫秒 -> 'YYYY-MM-DD HH:MM UTC'（说明文字用）。"""
    return pd.Timestamp(ts, unit="ms", tz="UTC").strftime("%Y-%m-%d %H:%M UTC")


def replay_run(record: RunRecord, plans: list[InstancePlan], price_tolerance_bps: float = DEFAULT_PRICE_TOLERANCE_BPS,
               bar_tolerance: int = DEFAULT_BAR_TOLERANCE) -> ReplayReport:
    """整个对照：回测（run_model）再比较（compare_run）。plans 须已放进 K 线。"""
    for plan in plans:
        _tighten_window(plan)
    return compare_run(record, plans, run_model(record, plans), price_tolerance_bps, bar_tolerance)
