"""回测绩效指标。纯函数，无 I/O。

年化规则（README 中写明）：
- 收益序列是逐根 K 线的权益收益 r_t = E_t / E_{t-1} - 1，E_0 为初始资金，E_t 为第 t 根收盘时的权益；
- 每年的周期数 = 365 天 / K 线周期（加密市场全年无休，一年按 365 天），如 1m 为 525,600；
- 无风险利率为 0；
- 年化波动率 = std(r, ddof=1) * sqrt(每年周期数)；Sharpe = mean(r) / std(r, ddof=1) * sqrt(每年周期数)；
- Sortino = mean(r) / 下行偏差 * sqrt(每年周期数)，下行偏差 = sqrt(mean(min(r, 0)^2))（对全部周期求平均）；
- CAGR = (期末权益 / 初始资金)^(1 / 年数) - 1，年数 = K 线根数 * 周期 / 365 天；
- 最大回撤 = max(1 - E_t / max_{s<=t} E_s)，以正的小数表示（0.25 = 25%）；回撤持续时间为从前高到重新创新高
  （或到结束）的最长 K 线根数；Calmar = CAGR / 最大回撤。
交易指标只统计已平仓交易（未平仓的那笔单独报告）；盈亏为扣除两边手续费后的净额。
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from tradeterm.backtest.results import Trade
from tradeterm.config.markets import timeframe_ms

# 一年的毫秒数（按 365 天）
YEAR_MS = 365 * 86_400_000
# 指标名 -> 表格里的英文标签与格式（pct 百分比、money 金额、num 小数、int 整数、bars K 线根数）
METRIC_LABELS: dict[str, tuple[str, str]] = {
    "starting_cash": ("Starting cash", "money"),
    "final_equity": ("Final equity", "money"),
    "total_return": ("Total return", "pct"),
    "cagr": ("CAGR", "pct"),
    "volatility": ("Annualized volatility", "pct"),
    "sharpe": ("Sharpe ratio", "num"),
    "sortino": ("Sortino ratio", "num"),
    "max_drawdown": ("Max drawdown", "pct"),
    "max_drawdown_bars": ("Max drawdown duration (bars)", "int"),
    "calmar": ("Calmar ratio", "num"),
    "num_trades": ("Closed trades", "int"),
    "open_trades": ("Open trades (marked)", "int"),
    "win_rate": ("Win rate", "pct"),
    "profit_factor": ("Profit factor", "num"),
    "avg_win": ("Average win", "money"),
    "avg_loss": ("Average loss", "money"),
    "expectancy": ("Expectancy per trade", "money"),
    "exposure": ("Exposure (time in market)", "pct"),
    "fees": ("Fees paid", "money"),
}


def periods_per_year(timeframe: str) -> float:
    """每年的 K 线根数：365 天除以周期。"""
    return YEAR_MS / timeframe_ms(timeframe)


def bar_returns(equity: np.ndarray, starting_cash: float) -> np.ndarray:
    """逐根权益收益：以初始资金为 E_0。"""
    curve = np.concatenate([[starting_cash], np.asarray(equity, dtype=np.float64)])
    return curve[1:] / curve[:-1] - 1.0


def drawdown(equity: np.ndarray, starting_cash: float) -> np.ndarray:
    """每根收盘时相对此前最高权益（含初始资金）的回撤，正的小数。"""
    equity = np.asarray(equity, dtype=np.float64)
    peak = np.maximum.accumulate(np.concatenate([[starting_cash], equity]))[1:]
    return 1.0 - equity / peak


def max_drawdown_duration(equity: np.ndarray, starting_cash: float) -> int:
    """最长的水下时间（K 线根数）：从前高之后第一根低于前高的 K 线，到重新回到前高（或结束）。"""
    underwater = drawdown(equity, starting_cash) > 0
    if not underwater.any():
        return 0
    # 向量化（逐根的 Python 循环在一百万根上要 0.25 秒）：两端补“不在水下”，相邻两根不同处依次是每段水下的起点与终点
    edges = np.flatnonzero(np.diff(np.concatenate(([False], underwater, [False])).astype(np.int8)))
    return int((edges[1::2] - edges[::2]).max())


def exposure_mask(bars: int, trades: Sequence[Trade]) -> np.ndarray:
    """每根收盘时是否持仓：已平仓交易为 [开仓行, 离场行)，未平仓交易为 [开仓行, 结束]。"""
    mask = np.zeros(bars, dtype=bool)
    for trade in trades:
        mask[trade.entry_index: bars if trade.is_open else trade.exit_index] = True
    return mask


def _ratio(numerator: float, denominator: float) -> float:
    """安全除法：分母为 0 时返回 NaN（分子也为 0）或带符号的无穷大。"""
    if denominator == 0:
        return math.nan if numerator == 0 else math.copysign(math.inf, numerator)
    return numerator / denominator


def annual_growth(growth: float, years: float) -> float:
    """CAGR：总增长倍数 growth 折算到每年的增长率（小数）；years 为回测覆盖的年数。

    年数为 0 时没有意义（NaN）；亏光（growth <= 0）记为 -1。很短的区间上略有盈利，年化倍数会超出浮点范围
    （40 根 1 分钟 K 线赚 6% 即可）：这时如实给出 +inf，而不是让 `**` 抛 OverflowError 打断整个回测。
    """
    if years == 0:
        return math.nan
    if years < 0 or growth <= 0:
        return -1.0
    try:
        return growth ** (1.0 / years) - 1.0
    except OverflowError:
        return math.inf


def return_metrics(equity: np.ndarray, starting_cash: float, timeframe: str) -> dict[str, float]:
    """权益曲线的指标：总收益、CAGR、年化波动、Sharpe、Sortino、最大回撤与持续时间、Calmar。"""
    equity = np.asarray(equity, dtype=np.float64)
    final = float(equity[-1]) if len(equity) else starting_cash
    returns = bar_returns(equity, starting_cash)
    per_year = periods_per_year(timeframe)
    years = len(equity) * timeframe_ms(timeframe) / YEAR_MS
    growth = final / starting_cash
    cagr = annual_growth(growth, years)
    std = float(np.std(returns, ddof=1)) if len(returns) > 1 else math.nan
    mean = float(np.mean(returns)) if len(returns) else math.nan
    downside = float(np.sqrt(np.mean(np.minimum(returns, 0.0) ** 2))) if len(returns) else math.nan
    max_dd = float(np.max(drawdown(equity, starting_cash))) if len(equity) else 0.0
    return {
        "starting_cash": float(starting_cash),
        "final_equity": final,
        "total_return": growth - 1.0,
        "cagr": cagr,
        "volatility": std * math.sqrt(per_year),
        "sharpe": _ratio(mean, std) * math.sqrt(per_year),
        "sortino": _ratio(mean, downside) * math.sqrt(per_year),
        "max_drawdown": max_dd,
        "max_drawdown_bars": max_drawdown_duration(equity, starting_cash),
        "calmar": _ratio(cagr, max_dd),
    }


def trade_metrics(trades: Sequence[Trade]) -> dict[str, float]:
    """交易指标（只算已平仓的）：笔数、胜率、盈亏比（profit factor）、平均盈利/亏损、期望值、手续费（全部交易）。"""
    closed = [t.pnl for t in trades if not t.is_open]
    wins = [p for p in closed if p > 0]
    losses = [p for p in closed if p <= 0]
    gross_loss = -sum(losses)
    return {
        "num_trades": len(closed),
        "open_trades": sum(1 for t in trades if t.is_open),
        "win_rate": len(wins) / len(closed) if closed else math.nan,
        "profit_factor": _ratio(sum(wins), gross_loss) if closed else math.nan,
        "avg_win": float(np.mean(wins)) if wins else math.nan,
        "avg_loss": float(np.mean(losses)) if losses else math.nan,
        "expectancy": float(np.mean(closed)) if closed else math.nan,
        "fees": float(sum(t.fees for t in trades)),
    }


def compute_metrics(equity: np.ndarray, starting_cash: float, timeframe: str, trades: Sequence[Trade],
                    in_market: np.ndarray | None = None) -> dict[str, float]:
    """全部指标，键与 METRIC_LABELS 相同。in_market 为每根 K 线是否持仓；缺省由交易推出（单一时间轴时）。"""
    if in_market is None:
        in_market = exposure_mask(len(equity), trades)
    out = return_metrics(equity, starting_cash, timeframe)
    out.update(trade_metrics(trades))
    out["exposure"] = float(np.mean(in_market)) if len(in_market) else 0.0
    return {key: out[key] for key in METRIC_LABELS}


def portfolio_exposure(result) -> np.ndarray:
    """组合时间轴上每个时刻是否有任一实例持仓：各实例的持仓标记按开盘时间向前填充到组合时间轴
    （持仓从入场那根的开盘起算，所以用开盘时间对齐；组合时间轴见 backtest.engine.portfolio_curve）。"""
    mask = np.zeros(len(result.timestamps), dtype=bool)
    for instance in result.instances:
        own = exposure_mask(len(instance.timestamps), instance.trades)
        rows = np.searchsorted(instance.timestamps, result.timestamps, side="right") - 1
        mask |= np.where(rows >= 0, own[np.clip(rows, 0, None)], False)
    return mask


def result_metrics(result) -> dict:
    """一个 BacktestResult 的全部指标：{"portfolio": {...}, "instances": {实例名: {...}}}。

    实例指标按实例分到的资金（budget）与它自己的时间轴计算；组合指标按账户初始资金与并集时间轴计算。
    """
    portfolio = compute_metrics(result.equity, result.starting_cash, result.timeframe, result.trades,
                                in_market=portfolio_exposure(result))
    instances = {r.name: compute_metrics(r.equity, r.budget, r.timeframe, r.trades) for r in result.instances}
    return {"portfolio": portfolio, "instances": instances}
