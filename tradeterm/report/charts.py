"""终端图表（plotext）：价格与买卖点、权益曲线、回撤。返回字符串，由调用方打印。

点数多时先降采样到大约图宽的几倍（plotext 逐点绘制，3 万点以上会很慢，终端也显示不出更多细节）。
"""

from __future__ import annotations

import numpy as np
import plotext as plt

from tradeterm.backtest.results import BacktestResult, InstanceResult
from tradeterm.report.metrics import drawdown

# 每条曲线最多画这么多点（降采样后）
MAX_POINTS = 600
# 买点、卖点各最多画这么多个（交易很多时均匀抽取，标题里注明）
MAX_MARKERS = 150


def thin_rows(count: int, limit: int = MAX_POINTS) -> np.ndarray:
    """均匀挑选不超过 limit 个行号（含首尾）。"""
    if count <= limit:
        return np.arange(count)
    return np.unique(np.linspace(0, count - 1, limit).astype(np.int64))


def _days(ts: np.ndarray, origin: int) -> list[float]:
    """时间戳（UTC 毫秒）转成相对起点的天数，作横轴。"""
    return ((np.asarray(ts, dtype=np.int64) - origin) / 86_400_000).tolist()


def render_charts(result: BacktestResult, width: int = 100, height: int = 14, *, color: bool = True) -> str:
    """三张图叠在一起：第一个实例的价格（绿色 ▲ 买、红色 ▼ 卖）、组合权益、组合回撤（%）。
    color=False 时去掉 ANSI 颜色码（输出进管道或文件时，颜色码只是乱码）。"""
    origin = int(result.timestamps[0]) if len(result.timestamps) else 0
    parts = [_price_chart(result.instances[0], origin, width, height)] if result.instances else []
    rows = thin_rows(len(result.timestamps))
    parts.append(_line_chart(_days(result.timestamps[rows], origin), result.equity[rows].tolist(),
                             "Equity (quote currency)", width, height))
    dd = -100.0 * drawdown(result.equity, result.starting_cash)
    parts.append(_line_chart(_days(result.timestamps[rows], origin), dd[rows].tolist(), "Drawdown (%)",
                             width, height))
    charts = "\n".join(parts)
    return charts if color else plt.uncolorize(charts)


def _line_chart(x: list[float], y: list[float], title: str, width: int, height: int) -> str:
    """一张单线图，横轴为天数。"""
    plt.clf()
    plt.plotsize(width, height)
    plt.theme("clear")
    plt.plot(x, y)
    plt.title(title)
    plt.xlabel("days since start")
    return plt.build()


def trade_markers(instance: InstanceResult) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """一个实例的买点与卖点：[(成交时间 UTC 毫秒, 成交价)]。多仓开仓/空仓平仓为买，多仓平仓/空仓开仓为卖。"""
    buys: list[tuple[int, float]] = []
    sells: list[tuple[int, float]] = []
    for trade in instance.trades:
        (buys if trade.side > 0 else sells).append((trade.entry_ts, trade.entry_price))
        if not trade.is_open:
            (sells if trade.side > 0 else buys).append((trade.exit_ts, trade.exit_price))
    return buys, sells


def _price_chart(instance: InstanceResult, origin: int, width: int, height: int) -> str:
    """价格线加买卖点：多仓开仓/空仓平仓为买（▲），多仓平仓/空仓开仓为卖（▼）。"""
    plt.clf()
    plt.plotsize(width, height)
    plt.theme("clear")
    rows = thin_rows(len(instance.timestamps))
    plt.plot(_days(instance.timestamps[rows], origin), instance.close[rows].tolist())
    buys, sells = trade_markers(instance)
    for points, marker, color in ((buys, "▲", "green"), (sells, "▼", "red")):
        if points:
            chosen = [points[i] for i in thin_rows(len(points), MAX_MARKERS)]
            plt.scatter(_days(np.array([p[0] for p in chosen]), origin), [p[1] for p in chosen],
                        marker=marker, color=color)
    sampled = " (sampled)" if max(len(buys), len(sells)) > MAX_MARKERS else ""
    plt.title(f"{instance.symbol} {instance.timeframe} close with buys (▲) and sells (▼){sampled} of {instance.name}")
    plt.xlabel("days since start")
    return plt.build()
