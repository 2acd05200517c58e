"""回测屏的图表（plotext，经 textual-plotext）：价格与买卖点、权益曲线、回撤，以及两次运行的权益对比。

点数多时先降采样（report.charts.thin_rows），横轴为相对起点的天数，与 `tradeterm backtest` 打印的图一致。
部件只画传进来的数据，不读日志库、不跑回测。
"""

from __future__ import annotations

import numpy as np
from textual_plotext import PlotextPlot

from tradeterm.backtest.results import InstanceResult
from tradeterm.report.charts import MAX_MARKERS, thin_rows, trade_markers

# 一天的毫秒数（横轴单位换算）
DAY_MS = 86_400_000
# 对比图里两条曲线的颜色（第一次运行、第二次运行）
COMPARE_COLORS = ("cyan", "orange")


def days_since(ts: np.ndarray, origin: int) -> list[float]:
    """UTC 毫秒时间戳 -> 相对 origin 的天数（横轴）。"""
    return ((np.asarray(ts, dtype=np.int64) - origin) / DAY_MS).tolist()


class BacktestPriceChart(PlotextPlot):
    """一个实例的收盘价折线，买点画绿色 ▲、卖点画红色 ▼（交易很多时均匀抽取）。"""

    def show(self, instance: InstanceResult | None) -> None:
        """重画；instance 为 None 时只显示提示。"""
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        if instance is None or not len(instance.timestamps):
            plt.title("Price - run a backtest")
            self.refresh()
            return
        origin = int(instance.timestamps[0])
        rows = thin_rows(len(instance.timestamps))
        plt.plot(days_since(instance.timestamps[rows], origin), instance.close[rows].tolist(), marker="braille")
        buys, sells = trade_markers(instance)
        for points, marker, color in ((buys, "▲", "green"), (sells, "▼", "red")):
            if points:
                chosen = [points[i] for i in thin_rows(len(points), MAX_MARKERS)]
                plt.scatter(days_since(np.array([p[0] for p in chosen]), origin), [p[1] for p in chosen],
                            marker=marker, color=color)
        plt.title(f"{instance.symbol} {instance.timeframe} close, buys ▲ sells ▼ (x: days)")
        self.refresh()


class CurveChart(PlotextPlot):
    """一条或几条曲线（权益、回撤、两次运行的权益对比），横轴为相对第一条曲线起点的天数。"""

    def show(self, title: str, curves: list[tuple[str, np.ndarray, np.ndarray]],
             colors: tuple[str, ...] = COMPARE_COLORS) -> None:
        """重画：curves 为 [(图例, 时间戳 UTC 毫秒, 数值)]；没有曲线时只显示标题。"""
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(title)
        curves = [c for c in curves if len(c[1])]
        if curves:
            origin = min(int(ts[0]) for _, ts, _ in curves)
            for index, (label, ts, values) in enumerate(curves):
                rows = thin_rows(len(ts))
                plt.plot(days_since(ts[rows], origin), np.asarray(values)[rows].tolist(), marker="braille",
                         label=label if len(curves) > 1 else None, color=colors[index % len(colors)])
        self.refresh()
