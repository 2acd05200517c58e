"""模拟盘/实盘的已平仓交易（一进一出的“回合”）与按日/周/月、按实例/交易对的已实现盈亏。

纯函数、无 I/O：输入是日志库里按时间排列的成交（tradeterm/journal/history.py 读出），输出是交易与汇总。

回合的规则与引擎的记账完全相同（都用 `Position.apply`，均价法）：一个 (实例, 交易对) 的持仓从 0 变成非 0 时开始一个回合，
回到 0 时结束；一笔反手成交先结束旧回合（按平掉的数量），剩下的数量在同一价格开始新回合。回合的盈亏 = 已实现盈亏 -
回合内全部手续费（开仓、加仓、减仓、平仓的），所以一个实例全部已平仓回合的盈亏之和 = 引擎 positions 表里的
realized_pnl - fees（减去未平仓回合已付的手续费）。手续费以基础货币收取时按成交价折成计价货币；其他币种（如 BNB）
不知道汇率，记为 0 并在 fee_unpriced 里标出。
按时间汇总用的是平仓成交的交易所时间（UTC），与 freqtrade 的 /daily 相同；沙盒回放历史行情时，日期是行情的日期。
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any, Iterable

from tradeterm.journal.history import JournalFill
from tradeterm.models.enums import Side
from tradeterm.models.fill import Fill
from tradeterm.models.position import Position

# 可用的汇总周期
PERIODS = ("day", "week", "month")
# 持仓数量小于这个值（基础货币）即视为 0（浮点残差；与引擎把残差归零的做法一致，引擎用交易所的数量步长）
FLAT_EPSILON = 1e-12


@dataclass
class RoundTrip:
    """一个回合（已平仓或仍持有）。价格为计价货币，数量为基础货币，时间为 UTC 毫秒（交易所时间）。"""

    instance: str                 # 策略实例名；手动订单为空串
    symbol: str                   # 交易对
    side: str                     # long / short
    entry_ts: int                 # 第一笔开仓成交的时间
    entry_price: float = 0.0      # 开仓均价（加仓后的均价）
    amount: float = 0.0           # 回合里持有过的最大数量
    exit_ts: int | None = None    # 最后一笔平仓成交的时间；仍持有为 None
    exit_price: float = 0.0       # 平仓成交的数量加权均价；仍持有为 0
    closed: float = 0.0           # 已平掉的数量
    realized: float = 0.0         # 已实现盈亏（未扣手续费）
    fees: float = 0.0             # 回合内全部手续费，计价货币
    fee_unpriced: bool = False    # 有以其他币种收取、无法折算的手续费（没有计入 fees）
    entry_reason: str = ""        # 开仓订单的原因标签
    exit_reason: str = ""         # 最后一笔平仓订单的原因标签
    run_id: int = 0               # 平仓（或仍持有时开仓）所在的运行
    exit_notional: float = field(default=0.0, repr=False)  # 平仓成交额之和，计价货币（求平仓均价用）

    @property
    def pnl(self) -> float:
        """净盈亏，计价货币：已实现盈亏 - 手续费。"""
        return self.realized - self.fees

    @property
    def is_open(self) -> bool:
        """回合是否仍持有。"""
        return self.exit_ts is None

    @property
    def return_pct(self) -> float:
        """回合收益率（小数）：净盈亏 / 开仓成交额（按最大数量）；开仓额为 0 时为 0。"""
        basis = self.entry_price * self.amount
        return self.pnl / basis if basis > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """可 JSON 序列化的字典（控制套接字、ctl trades --json 用）。"""
        return {"instance": self.instance, "symbol": self.symbol, "side": self.side, "entry_ts": self.entry_ts,
                "exit_ts": self.exit_ts, "entry_price": self.entry_price, "exit_price": self.exit_price,
                "amount": self.amount, "fees": self.fees, "pnl": self.pnl, "return_pct": self.return_pct,
                "entry_reason": self.entry_reason, "exit_reason": self.exit_reason, "run_id": self.run_id,
                "fee_unpriced": self.fee_unpriced}


def quote_fee(fill: JournalFill) -> float | None:
    """一笔成交的手续费折成计价货币：计价货币原样，基础货币按成交价折算，其他币种返回 None（不知道汇率）。"""
    base, quote = fill.symbol.split("/")[0], fill.symbol.split("/")[1].split(":")[0]
    if fill.fee == 0 or fill.fee_currency == quote:
        return fill.fee
    if fill.fee_currency == base:
        return fill.fee * fill.price
    return None


def round_trips(fills: Iterable[JournalFill]) -> list[RoundTrip]:
    """按时间排列的成交 -> 回合（已平仓的与仍持有的），按开仓时间排列。"""
    positions: dict[tuple[str, str], Position] = {}
    current: dict[tuple[str, str], RoundTrip] = {}
    trips: list[RoundTrip] = []
    for fill in fills:
        key = (fill.instance, fill.symbol)
        position = positions.setdefault(key, Position(fill.symbol))
        before = position.amount
        # 手续费由这里折算后计入回合；Position 自己只累计计价货币的手续费，这里不用它
        realized = position.apply(Fill("", fill.symbol, Side(fill.side), fill.price, fill.amount, 0.0, "", fill.ts))
        if abs(position.amount) < FLAT_EPSILON:
            position.amount, position.entry_price = 0.0, 0.0
        fee = quote_fee(fill)
        sign = 1.0 if fill.side == "buy" else -1.0
        trip = current.get(key)
        if trip is None:  # 从空仓开仓
            trip = _open_trip(fill, position, fee)
            current[key] = trip
            trips.append(trip)
            continue
        closing = before != 0 and (before > 0) != (sign > 0)
        if not closing:  # 加仓
            trip.entry_price = position.entry_price
            trip.amount = max(trip.amount, abs(position.amount))
            _add_fee(trip, fee)
            continue
        closed = min(fill.amount, abs(before))
        share = closed / fill.amount if fill.amount > 0 else 1.0
        trip.realized += realized
        trip.closed += closed
        trip.exit_notional += closed * fill.price
        trip.exit_reason, trip.run_id = fill.reason, fill.run_id
        _add_fee(trip, None if fee is None else fee * share)
        if position.amount == 0 or (position.amount > 0) != (before > 0):
            trip.exit_ts = fill.ts
            trip.exit_price = trip.exit_notional / trip.closed if trip.closed > 0 else fill.price
            del current[key]
            if position.amount != 0:  # 反手：剩下的数量开始新回合（分到剩余的手续费）
                flipped = _open_trip(fill, position, None if fee is None else fee * (1.0 - share))
                current[key] = flipped
                trips.append(flipped)
    trips.sort(key=lambda t: t.entry_ts)
    return trips


def _open_trip(fill: JournalFill, position: Position, fee: float | None) -> RoundTrip:
    """按开仓成交开始一个回合。"""
    trip = RoundTrip(fill.instance, fill.symbol, "long" if position.amount > 0 else "short", fill.ts,
                     entry_price=position.entry_price, amount=abs(position.amount), entry_reason=fill.reason,
                     run_id=fill.run_id)
    _add_fee(trip, fee)
    return trip


def _add_fee(trip: RoundTrip, fee: float | None) -> None:
    """把一笔（已折算的）手续费计入回合；折算不了的只做标记。"""
    if fee is None:
        trip.fee_unpriced = True
    else:
        trip.fees += fee


def period_start(ts: int, period: str) -> dt.date:
    """UTC 毫秒时刻所在的日、周（周一开始，ISO 周）或月的第一天。"""
    day = dt.datetime.fromtimestamp(ts / 1000, dt.timezone.utc).date()
    if period == "day":
        return day
    if period == "week":
        return day - dt.timedelta(days=day.weekday())
    return day.replace(day=1)


def _previous(start: dt.date, period: str) -> dt.date:
    """前一个日、周或月的第一天。"""
    if period == "day":
        return start - dt.timedelta(days=1)
    if period == "week":
        return start - dt.timedelta(days=7)
    return (start - dt.timedelta(days=1)).replace(day=1)


def summarize(trips: list[RoundTrip]) -> dict[str, Any]:
    """一组已平仓回合的统计：笔数、胜率、净盈亏合计、手续费、最好与最差、平均盈亏、盈亏比（profit factor）。"""
    pnls = [t.pnl for t in trips]
    wins = [p for p in pnls if p > 0]
    losses = [p for p in pnls if p < 0]
    gross_loss = -sum(losses)
    return {"trades": len(pnls), "wins": len(wins), "losses": len(losses),
            "win_rate": len(wins) / len(pnls) if pnls else None,
            "pnl": math.fsum(pnls), "fees": math.fsum(t.fees for t in trips),
            "best": max(pnls) if pnls else None, "worst": min(pnls) if pnls else None,
            "average": math.fsum(pnls) / len(pnls) if pnls else None,
            "profit_factor": sum(wins) / gross_loss if gross_loss > 0 else None}


def pnl_by_period(trips: list[RoundTrip], period: str, count: int, *, until_ts: int | None = None
                  ) -> list[dict[str, Any]]:
    """最近 count 个日/周/月（含没有交易的）的已实现盈亏，按时间先后：[{start, trades, wins, pnl, fees}]。

    最后一个周期是 until_ts（缺省为最后一笔平仓）所在的周期；只算已平仓的回合（按平仓时间归属）。"""
    if period not in PERIODS:
        raise ValueError(f"period {period!r} is not one of {', '.join(PERIODS)}")
    closed = [t for t in trips if not t.is_open]
    end = until_ts if until_ts is not None else max((t.exit_ts for t in closed), default=None)
    if end is None:
        return []
    starts = [period_start(end, period)]
    while len(starts) < count:
        starts.append(_previous(starts[-1], period))
    starts.reverse()
    buckets: dict[dt.date, list[RoundTrip]] = {s: [] for s in starts}
    for trip in closed:
        start = period_start(trip.exit_ts, period)
        if start in buckets:
            buckets[start].append(trip)
    rows = []
    for start, members in buckets.items():
        stats = summarize(members)
        rows.append({"start": start.isoformat(), "trades": stats["trades"], "wins": stats["wins"],
                     "pnl": stats["pnl"], "fees": stats["fees"]})
    return rows


def pnl_by_key(trips: list[RoundTrip], key: str) -> list[dict[str, Any]]:
    """按实例（key="instance"）或交易对（key="symbol"）汇总已平仓回合，净盈亏从高到低。"""
    groups: dict[str, list[RoundTrip]] = {}
    for trip in trips:
        if not trip.is_open:
            groups.setdefault(getattr(trip, key), []).append(trip)
    rows = [{key: name, **summarize(members)} for name, members in groups.items()]
    rows.sort(key=lambda r: -r["pnl"])
    return rows
