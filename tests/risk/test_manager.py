"""下单前风控：每条规则在手算的边界两侧各测一次，拒绝原因写明规则、数值与上限；减仓单不被挡。"""

from __future__ import annotations

import pytest

from tradeterm.config.schema import RiskConfig
from tradeterm.models import MarketType, OrderType, Side
from tradeterm.risk import AccountSnapshot, OrderRequest, RiskManager

# 请求时间：2023-03-01 00:00 UTC（毫秒）
T0 = 1_677_628_800_000


def request(amount: float = 0.1, price: float = 20_000.0, side: Side = Side.BUY, **kw) -> OrderRequest:
    """BTC/USDT 市价买单请求，默认名义金额 0.1 * 20000 = 2000 USDT。"""
    return OrderRequest("BTC/USDT", side, amount, price, kw.pop("ts", T0), **kw)


def account(**kw) -> AccountSnapshot:
    """权益与现金各 10000 USDT、无持仓、行情是新的。"""
    base = dict(equity=10_000.0, cash=10_000.0, positions={}, last_price_ts={"BTC/USDT": T0})
    base.update(kw)
    return AccountSnapshot(**base)


def test_no_limits_allows_everything_affordable():
    """不配置任何限制：能买得起就放行。"""
    assert RiskManager(RiskConfig()).check(request(), account()).allowed


def test_max_order_notional():
    """上限 2000：2000 放行；0.1001 * 20000 = 2002 拒绝；减仓单不受限。"""
    risk = RiskManager(RiskConfig(max_order_notional=2_000))
    assert risk.check(request(0.1), account()).allowed
    decision = risk.check(request(0.1001), account())
    assert not decision.allowed and decision.rule == "max_order_notional"
    assert "2,002.00 exceeds max_order_notional 2,000.00" in decision.reason
    assert risk.check(request(0.5, side=Side.SELL, reduces=True), account()).allowed


def test_max_position_counts_existing_position():
    """已有 BTC 多仓 3000，上限 5000：再买 2000 -> 5000 放行；再买 2200 -> 5200 拒绝；卖出 2000 -> 1000 放行。"""
    risk = RiskManager(RiskConfig(max_position=5_000))
    held = account(positions={"BTC/USDT": 3_000.0})
    assert risk.check(request(0.1), held).allowed
    decision = risk.check(request(0.11), held)
    assert decision.rule == "max_position" and "would be 5,200.00" in decision.reason
    assert risk.check(request(0.1, side=Side.SELL), held).allowed


def test_max_exposure_sums_all_symbols():
    """ETH 空仓 -4000（绝对值计入），上限 6000：买 BTC 2000 -> 6000 放行，2200 -> 6200 拒绝。"""
    risk = RiskManager(RiskConfig(max_exposure=6_000), MarketType.FUTURES)
    held = account(positions={"ETH/USDT": -4_000.0})
    assert risk.check(request(0.1), held).allowed
    assert risk.check(request(0.11), held).rule == "max_exposure"


def test_price_band_applies_to_limit_orders():
    """价格带 5%：最新价 20000，限价 20900（4.5%）放行，21100（5.5%）拒绝；市价单不检查。"""
    risk = RiskManager(RiskConfig(price_band=0.05))
    ok = request(0.01, order_type=OrderType.LIMIT, limit_price=20_900.0)
    bad = request(0.01, order_type=OrderType.LIMIT, limit_price=21_100.0)
    assert risk.check(ok, account()).allowed
    decision = risk.check(bad, account())
    assert decision.rule == "price_band" and "5.50% away" in decision.reason
    assert risk.check(request(0.01), account()).allowed


def test_order_rate_limit_uses_a_sliding_minute():
    """每分钟 2 单：第 3 单（同一分钟内）拒绝；第一单之后 60 秒整再下放行；减仓单不被拒。"""
    risk = RiskManager(RiskConfig(max_orders_per_minute=2))
    assert risk.check(request(0.01, ts=T0), account()).allowed
    assert risk.check(request(0.01, ts=T0 + 10_000), account()).allowed
    assert risk.check(request(0.01, ts=T0 + 59_999), account()).rule == "max_orders_per_minute"
    assert risk.check(request(0.01, side=Side.SELL, reduces=True, ts=T0 + 59_999), account()).allowed
    # T0+60000 时第一单已出窗口，窗口里剩 T0+10000 与 T0+59999 两单 -> 仍满；T0+70000 时只剩一单
    assert not risk.check(request(0.01, ts=T0 + 60_000), account()).allowed
    assert risk.check(request(0.01, ts=T0 + 70_000), account()).allowed


