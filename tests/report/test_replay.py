"""replay-check 的比较规则（tradeterm/report/replay.py）：手工构造的运行记录与回测成交，每种分类一个用例。

K 线为 1 分钟，价格 100 附近；运行从第 10 根（T0 + 10 分钟）开始实时，到第 29 根结束。
回测成交用 ModelFill 直接给出（信号在 K 线 t 收盘，t+1 开盘成交），实盘一侧是 LiveOrder/LiveFill 与事件。
"""

from __future__ import annotations

import pandas as pd
import pytest

from tests.engine.plugins.test_bots import Flip
from tradeterm.journal.reader import JournalEvent, LiveFill, LiveOrder, RunRecord
from tradeterm.report.replay import (
    InstancePlan, ModelFill, compare_run, gated_strategy, run_model, status_at,
)
from tradeterm.models import MarketType

# 一分钟，毫秒
MINUTE = 60_000
# 第 0 根 K 线的开盘时间，UTC 毫秒（2026-01-01 00:00 UTC，能被 4 分钟整除）
T0 = 1_767_225_600_000
# 费率，小数（回测与“交易所”相同）
FEE = 0.001


def bar(n: int) -> int:
    """第 n 根 K 线的开盘时间。"""
    return T0 + n * MINUTE


def bars(count: int = 40) -> pd.DataFrame:
    """平稳的 K 线：开 100、高 101、低 99、收 100.5（单根内的可成交范围 99..101）。"""
    return pd.DataFrame({"timestamp": [bar(n) for n in range(count)], "open": 100.0, "high": 101.0, "low": 99.0,
                         "close": 100.5, "volume": 1.0})


def plan(data: pd.DataFrame | None = None) -> InstancePlan:
    """实例 flip 的计划：比较窗口为第 10..29 根。"""
    return InstancePlan("flip", "BTC/USDT", "1m", MINUTE, Flip, {"period": 4}, {"method": "fixed_fraction",
                        "fraction": 0.1}, 300, bar(10), bar(29), bars() if data is None else data)


def record(orders=(), fills=(), events=(), prior=()) -> RunRecord:
    """一次 paper 运行的记录。"""
    settings = {"exchange": "test", "market_type": "spot", "fees": {"maker": FEE, "taker": FEE, "slippage_bps": 0},
                "sizing": {"method": "fixed_fraction", "fraction": 0.1}, "instances": []}
    return RunRecord(1, "paper", 0, 1, bar(10), bar(29), "1m", 10_000.0, settings, list(orders), list(fills),
                     list(prior), list(events))


def model_fill(decided: int, side: str = "buy", price: float = 100.0, reason: str = "signal",
               amount: float = 10.0) -> ModelFill:
    """回测在第 decided 根收盘决定、下一根开盘成交的一笔。"""
    return ModelFill("flip", side, bar(decided + 1), bar(decided), price, amount, price * amount * FEE, reason,
                     side == "buy")


def live(number: int, decided: int | None, side: str = "buy", price: float = 100.0, reason: str = "Flip.enter_long",
         fill_at: int | None = None, fee_rate: float = FEE, amount: float = 10.0, instance: str | None = "flip",
         ) -> tuple[LiveOrder, LiveFill]:
    """实盘的一张已成交订单：第 decided 根决定，第 fill_at 根（缺省为下一根）开盘后 5 秒成交。"""
    at = bar((fill_at if fill_at is not None else (decided or 0) + 1)) + 5_000
    order = LiveOrder(f"o{number}", instance, "BTC/USDT", side, amount, "filled", amount, reason, 0,
                      None if decided is None else bar(decided))
    return order, LiveFill(f"o{number}", instance, side, price, amount, price * amount * fee_rate, "USDT", at)


def compare(model: list[ModelFill], lives=(), unfilled=(), events=(), prior=()):
    """比较并返回报告。"""
    orders = [o for o, _ in lives] + list(unfilled)
    return compare_run(record(orders, [f for _, f in lives], events, prior), [plan()], {"flip": model},
                       price_tolerance_bps=50)


def only_row(report):
    """报告里唯一的一行。"""
    assert len(report.rows) == 1, report.rows
    return report.rows[0]


