"""交易与盈亏屏（主屏按 t）：模拟盘/实盘的已平仓交易（本次运行与更早的，都来自日志库）、按日/周/月的已实现盈亏
（plotext 柱状图 + 表）、按实例与按交易对的汇总，以及胜率、最好与最差一笔。

数据经引擎的 `trades` 与 `pnl` 命令取得（与 `tradeterm ctl trades` / `ctl pnl` 同一份），在后台 worker 里取，界面不等；
屏幕打开期间每 REFRESH_S 秒刷新一次，r 立刻刷新。时间是成交的交易所时间（UTC）；沙盒回放历史行情时是行情的日期。
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Static, TabbedContent, TabPane
from textual_plotext import PlotextPlot

from tradeterm.errors import UserError
from tradeterm.tui import format as fmt
from tradeterm.tui.widgets.banner import ModeBanner
from tradeterm.tui.widgets.key_bar import KeyBar

# 自动刷新间隔，秒
REFRESH_S = 5.0
# 交易表最多列出的笔数（最近的）
TRADES_SHOWN = 200
# 盈亏柱状图横轴最多的刻度数
MAX_TICKS = 7
# 各周期显示的个数：日 14 天、周 8 周、月 12 个月
PERIOD_COUNTS = {"day": 14, "week": 8, "month": 12}
# 周期 -> 标题里的说法
PERIOD_TITLES = {"day": "Daily", "week": "Weekly", "month": "Monthly"}
# 交易表的列：(列键, 表头)
TRADE_COLUMNS = (("exit", "Exit (UTC)"), ("instance", "Instance"), ("symbol", "Symbol"), ("side", "Side"),
                 ("amount", "Amount"), ("entry_price", "Entry"), ("exit_price", "Exit"), ("fees", "Fees"),
                 ("pnl", "P&L"), ("return", "Return"), ("reason", "Exit reason"))
# 汇总表的列：(列键, 表头)
GROUP_COLUMNS = (("name", "Name"), ("trades", "Trades"), ("win_rate", "Win rate"), ("pnl", "P&L"),
                 ("best", "Best"), ("worst", "Worst"))


def when(ts: int | None) -> str:
    """交易所时间（UTC 毫秒）-> 'YYYY-MM-DD HH:MM'（UTC）。"""
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")


def right(text: str) -> Text:
    """右对齐的格子（数字列）。"""
    return Text(text, justify="right")


def who(instance: str) -> str:
    """实例名；手动订单（空串）显示为 manual。"""
    return instance or "manual"


def summary_line(summary: dict[str, Any], quote: str) -> str:
    """统计的一行：笔数、胜率、净盈亏、手续费、最好与最差、盈亏比。"""
    if not summary.get("trades"):
        return "No closed trades yet."
    rate = summary["win_rate"]
    factor = summary["profit_factor"]
    return (f"{summary['trades']} closed trades · win rate {rate * 100:.1f}% · P&L {fmt.signed(summary['pnl'])} "
            f"{quote} · fees {fmt.money(summary['fees'])} · best {fmt.signed(summary['best'])} · worst "
            f"{fmt.signed(summary['worst'])} · profit factor {'-' if factor is None else f'{factor:.2f}'}")


class PnlChart(PlotextPlot):
    """按周期的已实现盈亏柱状图（盈绿亏红）。"""

    @staticmethod
    def period_is_short(rows: list[dict[str, Any]]) -> bool:
        """周期短于一个月（日、周）：刻度写 MM-DD；按月时写 YYYY-MM。"""
        return len(rows) < 2 or rows[0]["start"][8:] != "01" or rows[1]["start"][8:] != "01"

    def show(self, title: str, rows: list[dict[str, Any]]) -> None:
        """重画：rows 为按时间先后的周期（start、pnl）。"""
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(title)
        if rows:
            values = [row["pnl"] for row in rows]
            xs = list(range(len(rows)))
            plt.bar(xs, values, color=["green" if v >= 0 else "red" for v in values], width=0.6)
            low, high = min(0.0, *values), max(0.0, *values)
            if high > low:  # 纵轴总是含 0（柱子从 0 画起；全为正时 plotext 自己的范围会从最小的柱子开始）
                plt.ylim(low, high)
            # 刻度最多 MAX_TICKS 个（窄窗格里日期会挤成一团），总是含最近的一个周期；日期写 MM-DD 省地方
            step = max(1, -(-len(rows) // MAX_TICKS))
            ticks = xs[::-1][::step][::-1]
            plt.xticks(ticks, [rows[i]["start"][5:] if self.period_is_short(rows) else rows[i]["start"][:7]
                               for i in ticks])
        self.refresh()


class TradesScreen(Screen):
    """交易与盈亏屏；Esc 回主屏。"""

    # 本屏按键（帮助屏 KEYMAP 逐一列出）
    BINDINGS = [
        Binding("escape", "close", "Back"),
        Binding("d", "period('day')", "Daily"),
        Binding("w", "period('week')", "Weekly"),
        Binding("m", "period('month')", "Monthly"),
        Binding("r", "reload", "Refresh"),
        Binding("1", "tab('tab-closed')", "Trades", show=False),
        Binding("2", "tab('tab-pnl')", "P&L", show=False),
        Binding("3", "tab('tab-groups')", "By instance", show=False),
    ]

    def __init__(self) -> None:
        """空屏；数据在挂载后由后台 worker 取。"""
        super().__init__()
        # 当前的汇总周期：day、week 或 month
        self.period = "day"
        # 最近一次取到的 trades 命令结果（测试与刷新用）；None 表示还没取到
        self.trades: dict[str, Any] | None = None
        # 最近一次取到的 pnl 命令结果；None 表示还没取到
        self.pnl: dict[str, Any] | None = None

    def compose(self) -> ComposeResult:
        """横幅、统计行、三个标签页（交易、按周期的盈亏、按实例与交易对）、按键栏。"""
        yield ModeBanner()
        yield Static("Loading trades from the journal...", id="trades-summary")
        with TabbedContent(id="trades-tabs"):
            with TabPane("1 Trades", id="tab-closed"):
                yield DataTable(id="trades-table", cursor_type="row", zebra_stripes=True)
            with TabPane("2 P&L", id="tab-pnl"):
                with Horizontal(id="pnl-body"):
                    yield PnlChart(id="pnl-chart")
                    yield DataTable(id="pnl-table", cursor_type="row", zebra_stripes=True)
            with TabPane("3 By instance", id="tab-groups"):
                with Vertical():
                    yield DataTable(id="instances-pnl", cursor_type="row", zebra_stripes=True)
                    yield DataTable(id="symbols-pnl", cursor_type="row", zebra_stripes=True)
        yield KeyBar(compact=True)

    def on_mount(self) -> None:
        """带键加列，开始取数据与定时刷新。"""
        trades = self.query_one("#trades-table", DataTable)
        for key, label in TRADE_COLUMNS:
            trades.add_column(label, key=key)
        self.query_one("#pnl-table", DataTable).add_columns("Period", "Trades", "Wins", "P&L", "Fees")
        for table_id in ("#instances-pnl", "#symbols-pnl"):
            table = self.query_one(table_id, DataTable)
            for key, label in GROUP_COLUMNS:
                table.add_column(label, key=key)
        self.query_one("#instances-pnl").border_title = "By instance"
        self.query_one("#symbols-pnl").border_title = "By symbol"
        self.action_reload()
        self.set_interval(REFRESH_S, self.action_reload)

    # ---- 动作 -------------------------------------------------------------------------------------

    def action_close(self) -> None:
        """Esc：回主屏。"""
        self.dismiss(None)

    def action_reload(self) -> None:
        """r：在后台重新取交易与盈亏（上一次还没回来时不叠加）。"""
        self.run_worker(self._load(), name="trades", group="trades", exclusive=True)

    def action_period(self, period: str) -> None:
        """d / w / m：按日、周、月汇总，并切到盈亏标签页。"""
        self.period = period
        self.action_tab("tab-pnl")
        self.action_reload()

    def action_tab(self, pane: str) -> None:
        """1 / 2 / 3：切换标签页。"""
        self.query_one("#trades-tabs", TabbedContent).active = pane

    # ---- 数据 -------------------------------------------------------------------------------------

    async def _load(self) -> None:
        """取 trades 与 pnl 两个命令的结果并画出来；引擎报错（失联等）时在统计行说明。"""
        app: Any = self.app
        try:
            trades = await app.call_engine("trades", limit=TRADES_SHOWN)
            pnl = await app.call_engine("pnl", period=self.period, count=PERIOD_COUNTS[self.period])
        except UserError as exc:
            self.query_one("#trades-summary", Static).update(f"Trades not available: {exc}")
            return
        if not self.is_attached:
            return
        self.trades, self.pnl = trades, pnl
        quote = (app.model.snapshot or {}).get("account", {}).get("quote", "")
        self.query_one("#trades-summary", Static).update(summary_line(trades.get("summary", {}), quote))
        self._fill_trades(trades.get("trades", []))
        self._fill_periods(pnl)

    def _fill_trades(self, trades: list[dict[str, Any]]) -> None:
        """交易表：新的在前；盈亏着色。"""
        table = self.query_one("#trades-table", DataTable)
        table.clear()
        for trade in trades:
            tone = "green" if trade["pnl"] > 0 else "red" if trade["pnl"] < 0 else ""
            table.add_row(when(trade["exit_ts"]), who(trade["instance"]), trade["symbol"], trade["side"],
                          right(fmt.amount(trade["amount"])), right(fmt.money(trade["entry_price"])),
                          right(fmt.money(trade["exit_price"])), right(fmt.money(trade["fees"])),
                          Text(fmt.signed(trade["pnl"]), tone, justify="right"),
                          Text(fmt.percent(trade["return_pct"]), tone, justify="right"), trade["exit_reason"])

    def _fill_periods(self, pnl: dict[str, Any]) -> None:
        """盈亏标签页（柱状图与表）与按实例、按交易对的两张表。"""
        rows = pnl.get("periods", [])
        title = f"{PERIOD_TITLES[self.period]} realized P&L ({len(rows)} {self.period}s)"
        self.query_one("#pnl-chart", PnlChart).show(title, rows)
        table = self.query_one("#pnl-table", DataTable)
        table.clear()
        for row in reversed(rows):  # 最近的在上面
            tone = "green" if row["pnl"] > 0 else "red" if row["pnl"] < 0 else ""
            table.add_row(row["start"], right(str(row["trades"])), right(str(row["wins"])),
                          Text(fmt.signed(row["pnl"]), tone, justify="right"), right(fmt.money(row["fees"])))
        for table_id, key, groups in (("#instances-pnl", "instance", pnl.get("by_instance", [])),
                                      ("#symbols-pnl", "symbol", pnl.get("by_symbol", []))):
            table = self.query_one(table_id, DataTable)
            table.clear()
            for group in groups:
                rate = group["win_rate"]
                table.add_row(who(group[key]) if key == "instance" else group[key], right(str(group["trades"])),
                              right("-" if rate is None else f"{rate * 100:.1f}%"), right(fmt.signed(group["pnl"])),
                              right(fmt.signed(group["best"])), right(fmt.signed(group["worst"])))