def test_stale_data_guard():
    """stale_after 5 秒：行情 4 秒前放行，6 秒前拒绝，从未有行情拒绝；平仓不受影响。"""
    risk = RiskManager(RiskConfig(stale_after=5))
    assert risk.check(request(0.01, ts=T0 + 4_000), account()).allowed
    decision = risk.check(request(0.01, ts=T0 + 6_000), account())
    assert decision.rule == "stale_after" and "6.0s old" in decision.reason
    assert "no price yet" in risk.check(request(0.01), account(last_price_ts={})).reason
    assert risk.check(request(0.01, side=Side.SELL, reduces=True, ts=T0 + 60_000), account()).allowed


def test_spot_balance_includes_fee():
    """现金 2001，费率 0.1%：买 2000 名义金额需 2002 -> 拒绝；现金 2002 -> 放行；合约不查现金。"""
    decision = RiskManager(RiskConfig()).check(request(0.1, fee_rate=0.001), account(cash=2_001.0))
    assert decision.rule == "balance" and "costs 2,002.00" in decision.reason
    assert RiskManager(RiskConfig()).check(request(0.1, fee_rate=0.001), account(cash=2_002.0)).allowed
    assert RiskManager(RiskConfig(), MarketType.FUTURES).check(request(1.0), account(cash=0.0)).allowed


def test_drawdown_breaker_blocks_entries_until_reset():
    """回撤上限 10%：权益 10000 -> 12000（新高）-> 10900（回撤 9.17%，未触发）-> 10800（10%，触发）。"""
    risk = RiskManager(RiskConfig(max_drawdown=0.10))
    assert risk.update_equity(T0, 10_000) == []
    risk.update_equity(T0 + 60_000, 12_000)
    assert risk.update_equity(T0 + 120_000, 10_900) == []
    events = risk.update_equity(T0 + 180_000, 10_800)
    assert len(events) == 1 and "drawdown 10.00% >= limit 10.00%" in events[0]
    decision = risk.check(request(0.01), account())
    assert decision.rule == "max_drawdown" and not decision.allowed
    assert risk.check(request(0.01, side=Side.SELL, reduces=True), account()).allowed
    assert risk.update_equity(T0 + 240_000, 12_500) == [], "tripped stays tripped, no repeated event"
    assert not risk.check(request(0.01), account()).allowed
    risk.breakers.reset_drawdown(12_500)
    assert risk.check(request(0.01), account()).allowed


def test_daily_loss_breaker_resets_next_utc_day():
    """单日亏损 5%：当日起始 10000，跌到 9500 触发；次日的起点是前一天最后的 9500，次日 9400 只亏 1.05%，熔断解除。"""
    risk = RiskManager(RiskConfig(daily_loss=0.05))
    risk.update_equity(T0 + 1_000, 10_000)
    assert risk.update_equity(T0 + 3_600_000, 9_600) == []
    assert "today's loss 5.00%" in risk.update_equity(T0 + 7_200_000, 9_500)[0]
    assert risk.check(request(0.01), account()).rule == "daily_loss"
    risk.update_equity(T0 + 86_400_000, 9_400)
    assert risk.check(request(0.01), account()).allowed


def test_kill_switch_only_lets_reducing_orders_through():
    """一键停止后：开仓拒绝，平仓放行。"""
    risk = RiskManager(RiskConfig())
    risk.kill()
    assert risk.check(request(0.01), account()).rule == "kill_switch"
    assert risk.check(request(0.01, side=Side.SELL, reduces=True), account()).allowed


@pytest.mark.parametrize("field_name, value", [("max_drawdown", 1.5), ("price_band", 0), ("max_position", -1)])
def test_config_rejects_nonsense_limits(field_name, value):
    """配置层挡住无意义的限制（回撤 >= 100%、价格带 0、负的持仓上限）。"""
    with pytest.raises(ValueError):
        RiskConfig(**{field_name: value})
