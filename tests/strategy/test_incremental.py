"""逐根写法（Strategy.update，tradeterm/strategy/incremental.py）：四个内置策略的逐根信号与向量化的 compute()
在真实行情上逐行相同（缺省与其他参数、现货与合约）；交叉检测器与 crossed_above / crossed_below 逐根相同；
基类把逐根标志变成信号的规则（缺的列、NaN、现货丢弃做空、止损止盈只附在开仓上）；没有 update 的插件不是逐根的。"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeterm import Bar, Crossing, Strategy, crossed_above, crossed_below
from tradeterm.models import MarketType, SignalIntent
from tradeterm.strategy.incremental import incremental_flags, incremental_mismatches
from tradeterm.strategy.loader import build_strategy, load_strategy_class

# 每个内置策略检查的参数：缺省，以及会更频繁触发信号、走到其他分支（零轴过滤、负的离场阈值、min_roc）的组合
CASES = [("MACross", {}), ("MACross", {"fast": 3, "slow": 7}),
         ("MACDStrategy", {}), ("MACDStrategy", {"above_zero": True}),
         ("MACDStrategy", {"fast": 3, "slow": 10, "signal": 4, "above_zero": True}),
         ("MeanReversion", {}), ("MeanReversion", {"window": 5, "entry_z": 1.0, "exit_z": -0.5}),
         ("MomentumStrategy", {}), ("MomentumStrategy", {"lookback": 5, "exit_lookback": 3, "min_roc": 0.001})]
# 两种市场
MARKETS = [MarketType.SPOT, MarketType.FUTURES]


def builtin(name: str, params: dict[str, Any], market: MarketType) -> Strategy:
    """按名字与参数建一个内置策略。"""
    return build_strategy(load_strategy_class(name), params, market_type=market)


@pytest.mark.parametrize("market", MARKETS, ids=lambda m: m.value)
@pytest.mark.parametrize(("name", "params"), CASES, ids=[f"{n}{p or ''}" for n, p in CASES])
def test_builtin_incremental_signals_equal_the_vectorized_signals_on_btc_usdt(btc_bars, name, params, market):
    """30,240 根真实 BTC/USDT：每一行的四个信号都相同，且确实有信号（不是两边都为空）。"""
    strategy = builtin(name, params, market)
    assert strategy.is_incremental
    assert incremental_mismatches(strategy, btc_bars) == []
    assert incremental_flags(strategy, btc_bars).any()


@pytest.mark.parametrize("market", MARKETS, ids=lambda m: m.value)
@pytest.mark.parametrize(("name", "params"), CASES, ids=[f"{n}{p or ''}" for n, p in CASES])
def test_builtin_incremental_signals_equal_the_vectorized_signals_on_eth_btc(eth_btc_bars, name, params, market):
    """5,760 根真实 ETH/BTC 5 分钟 K 线（价位约 0.1）：每一行的四个信号都相同。"""
    assert incremental_mismatches(builtin(name, params, market), eth_btc_bars) == []


@pytest.mark.parametrize("name", ["MACross", "MACDStrategy", "MeanReversion", "MomentumStrategy"])
def test_flat_stretches_give_the_same_signals_both_ways(btc_bars, name):
    """真实行情里每隔 300 根插一段 40 根的平台（开高低收都是同一价）：常数窗口、落定的平局在两种写法里判得一样。"""
    bars = btc_bars.iloc[:6000].copy()
    for start in range(100, 6000 - 40, 300):
        bars.iloc[start:start + 40, bars.columns.get_indexer(["open", "high", "low", "close"])] = \
            bars["close"].iloc[start]
    assert incremental_mismatches(builtin(name, {}, MarketType.FUTURES), bars) == []


@settings(max_examples=40)
@given(st.lists(st.sampled_from([-1.0, 0.0, 1.0, math.nan]), min_size=1, max_size=40),
       st.lists(st.sampled_from([-1.0, 0.0, 1.0, math.nan]), min_size=1, max_size=40))
def test_crossing_equals_crossed_above_and_below(lines, others):
    """Crossing 与 crossed_above / crossed_below 逐根相同（平局、NaN、第一根都包括在内）。"""
    n = min(len(lines), len(others))
    line, other = pd.Series(lines[:n]), pd.Series(others[:n])
    cross = Crossing()
    streamed = np.array([cross.update(a, b) for a, b in zip(line.tolist(), other.tolist())], dtype=bool)
    np.testing.assert_array_equal(streamed[:, 0], crossed_above(line, other).to_numpy(dtype=bool))
    np.testing.assert_array_equal(streamed[:, 1], crossed_below(line, other).to_numpy(dtype=bool))


class Scripted(Strategy):
    """逐根返回预先写好的标志（测基类的转换规则）。"""

    # 没有参数
    params: ClassVar[dict[str, Any]] = {}
    # 逐根返回的标志，按调用顺序
    script: ClassVar[list[Any]] = []

    def signals(self, df: pd.DataFrame) -> pd.DataFrame:
        """向量化形式：没有信号。"""
        return pd.DataFrame(index=df.index)

    def reset(self) -> None:
        """回到脚本开头。"""
        # 下一根要返回的脚本位置
        self.step = 0

    def update(self, bar: Bar) -> Any:
        """返回脚本的下一项。"""
        self.step += 1
        return self.script[self.step - 1]


def test_flags_become_signals_with_the_same_rules_as_compute():
    """缺的列与 NaN 算 False；现货丢弃做空；先平后开；止损止盈只附在开仓信号上；None 表示没有信号。"""
    Scripted.script = [None, {"enter_long": math.nan}, {"exit_long": True, "enter_short": True, "stop_loss": 90.0},
                       {"enter_long": np.bool_(True), "exit_short": True, "stop_loss": 90.0, "take_profit": 120.0}]
    row = [60_000.0, 100.0, 101.0, 99.0, 100.0, 1.0]
    for market, expected in [(MarketType.SPOT, [[], [], [SignalIntent.CLOSE_LONG], [SignalIntent.OPEN_LONG]]),
                             (MarketType.FUTURES, [[], [], [SignalIntent.CLOSE_LONG, SignalIntent.OPEN_SHORT],
                                                   [SignalIntent.CLOSE_SHORT, SignalIntent.OPEN_LONG]])]:
        strategy = Scripted(market_type=market)
        strategy.seed([])
        got = [strategy.on_bar(row) for _ in Scripted.script]
        assert [[s.intent for s in signals] for signals in got] == expected
        opening = [s for signals in got for s in signals if s.intent is SignalIntent.OPEN_LONG][0]
        assert (opening.stop_loss, opening.take_profit, opening.ts) == (90.0, 120.0, 60_000)
        assert all(s.stop_loss is None for signals in got for s in signals if s.intent is SignalIntent.CLOSE_LONG)


def test_seed_resets_and_replays_history():
    """seed(rows) 先 reset 再逐根 update：seed 两次得到同样的状态（不会把历史叠加两遍）。"""
    strategy = builtin("MACross", {"fast": 2, "slow": 3}, MarketType.SPOT)
    rows = [[60_000.0 * i, c, c, c, c, 1.0] for i, c in enumerate([5.0, 4.0, 3.0, 4.0])]
    strategy.seed(rows)
    strategy.seed(rows)
    # SMA2 与 SMA3 在 [5,4,3,4] 之后分别是 3.5 与 3.667；下一根收盘 6：SMA2 = 5 > SMA3 = 4.333，上穿
    assert [s.intent for s in strategy.on_bar([240_000.0, 6.0, 6.0, 6.0, 6.0, 1.0])] == [SignalIntent.OPEN_LONG]


def test_a_plugin_without_update_is_not_incremental(tmp_path):
    """只有 signals() 的插件：is_incremental 为假（实盘走窗口重算的后备路径），一致性检查拒绝它。"""
    (tmp_path / "plain.py").write_text(
        '"""只有向量化形式的插件。"""\n'
        "import pandas as pd\n"
        "from tradeterm import Strategy\n\n\n"
        "class Plain(Strategy):\n"
        '    """没有信号。"""\n\n'
        "    def signals(self, df):\n"
        '        """空信号。"""\n'
        "        return pd.DataFrame(index=df.index)\n")
    strategy = build_strategy(load_strategy_class("Plain", [tmp_path]), {})
    assert strategy.is_vectorized and not strategy.is_incremental
    with pytest.raises(ValueError, match="does not implement update"):
        incremental_mismatches(strategy, pd.DataFrame({"timestamp": [0], "open": [1.0], "high": [1.0],
                                                       "low": [1.0], "close": [1.0], "volume": [1.0]}))
