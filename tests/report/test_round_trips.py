"""回合与按周期的盈亏（tradeterm/report/round_trips.py）：手算的例子。

每个例子的期望值都在注释里手算（均价法：加仓按数量加权，平仓按均价结算；回合盈亏 = 已实现 - 全部手续费）。"""

from __future__ import annotations

import datetime as dt

import pytest

from tradeterm.journal.history import JournalFill
from tradeterm.report.round_trips import pnl_by_key, pnl_by_period, round_trips, summarize

# 2023-03-01 00:00:00 UTC，毫秒
DAY0 = int(dt.datetime(2023, 3, 1, tzinfo=dt.timezone.utc).timestamp() * 1000)
# 一天，毫秒
DAY = 86_400_000


def fill(ts, side, price, amount, fee=0.0, currency="USDT", instance="bot", symbol="BTC/USDT", reason="", run=1):
    """一笔日志库成交。"""
    return JournalFill(ts, instance, symbol, side, price, amount, fee, currency, reason, run)


def test_long_trip_with_scale_in_and_partial_exits():
    """加仓之后分两次平仓：一个回合，均价、平仓均价、盈亏与手续费都与手算相同。"""
    # 买 1 @ 100（费 0.1）、买 1 @ 110（费 0.11）-> 均价 105、数量 2
    # 卖 0.5 @ 120（费 0.06）-> 已实现 (120-105)*0.5 = 7.5；卖 1.5 @ 90（费 0.135）-> 已实现 (90-105)*1.5 = -22.5
    # 回合：已实现 -15，手续费 0.405，净 -15.405；平仓均价 (0.5*120 + 1.5*90)/2 = 97.5
    trips = round_trips([fill(DAY0, "buy", 100, 1, 0.1, reason="MACross.enter_long"),
                         fill(DAY0 + 60_000, "buy", 110, 1, 0.11),
                         fill(DAY0 + 120_000, "sell", 120, 0.5, 0.06),
                         fill(DAY0 + 180_000, "sell", 90, 1.5, 0.135, reason="stop_loss", run=2)])
    (trip,) = trips
    assert (trip.side, trip.entry_price, trip.amount, trip.exit_price) == ("long", 105, 2, 97.5)
    assert trip.pnl == pytest.approx(-15.405, abs=1e-12)
    assert trip.fees == pytest.approx(0.405, abs=1e-12)
    assert (trip.entry_reason, trip.exit_reason, trip.run_id, trip.exit_ts) == ("MACross.enter_long", "stop_loss",
                                                                                  2, DAY0 + 180_000)
    # 收益率 = -15.405 / (105 * 2)
    assert trip.return_pct == pytest.approx(-15.405 / 210, abs=1e-12)


def test_flip_closes_the_long_and_opens_a_short_with_the_rest():
    """反手成交先结束多头回合，剩下的数量在同一价格开空，手续费按数量分给两个回合。"""
    # 买 1 @ 100（费 1）；卖 3 @ 110（费 3）：先平 1（已实现 +10，分到 1/3 的费 = 1），再开空 2 @ 110（分到费 2）
    # 空头回合：买 2 @ 100（费 2）-> 已实现 (110-100)*2 = 20，费 2+2 = 4，净 16
    trips = round_trips([fill(DAY0, "buy", 100, 1, 1), fill(DAY0 + 1, "sell", 110, 3, 3),
                         fill(DAY0 + 2, "buy", 100, 2, 2)])
    long, short = trips
    assert (long.side, long.pnl, long.exit_price) == ("long", pytest.approx(8.0), 110)
    assert (short.side, short.entry_price, short.amount, short.pnl) == ("short", 110, 2, pytest.approx(16.0))
    assert not long.is_open and not short.is_open


