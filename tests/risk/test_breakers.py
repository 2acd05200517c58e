"""单日亏损熔断的定义（回测、模拟盘与实盘共用的 CircuitBreakers）：起点是前一天最后一次采样的权益，
熔断在下一个 UTC 日的 00:00 解除；数值全部手算。"""

from __future__ import annotations

from tradeterm.config.schema import RiskConfig
from tradeterm.models import Side
from tradeterm.risk import AccountSnapshot, OrderRequest, RiskManager
from tradeterm.risk.breakers import DAY_MS, CircuitBreakers

# 2023-03-01 00:00 UTC，毫秒
T0 = 1_677_628_800_000
# 一分钟的毫秒数
MINUTE = 60_000


def entry(ts: int) -> OrderRequest:
    """时刻 ts 的 BTC/USDT 市价开多请求（名义金额 0.01 * 20000 = 200 USDT）。"""
    return OrderRequest("BTC/USDT", Side.BUY, 0.01, 20_000.0, ts)


def account() -> AccountSnapshot:
    """权益与现金各 10000 USDT、无持仓。"""
    return AccountSnapshot(10_000.0, 10_000.0, {}, {"BTC/USDT": T0})


def test_day_start_is_the_previous_days_last_sample():
    """前一天最后一次采样 1000；次日第一根收盘 985（跌 1.5%），第二根 975.3：
    亏损 = (1000 - 975.3) / 1000 = 2.47%，不是从当日第一根算的 (985 - 975.3) / 985 = 0.98%。"""
    breakers = CircuitBreakers(daily_loss=0.02)
    assert breakers.update(T0 - 2 * MINUTE, 1000.0) == []
    assert breakers.update(T0 - MINUTE, 1000.0) == []
    assert breakers.update(T0, 985.0) == []
    assert breakers.day_start_equity == 1000.0
    assert breakers.daily_loss_fraction(985.0) == (1000.0 - 985.0) / 1000.0
    assert breakers.update(T0 + MINUTE, 975.3) == ["daily_loss breaker tripped: today's loss 2.47% >= limit 2.00%"]


def test_first_day_starts_from_the_starting_equity():
    """第一天的起点是 starting_equity（回测的初始资金 1000）：第一次采样就是 950 时亏损 5%；
    不给 starting_equity 时第一次采样本身是起点，亏损 0。"""
    seeded = CircuitBreakers(daily_loss=0.05, starting_equity=1000.0)
    assert seeded.update(T0, 950.0) == ["daily_loss breaker tripped: today's loss 5.00% >= limit 5.00%"]
    unseeded = CircuitBreakers(daily_loss=0.05)
    assert unseeded.update(T0, 950.0) == [] and unseeded.day_start_equity == 950.0


def test_daily_breaker_stops_blocking_at_midnight_before_any_new_sample():
    """当日 23:30 触发：23:59:59.999 的开仓被挡，00:00:00.000 的放行（不必等新一天的采样）；
    界面用的 blocking 属性仍显示最近一次采样时的状态。"""
    risk = RiskManager(RiskConfig(daily_loss=0.05), starting_equity=10_000.0)
    assert risk.update_equity(T0 + DAY_MS - 30 * MINUTE, 9_400.0)
    assert risk.check(entry(T0 + DAY_MS - 1), account()).rule == "daily_loss"
    assert risk.check(entry(T0 + DAY_MS), account()).allowed
    assert risk.breakers.blocking == "daily_loss"
    assert risk.breakers.blocking_at(T0 + DAY_MS) is None


def test_drawdown_breaker_does_not_clear_at_midnight():
    """回撤熔断不随日期解除：次日 00:00 的开仓照样以 max_drawdown 被挡。"""
    risk = RiskManager(RiskConfig(max_drawdown=0.05, daily_loss=0.05))
    risk.update_equity(T0, 10_000.0)
    risk.update_equity(T0 + MINUTE, 9_400.0)
    assert risk.check(entry(T0 + DAY_MS), account()).rule == "max_drawdown"


def test_a_late_sample_from_the_previous_day_does_not_turn_the_day_back():
    """周期不同的采样交错到来：00:00:01 的成交采样（次日）之后又来 1h 那根（前一天 23:00 开盘）的收盘采样：
    “当日”不回拨，起点仍是次日的起点（前一天最后的 1000），后到的采样只更新当前权益。"""
    breakers = CircuitBreakers(daily_loss=0.05)
    breakers.update(T0 - MINUTE, 1000.0)
    breakers.update(T0 + 1_000, 990.0)
    breakers.update(T0 - 60 * MINUTE, 940.0)
    assert (breakers.day, breakers.day_start_equity) == (T0 // DAY_MS, 1000.0)
    assert breakers.daily_tripped and breakers.last_equity == 940.0
