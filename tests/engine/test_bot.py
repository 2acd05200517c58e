"""机器人（tradeterm/engine/bot.py）的两条信号路径：

- 逐根路径：load_history 建立状态、add_bar 逐根更新；逐根喂进去的信号与向量化策略在“从载入的第一根起的全部 K 线”上
  的 compute() 逐行相同（窗口一直在滑动，结果不受影响）；set_params 换上的策略从当时的窗口重新建立状态；
  逐根计算的异常在 signals() 抛出（引擎据此让实例出错），之后从窗口重建；
- 后备路径：没有 update 的插件照旧在窗口上调用 on_data；
- 窗口（环形缓冲区）的内容始终是最近 window 根；
- 真实引擎对着沙盒：逐根形式抛异常的实例进入 error，其他实例照常交易。
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.engine.conftest import flip, wait_for
from tests.engine.plugins.test_bots import ExplodesLater, Flip, FlipWindowed
from tradeterm.engine.bot import Bot
from tradeterm.engine.instance import InstanceState
from tradeterm.models import MarketType
from tradeterm.strategy.base import SIGNAL_COLUMNS, Strategy
from tradeterm.strategy.loader import build_strategy, load_strategy_class

# 逐根喂给机器人的 K 线根数（预热之后）
LIVE_BARS = 2500
# 逐根喂给机器人的策略与参数：四个内置策略的缺省参数，外加一个慢线很长的 MACD——它的 EMA 在 300 根的滑动窗口上
# 还没收敛，以前的窗口重算在 BTC/USDT 前 6,000 根里有 79 根的信号与整段历史不同，逐根路径一根不差
CASES = [("MACross", {}), ("MACDStrategy", {}), ("MeanReversion", {}), ("MomentumStrategy", {}),
         ("MACDStrategy", {"fast": 50, "slow": 140, "signal": 10})]


def make_bot(strategy: Strategy) -> Bot:
    """一个运行中的机器人（合约市场，可多可空）。"""
    return Bot(strategy, InstanceState(strategy.name), strategy.market_type)


def flags_of(signals) -> list[bool]:
    """信号列表 -> 按 SIGNAL_COLUMNS 排列的布尔标志（信号的 reason 是 类名.列名）。"""
    fired = {s.reason.split(".")[1] for s in signals}
    return [column in fired for column in SIGNAL_COLUMNS]


def feed(bot: Bot, bars: pd.DataFrame, history: int) -> list[list[bool]]:
    """前 history 根作为预热载入，之后逐根 add_bar + signals；返回每根（含预热的最后一根）的信号标志。"""
    bot.load_history(bars.iloc[:history])
    rows = bars[["timestamp", "open", "high", "low", "close", "volume"]].to_numpy(dtype=float)
    out = [flags_of(bot.signals())]
    for k in range(history, len(bars)):
        assert bot.add_bar(rows[k].tolist())
        out.append(flags_of(bot.signals()))
        expected = rows[max(0, k - bot.window + 1):k + 1]
        assert np.array_equal(bot.bars, expected), f"window differs after bar {k}"
    return out


@pytest.mark.parametrize(("name", "params"), CASES, ids=[f"{n}{p or ''}" for n, p in CASES])
def test_bot_fed_bar_by_bar_equals_the_vectorized_strategy_on_all_bars(btc_bars, name, params):
    """预热 window 根、再逐根喂 2,500 根：每根的信号与 compute(从第一根起的全部 K 线) 同一行相同，且有信号。"""
    strategy = build_strategy(load_strategy_class(name), params, market_type=MarketType.FUTURES)
    bot = make_bot(strategy)
    bars = btc_bars.iloc[:bot.window + LIVE_BARS].reset_index(drop=True)
    got = feed(bot, bars, bot.window)
    expected = strategy.compute(bars)[list(SIGNAL_COLUMNS)].to_numpy()[bot.window - 1:]
    assert got == expected.tolist()
    assert np.array(got).any()


def test_a_plugin_without_update_keeps_the_window_recompute(btc_bars):
    """FlipWindowed（只有向量化形式）：走 on_data 的后备路径，信号与 Flip 的逐根路径、与整段 compute 都相同。"""
    bars = btc_bars.iloc[:400].reset_index(drop=True)
    windowed = make_bot(build_strategy(FlipWindowed, {"period": 4}, market_type=MarketType.FUTURES))
    incremental = make_bot(build_strategy(Flip, {"period": 4}, market_type=MarketType.FUTURES))
    assert not windowed.strategy.is_incremental and incremental.strategy.is_incremental
    expected = windowed.strategy.compute(bars)[list(SIGNAL_COLUMNS)].to_numpy()[299:].tolist()
    assert feed(windowed, bars, 300) == expected == feed(incremental, bars, 300)


def test_set_params_seeds_the_new_strategy_from_the_window(btc_bars):
    """逐根喂到第 600 根时换成 MACross(3, 7)：之后的信号等于新策略在“当时窗口的第一根起”的 K 线上的 compute()。"""
    bars = btc_bars.iloc[:1200].reset_index(drop=True)
    bot = make_bot(build_strategy(load_strategy_class("MACross"), {}, market_type=MarketType.FUTURES))
    feed(bot, bars.iloc[:600], 300)
    first = int(bot.bars[0, 0])
    bot.strategy = build_strategy(load_strategy_class("MACross"), {"fast": 3, "slow": 7},
                                  market_type=MarketType.FUTURES)
    rows = bars[["timestamp", "open", "high", "low", "close", "volume"]].to_numpy(dtype=float)
    got = []
    for k in range(600, len(bars)):
        bot.add_bar(rows[k].tolist())
        got.append(flags_of(bot.signals()))
    since = bars[bars["timestamp"] >= first].reset_index(drop=True)
    expected = bot.strategy.compute(since)[list(SIGNAL_COLUMNS)].to_numpy()[-len(got):]
    assert got == expected.tolist() and np.array(got).any()


def test_an_update_that_raises_surfaces_in_signals_and_the_state_is_rebuilt_after(btc_bars):
    """ExplodesLater(fuse=303)：预热 300 根（300 次 update）之后的第 3 根抛异常 -> 那根的 signals() 抛出它；
    再下一根 signals() 从窗口重建（300 次 update，不到 303）并正常返回；再过 3 根又抛。"""
    rows = btc_bars[["timestamp", "open", "high", "low", "close", "volume"]].to_numpy(dtype=float)[:320]
    bot = make_bot(build_strategy(ExplodesLater, {"fuse": 303}, market_type=MarketType.FUTURES))
    bot.load_history(btc_bars.iloc[:300])
    outcomes = []
    for row in rows[300:310]:
        bot.add_bar(row.tolist())
        try:
            outcomes.append(bot.signals())
        except RuntimeError as exc:
            outcomes.append(str(exc))
    assert outcomes == [[], [], "boom later", [], [], [], "boom later", [], [], []]


def test_a_seed_that_raises_surfaces_at_the_first_signals(btc_bars):
    """ExplodesLater(fuse=5)：预热时就抛异常；load_history 不抛（引擎启动不受影响），第一次 signals() 抛出它。"""
    bot = make_bot(build_strategy(ExplodesLater, {"fuse": 5}, market_type=MarketType.FUTURES))
    bot.load_history(btc_bars.iloc[:300])
    bot.add_bar(btc_bars.iloc[300][["timestamp", "open", "high", "low", "close", "volume"]].tolist())
    with pytest.raises(RuntimeError, match="boom later"):
        bot.signals()


def test_old_and_repeated_bars_are_ignored(btc_bars):
    """比窗口最后一根旧或相同的 K 线不进窗口、也不更新逐根状态（返回 False）。"""
    bot = make_bot(build_strategy(load_strategy_class("MACross"), {}, market_type=MarketType.FUTURES))
    bot.load_history(btc_bars.iloc[:300])
    last = btc_bars.iloc[299][["timestamp", "open", "high", "low", "close", "volume"]].tolist()
    assert not bot.add_bar(last)
    assert not bot.add_bar(btc_bars.iloc[10][["timestamp", "open", "high", "low", "close", "volume"]].tolist())
    assert len(bot.bars) == 300 and bot.bars[-1, 0] == last[0]


async def test_an_incremental_strategy_that_raises_only_stops_its_own_instance(start_engine):
    """真实引擎：ExplodesLater（逐根形式，预热之后第 3 根抛异常）进入 error 并记下原因，Flip 照常交易。"""
    handle = await start_engine([flip(), {"name": "later", "symbol": "ETH/USDT", "interval": "1m",
                                          "class": "ExplodesLater", "params": {"fuse": 303}}])
    bots = handle.engine.bots
    await wait_for(lambda: bots["later"].state.status.value == "error", 20, "the exploding instance in error")
    assert "boom later" in bots["later"].state.error
    assert bots["flip_btc"].strategy.is_incremental
    orders = len(handle.engine.orders.orders)
    await wait_for(lambda: len(handle.engine.orders.orders) >= orders + 2, 20, "flip keeps trading")
    assert bots["flip_btc"].state.status.value == "running"