def test_same_bar_same_price_is_a_plain_match():
    """同一根决定、同价、同费率、同数量：match，没有任何说明；延迟 = 成交时间 - 模型成交 K 线开盘 = 5 秒。"""
    row = only_row(compare([model_fill(12)], [live(1, 12)]))
    assert (row.outcome, row.status, row.latency_ms, row.price_diff_bps) == ("matched", "match", 5_000, 0.0)


def test_price_beyond_tolerance_but_traded_meanwhile_is_explained():
    """实盘买在 100.9：比模型 100 差 90 bps（超过 50），但这根 K 线的高点是 101，价格确实成交过 -> explained。"""
    row = only_row(compare([model_fill(12)], [live(1, 12, price=100.9)]))
    assert row.price_diff_bps == pytest.approx(90.0)
    assert row.status == "explained" and "traded at 100.9" in row.notes[0]


def test_price_outside_everything_traded_is_unexplained():
    """实盘买在 102：比模型差 200 bps，且高于延迟期间的最高价 101 -> UNEXPLAINED。"""
    row = only_row(compare([model_fill(12)], [live(1, 12, price=102.0)]))
    assert row.status == "UNEXPLAINED" and "outside the prices traded" in row.unexplained[0]


def test_fee_rate_different_from_config_is_unexplained():
    """交易所收 0.2%，回测按配置收 0.1%：手续费率差 10 bps，超过 0.5 bps 的容差 -> UNEXPLAINED，提示改 fees。"""
    row = only_row(compare([model_fill(12)], [live(1, 12, fee_rate=0.002)]))
    assert row.status == "UNEXPLAINED" and "fees.maker/taker" in row.unexplained[0]


def test_amount_difference_from_sizing_is_explained():
    """数量 10.5 vs 10（+5%）：仓位按实盘当时的权益与价格算，有原因。"""
    row = only_row(compare([model_fill(12)], [live(1, 12, amount=10.5)]))
    assert row.status == "explained" and "sizing" in row.notes[0]


def test_missed_while_paused_is_explained():
    """第 11 根收盘后实例被暂停：第 12 根的信号实盘没有下单 -> explained（暂停）。"""
    events = [JournalEvent("instance", 0, {"instance": "flip", "status": "paused", "bar_ts": bar(11)})]
    row = only_row(compare([model_fill(12)], events=events))
    assert (row.outcome, row.status) == ("missed", "explained") and "paused" in row.notes[0]


def test_missed_because_of_a_journaled_rejection_is_explained():
    """风控在第 12 根拒绝了 flip 的下单（事件的 bar_ts） -> explained，写出规则与原因。"""
    events = [JournalEvent("rejection", 0, {"instance": "flip", "rule": "max_order_notional",
                                            "reason": "notional 1000 > 500", "bar_ts": bar(12)})]
    row = only_row(compare([model_fill(12)], events=events))
    assert row.status == "explained" and "max_order_notional" in row.notes[0]


def test_missed_because_the_order_never_reached_the_exchange_is_explained():
    """同一根决定的同向订单没有成交（rejected: never reached the exchange） -> explained。"""
    order = LiveOrder("o9", "flip", "BTC/USDT", "buy", 10.0, "rejected", 0.0,
                      "Flip.enter_long; never reached the exchange", 0, bar(12))
    row = only_row(compare([model_fill(12)], unfilled=[order]))
    assert row.status == "explained" and "never reached" in row.notes[0]


def test_missed_on_a_feed_gap_bar_is_explained():
    """第 12 根是断线后用 REST 补上的（引擎的 gap 日志事件） -> explained。"""
    events = [JournalEvent("log", 0, {"message": "gap", "symbol": "BTC/USDT", "timeframe": "1m",
                                      "gap_first_ts": bar(12), "gap_last_ts": bar(13), "instances": ["flip"]})]
    row = only_row(compare([model_fill(12)], events=events))
    assert row.status == "explained" and "feed gap" in row.notes[0]


def test_missed_with_no_reason_is_unexplained():
    """实例在运行、没有拒绝、持仓相同，实盘却没有下单 -> UNEXPLAINED。"""
    row = only_row(compare([model_fill(12)]))
    assert (row.outcome, row.status) == ("missed", "UNEXPLAINED")


