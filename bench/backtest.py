"""回测基准（脚本，不是测试）：在约 100 万根 1 分钟 K 线上跑 MACross，比较几种实现的速度。

K 线由真实的 BTC/USDT 文件重复拼接而成：每一份的时间戳顺延，价格按比例缩放，使它从上一份的最后收盘价开始。
测量（同一次运行里）：快速路径（含指标计算）、逐事件路径（含信号预计算）、backtesting.py、vectorbt
（vectorbt 也产出逐根权益曲线与交易记录，与我们的结果对等；快的几项各跑 REPEAT 次取最短，backtesting.py 跑 1 次），
以及“裸 numba 循环”：一个 numba 函数在同样的 K 线上用滑动和算两条均线、判断交叉、全仓在下一根开盘成交、写出逐根
权益与交易的开平仓行——同样的产出所需的最少工作，是快速路径的参照（issue 13：快速路径不超过它的 3 倍）。
快速路径另拆出 strategy.compute（指标 + 策略的 pandas 信号）所占的时间，说明剩下的差距在哪里。
另测从本地 K 线缓存（CandleCache，未压缩的 .npz）读入 100 万根 K 线并转成 DataFrame 的时间。numba 与 vectorbt 的
编译先在小数据上预热，不计入计时；表头注明内核用的是预编译模块（aot）还是 njit（见 tradeterm/jit.py）。
输出一张表，最后一行是 JSON。

用法：python bench/backtest.py [--bars N] [--skip-peers]
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from numba import njit

from tradeterm.backtest.broker import FeeSchedule
from tradeterm.backtest.engine import BacktestSettings, InstanceSpec, run_backtest
from tradeterm.data.cache import CandleCache
from tradeterm.data.csv import load_ohlcv_csv
from tradeterm.backtest.fast import simulate
from tradeterm.strategy.base import Strategy
from tradeterm.strategy.loader import build_strategy, load_strategy_class

# 真实行情文件（共享目录，不复制进仓库）
SOURCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "binanceus_BTCUSDT_1m_2023-03.csv"
# 默认 K 线根数
DEFAULT_BARS = 1_000_000
# MACross 参数（K 线根数）
FAST, SLOW = 10, 30
# 快的实现（我们的两条路径、裸循环、vectorbt）各跑几次取最短；backtesting.py 太慢，只跑一次
REPEAT = 5
# 初始资金（USDT）与费率（小数）；费率取 0：2 万多笔交易下 0.1% 的手续费会把权益磨到接近 0，三方期末权益就无从比较
CASH, FEE = 10_000.0, 0.0


def repeated_bars(count: int) -> pd.DataFrame:
    """把真实行情重复拼到 count 根：时间顺延，价格按比例缩放到从上一份的收盘价开始。"""
    base = load_ohlcv_csv(SOURCE)
    prices = base[["open", "high", "low", "close"]].to_numpy()
    step = int(base["timestamp"].iloc[1] - base["timestamp"].iloc[0])
    copies, scale, parts = -(-count // len(base)), 1.0, []
    for k in range(copies):
        scaled = prices * scale
        parts.append(np.column_stack([scaled, base["volume"].to_numpy()]))
        # 下一份从这一份的最后收盘价开始
        scale = scaled[-1, 3] / prices[0, 0]
    data = np.concatenate(parts)[:count]
    ts = int(base["timestamp"].iloc[0]) + step * np.arange(count, dtype=np.int64)
    return pd.DataFrame({"timestamp": ts, "open": data[:, 0], "high": data[:, 1], "low": data[:, 2],
                         "close": data[:, 3], "volume": data[:, 4]})


def timed(function, repeat: int = 1):
    """运行 repeat 次 function（每次之前先做一次完整的垃圾回收），返回 (最快那一次的结果, 最短秒数)。

    取最快那一次的结果：快速路径的结果里带着它自己的 strategy.compute 耗时，拆分要与总数出自同一次运行。"""
    best, kept = float("inf"), None
    for _ in range(repeat):
        value = None
        gc.collect()
        start = time.perf_counter()
        value = function()
        seconds = time.perf_counter() - start
        if seconds < best:
            best, kept = seconds, value
    return kept, best


def run_ours(bars: pd.DataFrame, path: str):
    """我们的回测（fast 或 event），全仓、0.1% 手续费、无滑点、无规则。"""
    strategy = build_strategy(load_strategy_class("MACross"), {"fast": FAST, "slow": SLOW})
    settings = BacktestSettings(cash=CASH, fees=FeeSchedule(FEE, FEE, 0.0), path=path)
    return run_backtest([InstanceSpec(strategy, bars)], settings)


@njit(cache=True)
def bare_loop(open_, close, fast, slow, cash, fee):
    """裸 numba 循环：滑动和算 SMA(fast)、SMA(slow)，快线上穿开多、下穿平多，全仓在下一根开盘成交。

    返回 (逐根收盘权益, 开仓行, 平仓行)，计价货币与 K 线行号；最后一笔未平仓的不计入交易（与快速路径同样的产出）。"""
    n = close.shape[0]
    equity = np.empty(n)
    entries = np.empty(n // 2 + 1, dtype=np.int64)
    exits = np.empty(n // 2 + 1, dtype=np.int64)
    fast_sum = 0.0
    slow_sum = 0.0
    previous = np.nan
    amount = 0.0
    pending = 0
    trades = 0
    for i in range(n):
        # 开盘：执行上一根收盘时的信号
        if pending == 1 and amount == 0.0:
            amount = cash / (open_[i] * (1.0 + fee))
            cash -= amount * open_[i] * (1.0 + fee)
            entries[trades] = i
        elif pending == -1 and amount > 0.0:
            cash += amount * open_[i] * (1.0 - fee)
            amount = 0.0
            exits[trades] = i
            trades += 1
        pending = 0
        # 收盘：更新两条均线，判断交叉
        fast_sum += close[i]
        slow_sum += close[i]
        if i >= fast:
            fast_sum -= close[i - fast]
        if i >= slow:
            slow_sum -= close[i - slow]
        if i >= slow - 1:
            gap = fast_sum / fast - slow_sum / slow
            if gap > 0.0 and previous <= 0.0:
                pending = 1
            elif gap < 0.0 and previous >= 0.0:
                pending = -1
            previous = gap
        equity[i] = cash + amount * close[i]
    return equity, entries[:trades].copy(), exits[:trades].copy()


def with_compute_time(bars: pd.DataFrame):
    """快速路径跑一次，同时量出其中 strategy.compute（指标 + 策略的 pandas 信号）花的秒数；返回 (结果, 秒数)。

    在同一次运行里量（给 Strategy.compute 临时套上计时器），机器繁忙时拆分仍与总数对得上。"""
    spent = [0.0]
    original = Strategy.compute

    def timed_compute(self, df):
        """计时的 compute。"""
        start = time.perf_counter()
        try:
            return original(self, df)
        finally:
            spent[0] += time.perf_counter() - start

    Strategy.compute = timed_compute
    try:
        result = run_ours(bars, "fast")
    finally:
        Strategy.compute = original
    return result, spent[0]


def run_bare_loop(bars: pd.DataFrame):
    """裸 numba 循环（含从 DataFrame 取出连续数组）；返回 (期末权益, 交易数)。"""
    open_ = np.ascontiguousarray(bars["open"].to_numpy(dtype=np.float64))
    close = np.ascontiguousarray(bars["close"].to_numpy(dtype=np.float64))
    equity, entries, _ = bare_loop(open_, close, FAST, SLOW, CASH, FEE)
    return float(equity[-1]), len(entries)


def run_vectorbt(bars: pd.DataFrame):
    """vectorbt：MA 指标 + 交叉 + from_signals（信号后移一根、按开盘价成交），与我们的约定相同。"""
    import vectorbt as vbt

    close = bars["close"]
    fast = vbt.MA.run(close, FAST).ma
    slow = vbt.MA.run(close, SLOW).ma
    entries = (fast > slow) & (fast.shift(1) <= slow.shift(1))
    exits = (fast < slow) & (fast.shift(1) >= slow.shift(1))
    portfolio = vbt.Portfolio.from_signals(
        close=close.to_numpy(), entries=entries.shift(1, fill_value=False).to_numpy(),
        exits=exits.shift(1, fill_value=False).to_numpy(), price=bars["open"].to_numpy(), fees=FEE, size=np.inf,
        init_cash=CASH, freq="1min")
    # 与我们的结果对等：逐根权益曲线与交易记录（我们的 run_backtest 返回的就是这两样）
    equity = portfolio.value().to_numpy()
    assert len(portfolio.trades.records) > 0
    return float(equity[-1])


def run_backtesting_py(bars: pd.DataFrame):
    """backtesting.py（FractionalBacktest）：self.I 计算 SMA，next() 里判断交叉，下一根开盘成交。"""
    from backtesting import Strategy as PeerStrategy
    from backtesting.lib import FractionalBacktest, crossover

    def sma(values, period):
        """简单移动平均（pandas rolling）。"""
        return pd.Series(values).rolling(period).mean().to_numpy()

    class Cross(PeerStrategy):
        """均线交叉：上穿开多，下穿平多。"""

        def init(self):
            """注册两条均线。"""
            # 快线，计价货币
            self.fast = self.I(sma, self.data.Close, FAST)
            # 慢线，计价货币
            self.slow = self.I(sma, self.data.Close, SLOW)

        def next(self):
            """先平后开。"""
            if crossover(self.slow, self.fast) and self.position.is_long:
                self.position.close()
            if crossover(self.fast, self.slow) and not self.position:
                self.buy(size=0.9999999999)

    data = bars.rename(columns=str.capitalize).set_index(pd.to_datetime(bars["timestamp"], unit="ms"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = FractionalBacktest(data[["Open", "High", "Low", "Close", "Volume"]], Cross, cash=CASH,
                                   commission=FEE, fractional_unit=1e-12).run()
    return float(stats["Equity Final [$]"])


def load_cache_seconds(bars: pd.DataFrame) -> float:
    """把 K 线存进真正的本地 K 线缓存（tradeterm.data.cache.CandleCache，临时目录），计时读回成 DataFrame。"""
    with tempfile.TemporaryDirectory() as folder:
        cache = CandleCache(folder)
        step = int(bars["timestamp"].iloc[1] - bars["timestamp"].iloc[0])
        first, last = int(bars["timestamp"].iloc[0]), int(bars["timestamp"].iloc[-1])
        cache.add("bench", "BTC/USDT", "1m", bars, (first, last + step))

        def load():
            """回测读取缓存的方式：CandleCache.load 再转成标准 OHLCV 表。"""
            return cache.load("bench", "BTC/USDT", "1m").to_frame()

        loaded, seconds = timed(load, REPEAT)
        assert len(loaded) == len(bars)
        return seconds


def main(argv: list[str] | None = None) -> int:
    """运行基准并打印表格与一行 JSON。"""
    parser = argparse.ArgumentParser(description="Backtest speed benchmark (MACross on repeated real 1m candles)")
    parser.add_argument("--bars", type=int, default=DEFAULT_BARS, help=f"number of 1m bars (default {DEFAULT_BARS})")
    parser.add_argument("--skip-peers", action="store_true", help="skip backtesting.py and vectorbt")
    args = parser.parse_args(argv)
    bars = repeated_bars(args.bars)
    warm = bars.iloc[:5_000].reset_index(drop=True)
    # 预热：numba 编译（或从缓存加载）不计入计时
    run_ours(warm, "fast")
    run_ours(warm, "event")
    run_bare_loop(warm)
    rows: dict[str, tuple[float, float]] = {}
    (bare_final, bare_trades), rows["bare numba loop"] = _measure(lambda: run_bare_loop(bars), len(bars), REPEAT)
    (fast, compute_seconds), rows["tradeterm fast path"] = _measure(lambda: with_compute_time(bars), len(bars),
                                                                     REPEAT)
    rows["  of which strategy.compute"] = (compute_seconds, len(bars) / compute_seconds)
    event, rows["tradeterm event path"] = _measure(lambda: run_ours(bars, "event"), len(bars), REPEAT)
    assert fast.instances[0].trades == event.instances[0].trades, "fast and event paths disagree"
    finals = {"tradeterm": float(fast.equity[-1]), "bare numba loop": bare_final}
    if not args.skip_peers:
        run_vectorbt(warm)
        finals["vectorbt"], rows["vectorbt"] = _measure(lambda: run_vectorbt(bars), len(bars), REPEAT)
        finals["backtesting.py"], rows["backtesting.py"] = _measure(lambda: run_backtesting_py(bars), len(bars))
    cache = load_cache_seconds(bars)
    kernels = simulate.implementation
    print(f"MACross {FAST}/{SLOW} on {len(bars):,} 1m bars, {len(fast.instances[0].trades):,} trades "
          f"({bare_trades:,} in the bare loop); kernels: {kernels}")
    print(f"{'implementation':<30}{'seconds':>10}{'bars/s':>14}")
    for name, (seconds, rate) in rows.items():
        print(f"{name:<30}{seconds:>10.3f}{rate:>14,.0f}")
    fast_seconds = rows["tradeterm fast path"][0]
    ratios = {"fast_vs_bare_loop": fast_seconds / rows["bare numba loop"][0],
              "fast_without_compute_vs_bare_loop": (fast_seconds - compute_seconds) / rows["bare numba loop"][0]}
    print(f"fast path is {ratios['fast_vs_bare_loop']:.1f}x the bare numba loop (target <= 3x); without "
          f"strategy.compute (indicators + the strategy's pandas signals) {ratios['fast_without_compute_vs_bare_loop']:.1f}x")
    if "vectorbt" in rows:
        ratios["fast_vs_vectorbt"] = rows["vectorbt"][0] / rows["tradeterm fast path"][0]
        ratios["event_vs_backtesting_py"] = rows["backtesting.py"][0] / rows["tradeterm event path"][0]
        print(f"fast path is {ratios['fast_vs_vectorbt']:.1f}x faster than vectorbt (target >= 2x)")
        print(f"event path is {ratios['event_vs_backtesting_py']:.1f}x faster than backtesting.py (target >= 5x)")
    print(f"load {len(bars):,} bars from the candle cache: {cache:.3f} s (target < 1 s)")
    print("final equity: " + ", ".join(f"{k} {v:,.4f}" for k, v in finals.items()))
    print(json.dumps({"bars": len(bars), "kernels": kernels, "seconds": {k.strip(): round(v[0], 4) for k, v in rows.items()},
                      "bars_per_second": {k.strip(): round(v[1]) for k, v in rows.items()},
                      "ratios": {k: round(v, 2) for k, v in ratios.items()}, "cache_load_seconds": round(cache, 4),
                      "final_equity": finals}))
    return 0


def _measure(function, count: int, repeat: int = 1) -> tuple[object, tuple[float, float]]:
    """计时（repeat 次取最短），返回 (结果, (秒数, 每秒 K 线数))；count 为 K 线根数。"""
    value, seconds = timed(function, repeat)
    return value, (seconds, count / seconds)


if __name__ == "__main__":
    sys.exit(main())
