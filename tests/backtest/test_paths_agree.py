"""两条路径逐位一致：每个内置策略在真实行情上，numba 快速路径与逐事件路径的交易（时间、价格、数量、手续费）
与权益完全相同；再加上交易所规则、滑点、止损止盈与移动止损的组合。"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradeterm.backtest.broker import FeeSchedule
from tradeterm.backtest.engine import BacktestSettings, InstanceSpec, run_backtest
from tradeterm.execution.markets import BUILTIN_MARKETS
from tradeterm.models import MarketType
from tradeterm.strategy.loader import build_strategy, load_strategy_class

# 四个内置策略
BUILTINS = ["MACross", "MACDStrategy", "MeanReversion", "MomentumStrategy"]


def both_paths(make_strategy, bars, **spec_options):
    """同一设置分别走 fast 与 event，返回两个实例结果。"""
    settings = {path: BacktestSettings(cash=10_000.0, fees=FeeSchedule(0.0002, 0.001, 3.0), path=path)
                for path in ("fast", "event")}
    return [run_backtest([InstanceSpec(make_strategy(), bars, **spec_options)], settings[p]).instances[0]
            for p in ("fast", "event")]


def assert_identical(fast, event):
    """交易的每个字段与每根 K 线的权益逐位相同。"""
    assert fast.path == "fast" and event.path == "event"
    assert len(fast.trades) > 10
    assert fast.trades == event.trades
    assert fast.rejections == event.rejections
    np.testing.assert_array_equal(fast.equity, event.equity)


@pytest.mark.parametrize("market_type", [MarketType.SPOT, MarketType.FUTURES])
@pytest.mark.parametrize("name", BUILTINS)
def test_fast_and_event_paths_give_identical_trades_for_builtin(name, market_type, btc_bars):
    """内置策略、默认参数、真实 BTC/USDT 1 分钟线，maker 0.02% / taker 0.1%、3 bps 滑点、Binance 的下单规则。"""
    cls = load_strategy_class(name)
    fast, event = both_paths(lambda: build_strategy(cls, {}, market_type=market_type), btc_bars,
                             rules=BUILTIN_MARKETS["binance"]["BTC/USDT"])
    assert_identical(fast, event)


def test_fast_and_event_paths_agree_on_eth_btc_5m(eth_btc_bars):
    """另一个市场与周期（ETH/BTC 5 分钟，价格约 0.1）：MACross 无规则。"""
    cls = load_strategy_class("MACross")
    fast, event = both_paths(lambda: build_strategy(cls, {"fast": 5, "slow": 20}, symbol="ETH/BTC",
                                                    timeframe="5m"), eth_btc_bars)
    assert_identical(fast, event)


class ProtectedCross(load_strategy_class("MACross")):
    """MACross 加上止损（收盘价下方 0.4%）与止盈（上方 0.8%），用来覆盖止损止盈的路径一致性。"""

    def signals(self, df: pd.DataFrame) -> pd.DataFrame:
        """在 MACross 的信号上附加 stop_loss 与 take_profit 两列（多仓在下/上，空仓相反）。"""
        out = super().signals(df)
        long_entry = out["enter_long"].to_numpy()
        out["stop_loss"] = np.where(long_entry, df["close"] * 0.996, df["close"] * 1.004)
        out["take_profit"] = np.where(long_entry, df["close"] * 1.008, df["close"] * 0.992)
        return out


@pytest.mark.parametrize("market_type", [MarketType.SPOT, MarketType.FUTURES])
def test_paths_agree_with_stops_targets_and_trailing_stop(market_type, btc_bars):
    """止损、止盈、0.5% 移动止损与 Binance 规则同时生效时，两条路径仍逐位相同，且三种离场都出现过。"""
    fast, event = both_paths(lambda: ProtectedCross({}, market_type=market_type), btc_bars,
                             rules=BUILTIN_MARKETS["binance"]["BTC/USDT"], trailing_stop=0.005)
    assert_identical(fast, event)
    reasons = {t.exit_reason for t in fast.trades}
    assert {0, 1, 2, 3} <= reasons
