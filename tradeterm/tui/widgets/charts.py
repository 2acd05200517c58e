"""图表（plotext，经 textual-plotext）：选中实例的 K 线与买卖标记，以及账户权益曲线与回撤。

只在数据变了时由主屏重画（最多每秒一次），图表再多也不拖慢界面。
"""

from __future__ import annotations

from bisect import bisect_right

from textual_plotext import PlotextPlot

from tradeterm.tui.model import Candle, FillMark

# K 线图最多画的根数（窗格越宽越能看清，太多会挤成一团）
MAX_CANDLES = 80


class PriceChart(PlotextPlot):
    """选中实例的 K 线图；买入成交画绿色 ▲，卖出画红色 ▼（位置为成交所在的 K 线与成交价）。"""

    def show(self, title: str, candles: list[Candle], fills: list[FillMark]) -> None:
        """重画：candles 为按时间先后的已收盘 K 线，fills 为同一交易对的成交。"""
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(title)
        candles = candles[-MAX_CANDLES:]
        if not candles:
            plt.title(f"{title} - waiting for closed bars")
            self.refresh()
            return
        xs = list(range(len(candles)))
        plt.candlestick(xs, {"Open": [c.open for c in candles], "Close": [c.close for c in candles],
                             "High": [c.high for c in candles], "Low": [c.low for c in candles]})
        starts = [c.ts for c in candles]
        for side, marker, color in (("buy", "▲", "green"), ("sell", "▼", "red")):
            points = [(bisect_right(starts, f.ts) - 1, f.price) for f in fills
                      if f.side == side and f.ts >= starts[0]]
            if points:
                plt.scatter([x for x, _ in points], [y for _, y in points], marker=marker, color=color)
        plt.xticks([])
        self.refresh()


class EquityChart(PlotextPlot):
    """账户权益曲线；标题里给出当前回撤（相对曲线上的最高点）。"""

    def show(self, points: list[tuple[int, float]]) -> None:
        """重画：points 为 (UTC 毫秒, 权益) 的采样。"""
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        values = [v for _, v in points]
        if len(values) < 2:
            plt.title("Equity - waiting for samples")
            self.refresh()
            return
        peak = max(values)
        drawdown = (1.0 - values[-1] / peak) if peak > 0 else 0.0
        plt.title(f"{values[-1]:,.2f}  DD {drawdown * 100:.2f}%")
        plt.plot(list(range(len(values))), values, marker="braille")
        plt.xticks([])
        self.refresh()
