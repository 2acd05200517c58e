"""策略基类：向量化信号如何变成逐根的 TradeSignal；预计算查表与实时计算一致；现货丢弃做空信号。"""

from __future__ import annotations

import pandas as pd
import pytest

from tradeterm import Strategy, crossed_above, crossed_below
from tradeterm.models import Fill, MarketType, Side, SignalIntent


def bars_from_closes(closes: list[float]) -> pd.DataFrame:
    """用收盘价列表造 K 线（开高低收相同，每根 1 分钟）。"""
    return pd.DataFrame({"timestamp": [60_000 * i for i in range(len(closes))], "open": closes, "high": closes,
                         "low": closes, "close": closes, "volume": [1.0] * len(closes)})


class Threshold(Strategy):
    """测试用：收盘价高于 level 开多并带止损止盈，低于 level 平多并开空。"""

    # 阈值价格，计价货币
    params = {"level": 100.0}

    def signals(self, df):
        """按阈值给信号；止损为收盘价的 95%，止盈为 110%。"""
        above, below = df["close"] > self.params["level"], df["close"] < self.params["level"]
        return pd.DataFrame({"enter_long": above, "exit_long": below, "enter_short": below, "exit_short": above,
                             "stop_loss": df["close"] * 0.95, "take_profit": df["close"] * 1.10})


def test_crosses_follow_the_definition():
    """上穿：fast[t] > slow[t] 且 fast[t-1] <= slow[t-1]；相等之后再高也算上穿。"""
    fast = pd.Series([1.0, 2.0, 3.0, 3.0, 2.0, 1.0])
    slow = pd.Series([2.0, 2.0, 2.0, 3.0, 3.0, 1.0])
    # t=2: 3>2 且 2<=2 -> 上穿；t=4: 2<3 且 3>=3 -> 下穿；t=5: 1<1 不成立 -> 无
    assert crossed_above(fast, slow).tolist() == [False, False, True, False, False, False]
    assert crossed_below(fast, slow).tolist() == [False, False, False, False, True, False]


def test_on_data_takes_last_row_and_orders_exits_first():
    """合约上跌破阈值的那根：先 close_long 再 open_short；开仓信号带止损止盈价。"""
    strategy = Threshold(market_type=MarketType.FUTURES, symbol="BTC/USDT")
    signals = strategy.on_data(bars_from_closes([101.0, 102.0, 99.0]))
    assert [s.intent for s in signals] == [SignalIntent.CLOSE_LONG, SignalIntent.OPEN_SHORT]
    assert signals[0].side is Side.SELL and signals[0].stop_loss is None
    assert signals[1].stop_loss == pytest.approx(99.0 * 0.95) and signals[1].take_profit == pytest.approx(108.9)
    assert signals[1].ts == 120_000 and signals[1].symbol == "BTC/USDT"


def test_spot_drops_short_signals():
    """现货只做多：同一根 K 线只剩 close_long。"""
    signals = Threshold(market_type=MarketType.SPOT).on_data(bars_from_closes([101.0, 99.0]))
    assert [s.intent for s in signals] == [SignalIntent.CLOSE_LONG]


def test_precomputed_lookup_equals_live_computation():
    """预计算查表（回测用）与逐根实时计算给出同样的信号。"""
    bars = bars_from_closes([98.0, 101.0, 103.0, 97.0, 99.0, 104.0])
    live = Threshold(market_type=MarketType.FUTURES)
    table = Threshold(market_type=MarketType.FUTURES)
    table.precompute(bars)
    for end in range(1, len(bars) + 1):
        window = bars.iloc[:end]
        assert table.signals_at(int(window["timestamp"].iloc[-1])) == live.on_data(window)
        assert table.on_data(window) == live.on_data(window)
    assert table.signals_at(999) is None


def test_fill_updates_strategy_position():
    """成交回报更新策略自己看到的持仓（带符号，基础货币）。"""
    strategy = Threshold()
    strategy.on_order_fill(Fill("a", "BTC/USDT", Side.BUY, 100.0, 0.5, 0.05, "USDT", 0))
    strategy.on_order_fill(Fill("b", "BTC/USDT", Side.SELL, 101.0, 0.2, 0.02, "USDT", 1))
    assert strategy.position == pytest.approx(0.3)


def test_strategy_without_signals_must_override_on_data():
    """既没有 signals() 也没有重写 on_data 的策略：调用 on_data 是编程错误。"""

    class Empty(Strategy):
        """什么都没实现。"""

    assert not Empty().is_vectorized
    with pytest.raises(NotImplementedError, match="signals"):
        Empty().on_data(bars_from_closes([1.0]))


@pytest.mark.parametrize("market_type", [MarketType.SPOT, MarketType.FUTURES])
def test_live_on_data_equals_the_vectorized_row_for_every_plugin(market_type):
    """实盘走的 on_data（只读信号列最后一个值）与整段 compute() 的同一行给出相同的 TradeSignal，
    对 strategies/ 下每个插件、在真实 BTC/USDT 1 分钟线上抽 40 根检查（含带止损止盈的 Threshold）。"""
    from pathlib import Path

    import numpy as np

    from tradeterm.data import load_ohlcv_csv
    from tradeterm.strategy.base import SIGNAL_COLUMNS
    from tradeterm.strategy.loader import build_strategy, discover

    data = Path(__file__).resolve().parents[3] / "shared" / "data" / "binanceus_BTCUSDT_1m_2023-03.csv"
    bars = load_ohlcv_csv(data).iloc[:3000].reset_index(drop=True)
    classes = [*discover().classes.values(), Threshold]
    rows = np.random.default_rng(3).choice(np.arange(100, len(bars)), 40, replace=False)
    checked = 0
    for cls in classes:
        params = {"level": float(bars["close"].median())} if cls is Threshold else {}
        strategy = build_strategy(cls, params, market_type=market_type)
        full = strategy.compute(bars)
        for t in rows:
            live = strategy.on_data(bars.iloc[: t + 1])
            expected = strategy._to_signals(int(bars["timestamp"].iloc[t]),
                                            full.loc[t, list(SIGNAL_COLUMNS)].to_numpy(dtype=bool),
                                            float(full.loc[t, "stop_loss"]) if "stop_loss" in full else np.nan,
                                            float(full.loc[t, "take_profit"]) if "take_profit" in full else np.nan)
            assert live == expected, (cls.__name__, t)
            checked += bool(live)
    assert checked > 20  # 抽到的行里确实有信号
