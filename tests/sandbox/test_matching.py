"""沙盒撮合（tradeterm/sandbox/matching.py）与回测共用同一份成交模型：手工 K 线上的成交价与 fills.py 的函数逐一相等。"""

from __future__ import annotations

import pandas as pd
import pytest

from tradeterm.execution import fills
from tradeterm.sandbox import matching
from tradeterm.sandbox.accounts import Account
from tradeterm.sandbox.errors import BinanceError
from tradeterm.sandbox.market import CandleSeries, SymbolMarket, default_spec
from tradeterm.sandbox.matching import MatchingEngine, OrderRequest, TradingConfig

# 1 分钟，毫秒
MINUTE = 60_000
# 手工 K 线的首根开盘时间，UTC 毫秒（对齐到分钟）
T0 = 1_700_000_040_000
# 手工 K 线：第 2 根跳空低开到 95（止损 97 与限价买 96.5 都被“跳过”）
BARS = pd.DataFrame({
    "timestamp": [T0 + k * MINUTE for k in range(6)],
    "open": [100.0, 100.0, 95.0, 95.0, 95.0, 95.0],
    "high": [101.0, 100.5, 96.0, 95.5, 95.5, 95.5],
    "low": [99.0, 99.5, 94.0, 94.5, 94.5, 94.5],
    "close": [100.0, 100.0, 95.0, 95.0, 95.0, 95.0],
    "volume": [100.0] * 6,
})


def test_sandbox_imports_the_backtesters_fill_functions():
    """撮合用的成交价函数就是 tradeterm.execution.fills 里的那几个对象（不是拷贝）。"""
    for name in ("market_fill_price", "limit_fill_price", "stop_fill_price", "take_profit_fill_price",
                 "fee_amount", "round_amount", "round_price", "order_reject_reason"):
        assert getattr(matching, name) is getattr(fills, name)


def test_gap_through_stop_and_limit_fills_at_the_open_exactly_as_the_backtester():
    """第 1 根中途挂：卖出止损 97、限价买 96.5；第 2 根开在 95：
    止损按开盘价成交再减 10 bp 滑点 = 95 × 0.999 = 94.905（网格 0.01 上为 94.9 或 94.91，按共享的 round_price），
    限价买按开盘价 95 成交（maker）。两者都等于 fills.py 在这根 K 线上给出的价格。"""
    spec = default_spec("BTC/USDT", 100.0)
    market = SymbolMarket(spec, CandleSeries(BARS, MINUTE, spec.price_tick))
    config = TradingConfig(maker_fee=0.001, taker_fee=0.002, slippage_bps=10.0)
    engine = MatchingEngine({spec.market_id: market}, config)
    account = Account("k", "s", {"USDT": 10_000.0, "BTC": 1.0})
    engine.accounts["k"] = account
    now = T0 + MINUTE + 30_000  # 第 1 根走到一半，当前价 100
    stop = engine.place(account, OrderRequest("BTCUSDT", "SELL", "STOP_LOSS", 0.5, 0.0, 97.0, 0.0, "GTC", "s1"), now)
    limit = engine.place(account, OrderRequest("BTCUSDT", "BUY", "LIMIT", 0.5, 96.5, 0.0, 0.0, "GTC", "l1"), now)
    assert stop.status == "NEW" and limit.status == "NEW"
    engine.advance(now, T0 + 3 * MINUTE)
    expected_stop = fills.round_price(fills.stop_fill_price(95.0, 96.0, 94.0, -1, 97.0, 10.0), spec.price_tick)
    expected_limit = fills.limit_fill_price(95.0, 96.0, 94.0, 1, 96.5)
    assert expected_stop == pytest.approx(94.905, abs=0.01) and expected_limit == 95.0
    [stop_trade, limit_trade] = sorted(account.trades, key=lambda t: t.order_id)
    assert stop_trade.price == expected_stop and not stop_trade.is_maker
    assert stop_trade.fee == pytest.approx(fills.fee_amount(expected_stop * 0.5, 0.002))
    assert limit_trade.price == expected_limit and limit_trade.is_maker
    assert limit_trade.fee == pytest.approx(fills.fee_amount(95.0 * 0.5, 0.001))
    assert stop.status == "FILLED" and limit.status == "FILLED"


@pytest.mark.parametrize(("kind", "amount", "price", "stop", "expected"), [
    ("LIMIT", 0.5, 0.0, 0.0, "PRICE_FILTER"), ("LIMIT", 0.5, -0.0, 0.0, "PRICE_FILTER"),
    ("LIMIT", 0.5, -96.0, 0.0, "PRICE_FILTER"), ("LIMIT", 0.5, float("nan"), 0.0, "PRICE_FILTER"),
    ("LIMIT", 0.5, float("inf"), 0.0, "PRICE_FILTER"), ("LIMIT", 0.5, 1e300, 0.0, "PRICE_FILTER"),
    ("STOP_LOSS", 0.5, 0.0, 0.0, "PRICE_FILTER"), ("STOP_LOSS", 0.5, 0.0, float("nan"), "PRICE_FILTER"),
    ("LIMIT", float("nan"), 96.0, 0.0, "LOT_SIZE"), ("LIMIT", float("inf"), 96.0, 0.0, "LOT_SIZE"),
    ("LIMIT", -0.5, 96.0, 0.0, "LOT_SIZE"), ("LIMIT", 1e30, 96.0, 0.0, "LOT_SIZE"), ("MARKET", 0.0, 0.0, 0.0, "LOT_SIZE"),
])
def test_engine_refuses_zero_negative_and_non_finite_prices_and_amounts(kind, amount, price, stop, expected):
    """撮合引擎本身（不经 HTTP 解析）也拒绝 0、-0、负数、NaN、inf 与大到无法取整的价格/数量：-1013，账户不变。

    以前 PRICE_FILTER 在价格为 0（假值）时被跳过，0 价买单挂上且什么也不冻结；1e30 的数量在取整时溢出 64 位整数。"""
    spec = default_spec("BTC/USDT", 100.0)
    engine = MatchingEngine({spec.market_id: SymbolMarket(spec, CandleSeries(BARS, MINUTE, spec.price_tick))},
                            TradingConfig())
    account = Account("k", "s", {"USDT": 10_000.0, "BTC": 1.0})
    engine.accounts["k"] = account
    side = "SELL" if kind == "STOP_LOSS" else "BUY"
    with pytest.raises(BinanceError) as caught:
        engine.place(account, OrderRequest("BTCUSDT", side, kind, amount, price, stop, 0.0, "GTC", "x1"), T0 + MINUTE)
    assert (caught.value.code, caught.value.msg) == (-1013, f"Filter failure: {expected}")
    assert account.orders == {} and account.balance("USDT") == (10_000.0, 0.0)
