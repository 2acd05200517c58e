"""与同行一致：MACross 10/30 在真实 BTC/USDT 1 分钟线上，0.1% 手续费、下一根开盘成交、全仓（含手续费）、
无滑点、无交易所规则，结果与 backtesting.py（FractionalBacktest）和 vectorbt（Portfolio.from_signals）一致：
交易笔数相同、每笔的入场/离场 K 线相同、期末权益相对误差在 1e-6 以内。

同行的约定与我们不同之处，都把同行配置成我们的约定（注释说明），从不反过来改我们的模型。
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from tradeterm.backtest.broker import FeeSchedule
from tradeterm.backtest.engine import BacktestSettings, InstanceSpec, run_backtest
from tradeterm.strategy.loader import build_strategy, load_strategy_class

# 整个模块都是同行对比测试（常规测试也会运行；`-m "not peer"` 可跳过）
pytestmark = pytest.mark.peer
# 同行对比用的设置：初始资金（USDT）与费率（小数）
CASH, FEE = 10_000.0, 0.001


@pytest.fixture(scope="module")
def ours(btc_bars):
    """我们的回测结果与 MACross 的信号表（同行用同一组信号，保证比较的是成交与记账而不是指标实现）。"""
    strategy = build_strategy(load_strategy_class("MACross"), {"fast": 10, "slow": 30})
    result = run_backtest([InstanceSpec(strategy, btc_bars)],
                          BacktestSettings(cash=CASH, fees=FeeSchedule(FEE, FEE, 0.0)))
    return result, strategy.compute(btc_bars)


def test_agrees_with_vectorbt_from_signals(ours, btc_bars):
    """vectorbt：信号后移一根、price=open（即下一根开盘成交），fees=0.001，size=inf（全部现金，手续费内含）。"""
    import vectorbt as vbt

    result, frame = ours
    # vectorbt 在信号所在那根按 price 成交；我们在下一根开盘成交，所以把信号后移一根并用开盘价
    entries = frame["enter_long"].shift(1, fill_value=False).to_numpy()
    exits = frame["exit_long"].shift(1, fill_value=False).to_numpy()
    portfolio = vbt.Portfolio.from_signals(
        close=btc_bars["close"].to_numpy(), entries=entries, exits=exits, price=btc_bars["open"].to_numpy(),
        fees=FEE, size=np.inf, init_cash=CASH, freq="1min")
    records = portfolio.trades.records
    trades = result.instances[0].trades
    assert len(records) == len(trades)
    assert records["entry_idx"].tolist() == [t.entry_index for t in trades]
    # vectorbt 把期末仍持有的仓位的 exit_idx 记为最后一根，与我们标记未平仓交易的行号一致
    assert records["exit_idx"].tolist() == [t.exit_index for t in trades]
    assert float(portfolio.final_value()) == pytest.approx(float(result.equity[-1]), rel=1e-6)
    # 逐根权益也一致（vectorbt 的 value = 现金 + 持仓 * 收盘价）
    np.testing.assert_allclose(portfolio.value().to_numpy(), result.equity, rtol=1e-9)


def test_agrees_with_backtesting_py_fractional(ours, btc_bars):
    """backtesting.py：FractionalBacktest（分数数量），commission=0.001，默认就是下一根开盘成交（trade_on_close=False）。

    约定差异与对应配置：
    - 它的 size 取 (0, 1) 的比例而不接受 1；全仓用 0.9999999999（差别 1e-10，远小于容差）；
    - 它按 fractional_unit 向下取整数量；取 1e-12（远小于任何真实步长），相当于不取整，与裸 CSV 的“无规则”一致；
    - 它的 size 用“价格 *（1 + 佣金）”计算可买数量，与我们的全仓（含手续费）相同；
    - 期末仍持有的仓位默认不计入 _trades（finalize_trades=False），与我们“标记但不平仓”一致，另行比较入场。
    """
    from backtesting import Strategy as PeerStrategy
    from backtesting.lib import FractionalBacktest

    result, frame = ours
    enter = frame["enter_long"].to_numpy()
    leave = frame["exit_long"].to_numpy()

    class Replay(PeerStrategy):
        """按我们算好的信号下单：先平后开。"""

        def init(self):
            """无指标。"""

        def next(self):
            """第 t 根收盘时的信号；backtesting.py 在下一根开盘成交。"""
            row = len(self.data) - 1
            if leave[row] and self.position.is_long:
                self.position.close()
            if enter[row] and not self.position:
                self.buy(size=0.9999999999)

    data = btc_bars.rename(columns=str.capitalize).set_index(pd.to_datetime(btc_bars["timestamp"], unit="ms"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = FractionalBacktest(data[["Open", "High", "Low", "Close", "Volume"]], Replay, cash=CASH,
                                   commission=FEE, fractional_unit=1e-12).run()
    peer = stats["_trades"]
    trades = result.instances[0].trades
    closed = [t for t in trades if not t.is_open]
    assert len(peer) == len(closed)
    assert peer["EntryBar"].tolist() == [t.entry_index for t in closed]
    assert peer["ExitBar"].tolist() == [t.exit_index for t in closed]
    np.testing.assert_allclose(peer["EntryPrice"].to_numpy(), [t.entry_price for t in closed], rtol=1e-12)
    assert float(stats["Equity Final [$]"]) == pytest.approx(float(result.equity[-1]), rel=1e-6)


def test_macross_signals_match_vectorbt_moving_averages(ours, btc_bars):
    """信号本身也独立核对：用 vectorbt 的 MA 指标自己算 10/30 均线交叉，与我们 MACross 的进出信号逐根相同。

    上面两个同行测试用的是我们算好的信号（比较成交与记账）；这里补上“信号从哪来”的独立实现，
    所以整条链路（指标 -> 交叉 -> 成交 -> 权益）都有同行对照。
    """
    import vectorbt as vbt

    _, frame = ours
    close = btc_bars["close"]
    fast = vbt.MA.run(close, 10).ma
    slow = vbt.MA.run(close, 30).ma
    # 上穿：本根 fast > slow 且上一根 fast <= slow（与 README 的定义相同）；下穿对称
    entries = ((fast > slow) & (fast.shift(1) <= slow.shift(1))).to_numpy()
    exits = ((fast < slow) & (fast.shift(1) >= slow.shift(1))).to_numpy()
    assert entries.sum() > 100
    np.testing.assert_array_equal(frame["enter_long"].to_numpy(), entries)
    np.testing.assert_array_equal(frame["exit_long"].to_numpy(), exits)