def test_missed_exit_after_a_missed_entry_follows_the_earlier_difference():
    """开仓因拒绝而缺失（explained）；之后的平仓实盘也没有：实盘空仓、回测多仓，是前一处差异的后果 -> explained。"""
    events = [JournalEvent("rejection", 0, {"instance": "flip", "rule": "exchange", "reason": "x", "bar_ts": bar(12)})]
    report = compare([model_fill(12), model_fill(14, "sell")], events=events)
    assert [r.status for r in report.rows] == ["explained", "explained"]
    assert "live position was flat" in report.rows[1].notes[0]


def test_extra_live_trade_on_a_strategy_signal_is_unexplained():
    """实盘在第 15 根按策略信号买入，回测在那里没有交易、两边都空仓 -> UNEXPLAINED，报告不通过。"""
    report = compare([], [live(1, 15)])
    row = only_row(report)
    assert (row.outcome, row.status) == ("extra", "UNEXPLAINED") and not report.passed


@pytest.mark.parametrize("reason", ["stop_loss", "take_profit", "flatten", "manual"])
def test_extra_live_trade_that_is_not_a_strategy_signal_is_explained(reason):
    """止损、止盈、平仓、手动单不是策略信号 -> explained。"""
    row = only_row(compare([], [live(1, 15, side="sell", reason=reason)]))
    assert row.status == "explained" and reason in row.notes[0]


def test_extra_live_trade_decided_on_the_last_bar_is_explained():
    """实盘在最后一根（第 29 根）决定的单：回测没有下一根来成交它 -> explained。"""
    row = only_row(compare([], [live(1, 29)]))
    assert row.status == "explained" and "last bar" in row.notes[0]


def test_manual_order_without_instance_is_listed_and_explained():
    """不属于任何实例的手动单：列出，explained。"""
    row = only_row(compare([], [live(1, None, reason="manual", instance=None, fill_at=15)]))
    assert row.status == "explained" and "manual order" in row.notes[0]


def test_stop_one_bar_later_is_explained_but_a_signal_one_bar_later_is_not():
    """止损晚一根触发：实盘看最新价、回测看高低价 -> explained；策略信号晚一根 -> UNEXPLAINED。两者都配上并报告偏差。"""
    stop = only_row(compare([model_fill(12, "sell", reason="stop_loss")], [live(1, 13, "sell", reason="stop_loss")]))
    signal = only_row(compare([model_fill(12)], [live(1, 13)]))
    assert (stop.outcome, stop.bar_offset, stop.status) == ("matched", 1, "explained")
    assert (signal.outcome, signal.bar_offset, signal.status) == ("matched", 1, "UNEXPLAINED")


def test_order_without_decision_bar_is_matched_by_fill_time():
    """旧库的订单没有 bar_ts：按成交时间估计（成交在第 14 根 -> 估计第 13 根决定），与第 12 根的回测信号配上并说明。"""
    row = only_row(compare([model_fill(12)], [live(1, None, fill_at=14)]))
    assert (row.outcome, row.status) == ("matched", "explained") and "fill time" in row.notes[0]


def test_status_applies_to_bars_after_the_change():
    """状态事件的 bar_ts 是变化时最后收盘的一根：它本身仍按旧状态，之后的按新状态。"""
    events = [JournalEvent("instance", 0, {"instance": "flip", "status": "running", "bar_ts": None}),
              JournalEvent("instance", 0, {"instance": "flip", "status": "paused", "bar_ts": bar(11)})]
    assert status_at(events, "flip", bar(11))[0] == "running"
    assert status_at(events, "flip", bar(12)) == ("paused", bar(11))


def test_backtest_starts_flat_at_the_first_live_bar():
    """Flip(period=4) 每 4 根开多一次：第 10 根之前的信号被屏蔽，回测的第一笔在第 12 根（相位 0）决定、第 13 根开盘成交。"""
    p = plan()
    fills = run_model(record(), [p])["flip"]
    assert fills[0].decision_ts == bar(12) and fills[0].bar_ts == bar(13) and fills[0].side == "buy"
    assert all(f.decision_ts >= bar(10) for f in fills)
    strategy = gated_strategy(p, MarketType.SPOT)
    assert type(strategy).__name__ == "Flip" and strategy.is_vectorized