def test_fees_in_the_base_currency_are_priced_and_unknown_ones_are_flagged():
    """基础货币的手续费按成交价折算；不知道汇率的币种（BNB）不计入并标出。"""
    # 买 1 @ 200，费 0.001 BTC = 0.2 USDT；卖 1 @ 210，费 0.21 USDT：净 10 - 0.41 = 9.59
    (trip,) = round_trips([fill(DAY0, "buy", 200, 1, 0.001, "BTC"), fill(DAY0 + 1, "sell", 210, 1, 0.21)])
    assert trip.pnl == pytest.approx(9.59, abs=1e-12) and not trip.fee_unpriced
    # BNB 付的费不知道汇率：不计入，标出
    (trip,) = round_trips([fill(DAY0, "buy", 200, 1, 0.01, "BNB"), fill(DAY0 + 1, "sell", 210, 1)])
    assert trip.pnl == pytest.approx(10.0) and trip.fee_unpriced


def test_instances_and_symbols_are_separate_positions_and_open_trips_stay_open():
    """不同实例、不同交易对各自成回合；没平的回合仍是持有。"""
    trips = round_trips([fill(DAY0, "buy", 100, 1, instance="a"), fill(DAY0 + 1, "buy", 50, 2, instance="b"),
                         fill(DAY0 + 2, "sell", 101, 1, instance="a"),
                         fill(DAY0 + 3, "buy", 10, 1, instance="a", symbol="ETH/USDT")])
    assert [(t.instance, t.symbol, t.is_open) for t in trips] == [("a", "BTC/USDT", False), ("b", "BTC/USDT", True),
                                                                   ("a", "ETH/USDT", True)]


def test_daily_weekly_monthly_buckets_include_empty_periods():
    """按日、周（周一开始）、月汇总，没有交易的周期也列出（盈亏为 0）。"""
    # 三个回合，分别在 3 月 1 日（+5）、3 月 3 日（-2）、3 月 3 日（+1）平仓（2023-03-01 是周三）
    fills = [fill(DAY0, "buy", 100, 1), fill(DAY0 + 1000, "sell", 105, 1),
             fill(DAY0 + 2 * DAY, "buy", 100, 1), fill(DAY0 + 2 * DAY + 1000, "sell", 98, 1),
             fill(DAY0 + 2 * DAY + 2000, "buy", 100, 1), fill(DAY0 + 2 * DAY + 3000, "sell", 101, 1)]
    trips = round_trips(fills)
    daily = pnl_by_period(trips, "day", 4)
    assert [(r["start"], r["trades"], r["pnl"]) for r in daily] == [
        ("2023-02-28", 0, 0.0), ("2023-03-01", 1, 5.0), ("2023-03-02", 0, 0.0), ("2023-03-03", 2, -1.0)]
    weekly = pnl_by_period(trips, "week", 2)
    assert [(r["start"], r["trades"], r["pnl"]) for r in weekly] == [("2023-02-20", 0, 0.0), ("2023-02-27", 3, 4.0)]
    monthly = pnl_by_period(trips, "month", 3)
    assert [r["start"] for r in monthly] == ["2023-01-01", "2023-02-01", "2023-03-01"]
    assert monthly[-1]["pnl"] == 4.0 and monthly[-1]["wins"] == 2
    assert pnl_by_period([], "day", 3) == []


def test_summary_and_breakdown_by_instance():
    """统计（笔数、胜率、最好最差、盈亏比）与按实例的汇总。"""
    trips = round_trips([fill(DAY0, "buy", 100, 1, instance="a"), fill(DAY0 + 1, "sell", 110, 1, instance="a"),
                         fill(DAY0 + 2, "buy", 100, 1, instance="a"), fill(DAY0 + 3, "sell", 96, 1, instance="a"),
                         fill(DAY0 + 4, "buy", 10, 1, instance="b"), fill(DAY0 + 5, "sell", 11, 1, instance="b")])
    stats = summarize(trips)
    # 三笔：+10、-4、+1；胜率 2/3；盈亏比 11/4
    assert (stats["trades"], stats["wins"], stats["pnl"], stats["best"], stats["worst"]) == (3, 2, 7.0, 10.0, -4.0)
    assert stats["win_rate"] == pytest.approx(2 / 3) and stats["profit_factor"] == pytest.approx(11 / 4)
    rows = pnl_by_key(trips, "instance")
    assert [(r["instance"], r["trades"], r["pnl"]) for r in rows] == [("a", 2, 6.0), ("b", 1, 1.0)]
    assert summarize([])["win_rate"] is None
