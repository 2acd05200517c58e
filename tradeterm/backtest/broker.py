"""模拟经纪商：一个共享账户（现金）+ 每个策略实例一本账（持仓、待成交订单、止损止盈）。

回测的逐事件循环按 K 线调用它；之后的模拟盘/实时引擎可以原样复用（行情换成实时 K 线即可）。
成交价全部来自 `fills`（与快速路径、沙盒交易所同一份规则），现金变化全部来自 `accounting`。

每根 K 线的处理顺序（文档化的约定，快速路径完全相同）：
1. 开盘：上一根收盘时产生的市价意图在本根开盘成交，先平后开（按信号顺序）。
   “信号 -> 仓位 -> 风控 -> 订单”这一步在此刻执行：按当前持仓决定是否下单（已持多仓时的开多被忽略，
   空仓时的平多被忽略，只有空仓时才开新仓），用成交价算数量（仓位函数），按可用现金封顶、按步长取整，
   检查交易所规则与风控挂钩，然后成交。
2. 挂着的限价单：本根穿过限价则成交（同样经过仓位、交易所规则与风控；价格带以挂单那根的收盘价为参照）。
3. 持仓的止损 / 移动止损 / 止盈：用本根的 high/low 检查（含刚在本根开盘建立的持仓），止损优先。
4. 收盘：移动止损的最优价用本根 high/low 更新；仓位计算器看到这根 K 线（volatility_target 的 ATR）；
   策略看到这根收盘的 K 线，产生的信号留到下一根开盘。
每笔交易平仓时通知该实例的仓位计算器（kelly 的交易历史）。
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

from tradeterm.backtest.accounting import close_cash_delta, open_cash_delta, position_value
from tradeterm.execution.fills import (
    REJECT_REASONS, MarketRules, affordable_amount, limit_fill_price, market_fill_price, order_reject_reason,
    round_amount, round_price, stop_fill_price, take_profit_fill_price, tighter_stop, trailing_stop_level,
)
from tradeterm.backtest.results import (
    EXIT_OPEN, EXIT_SIGNAL, EXIT_STOP_LOSS, EXIT_TAKE_PROFIT, EXIT_TRAILING_STOP, Rejection, Trade,
)
from tradeterm.sizing.sizers import ALL_IN, PositionSizer, SizingFunction, fresh_sizer, trade_return
from tradeterm.models import Fill, OrderType, Side, SignalIntent, TradeSignal


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """费率与滑点。"""

    maker: float = 0.001        # 挂单费率，小数（限价单、止盈）
    taker: float = 0.001        # 吃单费率，小数（市价单、止损）
    slippage_bps: float = 0.0   # 市价成交的不利滑点，基点


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """交给风控挂钩检查的一张待成交订单（成交那一刻的账户状态一并给出）。"""

    instance: str    # 策略实例名
    symbol: str      # 交易对
    side: int        # +1 买、-1 卖
    amount: float    # 数量，基础货币（已取整）
    price: float     # 预计成交价，计价货币
    equity: float    # 当前账户权益，计价货币
    cash: float      # 当前可用现金，计价货币
    opening: bool    # 是否开仓单（平仓单通常应放行）
    ts: int = 0      # 成交所在 K 线的开盘时间，UTC 毫秒
    fee_rate: float = 0.0  # 这张单的费率，小数（taker 或 maker）
    limit_price: float | None = None      # 限价单的限价，计价货币；市价单为 None
    reference_price: float | None = None  # 限价单挂出时（信号那根收盘）的最新价，计价货币；价格带以它为参照
    # 成交前各交易对带符号的持仓名义金额（多正空负，按标记价），计价货币
    positions: dict[str, float] = field(default_factory=dict)


# 风控挂钩：返回 (规则名, 英文原因) 表示拒绝，None 表示放行
RiskCheck = Callable[[OrderRequest], "tuple[str, str] | None"]
# 交易所规则拒绝（最小数量/名义金额、数量为 0）在拒绝记录里的规则名（与交易引擎相同）
EXCHANGE_RULES = "exchange_rules"
# 仓位计算有意给出 0（kelly 没有优势、ATR 未就绪）时拒绝记录里的规则名
SIZING_RULE = "sizing"
# 其他实例持仓的标记价：(账本, 当前时间 UTC 毫秒) -> 价格（计价货币）
MarkFunction = Callable[["Book", int], float]
# 成交回报：(账本, 成交) -> None，引擎用它通知策略的 on_order_fill
FillListener = Callable[["Book", Fill], None]


class Book:
    """一个策略实例在共享账户里的账本：持仓、待成交意图、挂单、止损止盈。"""

    # 固定属性集合（省内存、访问快）；各属性的含义与单位见 __init__
    __slots__ = ("name", "symbol", "quote", "allow_short", "rules", "sizer", "trailing_stop", "side", "amount",
                 "entry_price", "entry_fee", "entry_ts", "entry_index", "stop", "take_profit", "best_price",
                 "pending", "resting", "limit_reference", "trades", "rejections")

    def __init__(self, name: str, symbol: str, *, allow_short: bool, rules: MarketRules,
                 sizer: SizingFunction | PositionSizer = ALL_IN, trailing_stop: float = 0.0):
        """创建空仓的账本；sizer 取一份状态为空的副本（fresh_sizer），账本之间、多次回测之间互不影响。"""
        # 策略实例名
        self.name = name
        # 交易对，如 BTC/USDT
        self.symbol = symbol
        # 计价货币（手续费币种），如 USDT
        self.quote = symbol.split("/")[1].split(":")[0]
        # 是否允许做空（合约为 True，现货为 False）
        self.allow_short = allow_short
        # 交易所下单规则（价格档位、数量步长、最小数量、最小名义金额）
        self.rules = rules
        # 仓位计算器（本账本独有）：amount(权益, 成交价, 费率) -> 数量（基础货币），外加 K 线与平仓挂钩
        self.sizer: PositionSizer = fresh_sizer(sizer)
        # 移动止损回撤比例，小数；0 表示不用
        self.trailing_stop = trailing_stop
        # 持仓方向：+1 多、-1 空、0 空仓
        self.side = 0
        # 持仓数量，基础货币
        self.amount = 0.0
        # 开仓价，计价货币
        self.entry_price = 0.0
        # 开仓手续费，计价货币
        self.entry_fee = 0.0
        # 开仓时间，UTC 毫秒
        self.entry_ts = 0
        # 开仓所在 K 线行号
        self.entry_index = 0
        # 固定止损价，计价货币；NaN 表示没有
        self.stop = math.nan
        # 止盈价，计价货币；NaN 表示没有
        self.take_profit = math.nan
        # 持仓以来的最优价（多仓最高、空仓最低），计价货币；移动止损用
        self.best_price = 0.0
        # 等待下一根开盘成交的市价意图
        self.pending: list[TradeSignal] = []
        # 挂着的限价意图（直到成交或被同一实例的新信号替换）
        self.resting: list[TradeSignal] = []
        # 限价意图挂出时（信号那根收盘）的最新价，计价货币；风控的价格带以它为参照
        self.limit_reference = math.nan
        # 已平仓的交易
        self.trades: list[Trade] = []
        # 被拒绝的下单
        self.rejections: list[Rejection] = []

    @property
    def has_protection(self) -> bool:
        """持仓是否挂着止损、止盈或移动止损（有则每根 K 线都要检查）。"""
        return self.side != 0 and (self.trailing_stop > 0 or not math.isnan(self.stop)
                                   or not math.isnan(self.take_profit))


class SimulatedBroker:
    """模拟经纪商：共享现金账户，按 fills 的规则撮合每个账本的订单。"""

    def __init__(self, cash: float, fees: FeeSchedule, *, risk_check: RiskCheck | None = None,
                 mark: MarkFunction | None = None, on_fill: FillListener | None = None):
        """cash 为初始现金（计价货币）；mark 给出其他实例持仓的标记价（算权益用），缺省用开仓价。"""
        # 可用现金，计价货币
        self.cash = cash
        # 费率与滑点
        self.fees = fees
        # 风控挂钩；None 表示不检查
        self.risk_check = risk_check
        # 标记价函数：其他实例持仓按它估值
        self.mark = mark or (lambda book, ts: book.entry_price)
        # 成交回报监听者（通知策略）
        self.on_fill = on_fill
        # 全部账本，按加入顺序
        self.books: list[Book] = []

    def add_book(self, book: Book) -> Book:
        """加入一个策略实例的账本。"""
        self.books.append(book)
        return book

    # ---- 信号进入 -------------------------------------------------------------------------

    def submit(self, book: Book, signals: list[TradeSignal], last_price: float = math.nan) -> None:
        """接收策略在收盘时给出的信号：市价的等下一根开盘，限价的挂起（替换该实例之前的挂单）。

        last_price 为信号那根的收盘价（计价货币），记作限价单的价格带参照。"""
        for signal in signals:
            if signal.intent is SignalIntent.TARGET:
                raise NotImplementedError("TradeSignal intent 'target' is not supported by the backtester yet")
            if not book.allow_short and signal.intent in (SignalIntent.OPEN_SHORT, SignalIntent.CLOSE_SHORT):
                continue  # 现货只做多：做空意图直接丢弃
            if signal.order_type is OrderType.LIMIT:
                book.resting = [signal]
                book.limit_reference = last_price
            else:
                book.pending.append(signal)

    def has_work(self, book: Book) -> bool:
        """下一根 K 线上这个账本是否可能发生任何事（待成交、挂单、止损止盈）；否则引擎可以跳过这些 K 线。"""
        return bool(book.pending or book.resting or book.has_protection)

    # ---- 每根 K 线 -----------------------------------------------------------------------

    def on_bar(self, book: Book, index: int, ts: int, bar_open: float, high: float, low: float) -> None:
        """处理这个账本在一根 K 线上的成交：开盘的市价意图、限价挂单、止损止盈（顺序见模块说明）。"""
        if book.pending:
            pending, book.pending = book.pending, []
            for signal in pending:
                price = market_fill_price(bar_open, signal.side.sign, self.fees.slippage_bps)
                self._resolve(book, signal, index, ts, price, self.fees.taker)
        if book.resting:
            self._match_resting(book, index, ts, bar_open, high, low)
        if book.side != 0:
            self._check_exits(book, index, ts, bar_open, high, low)

    def on_close(self, book: Book, high: float, low: float, close: float = math.nan) -> None:
        """收盘：用本根的 high/low 更新移动止损的最优价；需要 K 线的仓位计算器（ATR）看到这根。"""
        if book.side > 0:
            book.best_price = max(book.best_price, high)
        elif book.side < 0:
            book.best_price = min(book.best_price, low)
        if book.sizer.needs_bars:
            book.sizer.on_bar(high, low, close)

    def _match_resting(self, book: Book, index: int, ts: int, bar_open: float, high: float, low: float) -> None:
        """挂着的限价意图：本根穿过限价则按限价（或跳空时的开盘价）成交，收 maker 费。"""
        for signal in list(book.resting):
            limit = round_price(signal.limit_price, book.rules.price_tick)
            price = limit_fill_price(bar_open, high, low, signal.side.sign, limit)
            if not math.isnan(price):
                book.resting.remove(signal)
                self._resolve(book, signal, index, ts, price, self.fees.maker, limit)

    def _check_exits(self, book: Book, index: int, ts: int, bar_open: float, high: float, low: float) -> None:
        """止损（含移动止损）优先，其次止盈；触发则按 fills 的价格平仓。"""
        stop, reason = book.stop, EXIT_STOP_LOSS
        if book.trailing_stop > 0:
            trail = trailing_stop_level(book.best_price, book.side, book.trailing_stop)
            tighter = tighter_stop(book.stop, trail, book.side)
            if tighter != book.stop:
                stop, reason = tighter, EXIT_TRAILING_STOP
        if not math.isnan(stop):
            price = stop_fill_price(bar_open, high, low, -book.side, stop, self.fees.slippage_bps)
            if not math.isnan(price):
                self._close(book, index, ts, price, self.fees.taker, reason, check_rules=False)
                return
        if not math.isnan(book.take_profit):
            price = take_profit_fill_price(bar_open, high, low, -book.side, book.take_profit)
            if not math.isnan(price):
                self._close(book, index, ts, price, self.fees.maker, EXIT_TAKE_PROFIT, check_rules=False)

    # ---- 信号 -> 仓位 -> 风控 -> 订单 -------------------------------------------------------

    def _resolve(self, book: Book, signal: TradeSignal, index: int, ts: int, price: float, fee_rate: float,
                 limit: float | None = None) -> None:
        """按当前持仓决定一个意图是否下单：平仓只在持有对应方向时、开仓只在空仓时。limit 为限价单的限价。"""
        intent = signal.intent
        if intent is SignalIntent.CLOSE_LONG and book.side > 0 or intent is SignalIntent.CLOSE_SHORT and book.side < 0:
            self._close(book, index, ts, price, fee_rate, EXIT_SIGNAL, check_rules=True, limit=limit)
        elif book.side == 0 and intent in (SignalIntent.OPEN_LONG, SignalIntent.OPEN_SHORT):
            self._open(book, signal, index, ts, price, fee_rate, limit)

    def equity(self, ts: int, exclude: Book | None = None) -> float:
        """账户权益（计价货币）：现金 + 各持仓按标记价的价值（exclude 的账本不计，它此刻是空仓）。"""
        total = self.cash
        for other in self.books:
            if other is not exclude and other.side != 0:
                total += position_value(other.side, other.amount, other.entry_price, self.mark(other, ts))
        return total

    def _open(self, book: Book, signal: TradeSignal, index: int, ts: int, price: float, fee_rate: float,
              limit: float | None = None) -> None:
        """开仓：仓位函数算数量，按现金封顶并取整，过交易所规则与风控，然后扣现金、记持仓。"""
        side = signal.side.sign
        rules = book.rules
        equity = self.equity(ts, exclude=book)
        raw = book.sizer.amount(equity, price, fee_rate)
        if not raw > 0.0:
            why = book.sizer.zero_reason()
            if why:
                # 仓位计算有意给出 0（kelly 没有优势、ATR 未就绪）：记下真实原因，而不是笼统的“数量为 0”
                book.rejections.append(Rejection(book.name, ts, side, 0.0, price, why, SIZING_RULE))
                return
        wanted = round_amount(raw, rules.amount_step)
        amount = min(wanted, affordable_amount(self.cash, price, fee_rate, rules.amount_step))
        if not self._accepted(book, ts, side, amount, price, equity, opening=True, fee_rate=fee_rate, limit=limit):
            return
        cost, fee = open_cash_delta(amount, price, fee_rate)
        self.cash -= cost
        book.side, book.amount, book.entry_price, book.entry_fee = side, amount, price, fee
        book.entry_ts, book.entry_index, book.best_price = ts, index, price
        book.stop = _protective_price(signal.stop_loss, rules.price_tick)
        book.take_profit = _protective_price(signal.take_profit, rules.price_tick)
        self._notify(book, side, price, amount, fee, ts, fee_rate)

    def _close(self, book: Book, index: int, ts: int, price: float, fee_rate: float, reason: int,
               *, check_rules: bool, limit: float | None = None) -> None:
        """平掉整个持仓。止损止盈单在开仓时已挂出，不再按最小名义金额检查（check_rules=False）。"""
        side = -book.side
        if check_rules and not self._accepted(book, ts, side, book.amount, price, math.nan, opening=False,
                                              fee_rate=fee_rate, limit=limit):
            return
        cash_in, fee, gross = close_cash_delta(book.side, book.amount, book.entry_price, price, fee_rate)
        self.cash += cash_in
        trade = Trade(
            instance=book.name, symbol=book.symbol, side=book.side, entry_index=book.entry_index, exit_index=index,
            entry_ts=book.entry_ts, exit_ts=ts, entry_price=book.entry_price, exit_price=price, amount=book.amount,
            entry_fee=book.entry_fee, exit_fee=fee, pnl=gross - book.entry_fee - fee, exit_reason=reason,
        )
        book.trades.append(trade)
        book.sizer.on_trade_closed(trade.pnl, trade_return(trade.pnl, trade.entry_price, trade.amount))
        amount = book.amount
        book.side, book.amount, book.entry_price, book.entry_fee = 0, 0.0, 0.0, 0.0
        book.stop = book.take_profit = math.nan
        self._notify(book, side, price, amount, fee, ts, fee_rate)

    def _accepted(self, book: Book, ts: int, side: int, amount: float, price: float, equity: float,
                  *, opening: bool, fee_rate: float, limit: float | None) -> bool:
        """交易所规则（最小数量/名义金额）与风控挂钩；拒绝时记录规则与原因并返回 False。"""
        rules = book.rules
        code = order_reject_reason(amount, price, rules.min_amount, rules.min_notional)
        refusal = (EXCHANGE_RULES, REJECT_REASONS[code]) if code else None
        if refusal is None and self.risk_check is not None:
            # 平仓单调用时没有预先算权益（多数运行没有风控挂钩，省去每次平仓的估值）
            equity = self.equity(ts) if math.isnan(equity) else equity
            reference = book.limit_reference if limit is not None else None
            request = OrderRequest(book.name, book.symbol, side, amount, price, equity, self.cash, opening, ts,
                                   fee_rate, limit, reference, self.positions(ts))
            refusal = self.risk_check(request)
        if refusal is None:
            return True
        rule, reason = refusal
        book.rejections.append(Rejection(book.name, ts, side, amount, price, reason, rule))
        return False

    def positions(self, ts: int) -> dict[str, float]:
        """各交易对带符号的持仓名义金额（多正空负，按标记价），计价货币；同一交易对的多个实例相加。"""
        out: dict[str, float] = {}
        for book in self.books:
            if book.side != 0:
                out[book.symbol] = out.get(book.symbol, 0.0) + book.side * book.amount * self.mark(book, ts)
        return out

    def _notify(self, book: Book, side: int, price: float, amount: float, fee: float, ts: int,
                fee_rate: float) -> None:
        """把成交作为 Fill 通知监听者（策略的 on_order_fill）。"""
        if self.on_fill is None:
            return
        self.on_fill(book, Fill(f"bt{ts}{'b' if side > 0 else 's'}", book.symbol, Side.BUY if side > 0 else Side.SELL,
                                price, amount, fee, book.quote, ts, "", fee_rate != self.fees.taker, book.name))

    def open_trade(self, book: Book, index: int, mark_price: float) -> Trade | None:
        """回测结束时仍持有的仓位：按标记价（最后收盘价）估值，作为未平仓交易报告（不平仓、不收平仓费）。"""
        if book.side == 0:
            return None
        return marked_open_trade(book.name, book.symbol, book.side, book.entry_index, index, book.entry_ts,
                                 book.entry_price, mark_price, book.amount, book.entry_fee)


def marked_open_trade(instance: str, symbol: str, side: int, entry_index: int, last_index: int, entry_ts: int,
                      entry_price: float, mark_price: float, amount: float, entry_fee: float) -> Trade:
    """构造一笔按标记价估值的未平仓交易；净盈亏 = 浮动盈亏 - 开仓手续费（两条路径共用）。"""
    gross = side * (mark_price - entry_price) * amount
    return Trade(instance=instance, symbol=symbol, side=side, entry_index=entry_index, exit_index=last_index,
                 entry_ts=entry_ts, exit_ts=None, entry_price=entry_price, exit_price=mark_price, amount=amount,
                 entry_fee=entry_fee, exit_fee=0.0, pnl=gross - entry_fee, exit_reason=EXIT_OPEN)


def _protective_price(value: float | None, tick: float) -> float:
    """止损/止盈价取整到价格档位；None 表示没有，返回 NaN。"""
    return math.nan if value is None else round_price(value, tick)
