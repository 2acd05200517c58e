"""回测屏（主屏按 b，或命令面板的 Backtest）：选策略、数据与参数，在后台线程里回测（界面不卡，进度条跟随回测的
进度回调），看指标表、交易列表与图表（价格与买卖点、权益、回撤）；浏览日志库里以前的回测，选两次并排对比。

回测经回测包的公开接口运行（backtest.prepare + run_backtest + report.metrics），每次运行像 `tradeterm backtest`
一样写进日志库（journal.runs.record_backtest）；以前的运行经只读的 journal.backtests 读出。这些都在 worker
线程里调用，界面线程只改部件。
"""

from __future__ import annotations

import os

import re
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.suggester import SuggestFromList
from textual.widgets import (
    Button, DataTable, Input, Label, ProgressBar, Select, Static, TabbedContent, Tabs, TabPane,
)
from textual.worker import Worker, WorkerState

from tradeterm.backtest.engine import run_backtest
from tradeterm.backtest.prepare import (
    DEFAULT_CASH, DEFAULT_FEE, DEFAULT_SLIPPAGE_BPS, DEFAULT_SYNTHETIC_BARS, load_candles, prepare_single,
)
from tradeterm.backtest.results import EXIT_REASONS, BacktestResult
from tradeterm.config.markets import SYMBOL_FORMS, TIMEFRAME_MS, normalize_symbol
from tradeterm.data.synthetic import synthetic_ohlcv
from tradeterm.errors import UserError
from tradeterm.journal.backtests import BacktestRunDetail, BacktestRunRow, list_backtests, read_backtest
from tradeterm.journal.runs import record_backtest
from tradeterm.report.metrics import METRIC_LABELS, drawdown, result_metrics
from tradeterm.report.tables import format_value
from tradeterm.strategy.loader import discover, param_problems
from tradeterm.strategy.params import parse_param_text
from tradeterm.tui.widgets.backtest_charts import BacktestPriceChart, CurveChart
from tradeterm.tui.widgets.banner import ModeBanner
from tradeterm.tui.widgets.key_bar import KeyBar
from tradeterm.tui.widgets.path_label import PathLabel

# 仓库旁的共享行情目录（../shared/data）：其中的 CSV 作为数据框的默认建议
SHARED_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
# 数据框里表示“用合成行情”的值
SYNTHETIC = "synthetic"
# 默认策略（目录里有它时）
DEFAULT_STRATEGY = "MACross"
# 交易列表最多显示的行数（更多时只显示最后这么多笔，标题注明）
MAX_TRADE_ROWS = 2_000
# 结果区的标签页 id（数字键 1-5 依次切换）
TABS = ("tab-metrics", "tab-trades", "tab-charts", "tab-runs", "tab-compare")
# 数据框下面那行完整路径的前缀
DATA_PREFIX = "data: "
# 交易列表的列：(列键, 表头)
TRADE_COLUMNS = (("n", "#"), ("side", "Side"), ("entry", "Entry (UTC)"), ("exit", "Exit (UTC)"),
                 ("entry_price", "Entry px"), ("exit_price", "Exit px"), ("amount", "Amount"), ("pnl", "PnL"),
                 ("fees", "Fees"), ("reason", "Exit reason"))
# 运行列表的列：(列键, 表头)
RUN_COLUMNS = (("mark", "✓"), ("id", "Run"), ("time", "Started (UTC)"), ("strategy", "Strategy"),
               ("final", "Final equity"), ("return", "Return"), ("sharpe", "Sharpe"), ("max_dd", "Max DD"))


def data_suggestions(directory: Path = SHARED_DATA) -> list[str]:
    """数据框的建议：共享行情目录里的 CSV（存在时），最后是 synthetic。"""
    # 相对当前目录显示（如 ../shared/data/x.csv）：短，且不随仓库放在哪台机器的哪个目录而变
    files = sorted(os.path.relpath(p) for p in directory.glob("*.csv")) if directory.is_dir() else []
    return [*files, SYNTHETIC]


def utc_text(ts: int | None) -> str:
    """UTC 毫秒 -> "YYYY-MM-DD HH:MM"（UTC）；None 为短横。"""
    if ts is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ts / 1000))


def parse_params(text: str) -> dict[str, Any]:
    """参数框文字（"fast=10 slow=30"，空格或逗号分隔）-> 参数字典；格式不对抛 UserError。"""
    params: dict[str, Any] = {}
    for item in (part for part in re.split(r"[\s,]+", text.strip()) if part):
        if "=" not in item:
            raise UserError(f"params: {item!r} is not KEY=VALUE; write e.g. fast=10 slow=30")
        key, value = parse_param_text(item)
        params[key] = value
    return params


@dataclass(frozen=True)
class BacktestRequest:
    """回测表单的内容（已校验）。"""

    strategy: str        # 策略类名
    params: dict         # 策略参数：名 -> 值
    data: str            # CSV 路径，或 synthetic
    symbol: str          # 交易对（规范写法）
    timeframe: str       # K 线周期
    cash: float          # 初始资金，计价货币
    fee: float           # 费率（maker 与 taker），小数
    slippage_bps: float  # 市价单滑点，基点


@dataclass(frozen=True)
class BacktestOutcome:
    """一次完成的回测：结果、指标、日志库里的运行号与用时。"""

    result: BacktestResult  # 回测结果
    metrics: dict           # result_metrics 的结果：{"portfolio": ..., "instances": ...}
    run_id: int             # 日志库 runs.id
    elapsed_s: float        # 读数据 + 回测 + 写库的用时，秒


class BacktestScreen(Screen):
    """回测屏：左边表单，右边结果标签页（指标、交易、图表、运行列表、对比）。"""

    # 回测屏按键（帮助屏 KEYMAP 的 Backtest screen 一组列出它们）
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("ctrl+r", "run", "Run", key_display="^r"),
        # r 一键到运行列表：焦点直接落在表上，紧接着的空格就标记光标行（原先要按好几次 Tab 穿过整张表单）
        Binding("r", "runs", "Runs", tooltip="Show the earlier backtests and focus the list (Space marks a run)"),
        Binding("space", "mark", "Mark run", tooltip="Mark / unmark the highlighted run for comparison"),
        Binding("c", "compare", "Compare", tooltip="Compare the two marked runs"),
        *(Binding(str(index + 1), f"tab({index})", f"Tab {index + 1}", show=False) for index in range(len(TABS))),
        # App 的 b（打开回测屏）在这里什么也不做：同一个动作再列一次、不显示，80 列的按键栏才放得下 ? 与 q
        Binding("b", "app.backtest", "Backtest", show=False),
    ]
    # 打开时焦点给策略框（否则 Textual 给第一个可聚焦的部件，即可滚动的表单容器本身）
    AUTO_FOCUS = "#bt-strategy"

    def __init__(self, journal_path: Path, strategy_dirs: list[Path] | None = None) -> None:
        """journal_path 为日志库路径（运行写进去、列表从它读）；strategy_dirs 为额外的插件目录。"""
        super().__init__()
        # 日志库路径
        self.journal_path = Path(journal_path)
        # 插件目录里的策略类：类名 -> 类
        self.catalog = discover(strategy_dirs).classes
        # 最近一次完成的回测；还没有时为 None
        self.outcome: BacktestOutcome | None = None
        # 运行列表里标记要对比的运行号（最多两个，先标记的在前）
        self.marked: list[int] = []
        # 运行列表的内容：运行号 -> 行
        self.runs: dict[int, BacktestRunRow] = {}
        # 运行列表还没显示过（第一次读出时若有运行，就把运行列表页与焦点给它）
        self.first_runs = True

    # ---- 布局 -------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        """横幅；左边表单与进度；右边结果标签页；底部按键栏。"""
        yield ModeBanner()
        suggestions = data_suggestions()
        names = sorted(self.catalog)
        with Horizontal(id="bt-body"):
            # 表单容器本身不进 Tab 的顺序（字段获得焦点时它自会滚到那里）：从运行列表按 Tab 直接回到策略框
            with VerticalScroll(id="bt-form", can_focus=False):
                yield from self._row("Strategy", Select([(n, n) for n in names], id="bt-strategy", compact=True,
                                                        allow_blank=False,
                                                        value=DEFAULT_STRATEGY if DEFAULT_STRATEGY in names
                                                        else (names[0] if names else Select.NULL)))
                yield from self._row("Data", Input(suggestions[0], id="bt-data", compact=True,
                                                   placeholder="FILE.csv or synthetic",
                                                   suggester=SuggestFromList(suggestions, case_sensitive=False)))
                yield from self._row("Symbol", Input("BTC/USDT", id="bt-symbol", compact=True))
                yield from self._row("Timeframe", Select([(t, t) for t in TIMEFRAME_MS], id="bt-timeframe",
                                                         compact=True, allow_blank=False, value="1m"))
                yield from self._row("Params", Input("", id="bt-params", compact=True))
                yield from self._row("Cash", Input(f"{DEFAULT_CASH:g}", id="bt-cash", compact=True, type="number"))
                yield from self._row("Fee", Input(f"{DEFAULT_FEE:g}", id="bt-fee", compact=True, type="number"))
                yield from self._row("Slip bps", Input(f"{DEFAULT_SLIPPAGE_BPS:g}", id="bt-slippage",
                                                       compact=True, type="number"))
                yield Static("", id="bt-param-hint")
                # 数据框窄（表单 40 列宽），长路径只看得到开头一截：这里整条显示（在 / 之后折行，文件名留在一行里）
                yield PathLabel(suggestions[0], prefix=DATA_PREFIX, id="bt-data-path")
                yield Button("Run backtest", variant="primary", id="bt-run", compact=True)
                yield ProgressBar(total=None, id="bt-progress", show_eta=False)
                yield Static("Fill in the form and press Run (Ctrl+R).", id="bt-status")
                yield Static("", id="bt-error")
            with TabbedContent(id="bt-results"):
                with TabPane("1 Metrics", id="tab-metrics"):
                    yield DataTable(id="bt-metrics", cursor_type="row", zebra_stripes=True)
                with TabPane("2 Trades", id="tab-trades"):
                    yield DataTable(id="bt-trades", cursor_type="row", zebra_stripes=True)
                with TabPane("3 Charts", id="tab-charts"):
                    with Vertical(id="bt-charts"):
                        yield BacktestPriceChart(id="bt-price-chart")
                        yield CurveChart(id="bt-equity-chart")
                        yield CurveChart(id="bt-drawdown-chart")
                with TabPane("4 Runs", id="tab-runs"):
                    yield DataTable(id="bt-runs", cursor_type="row", zebra_stripes=True)
                    yield Static("Space marks a run (two at most), c compares the two marked runs.",
                                 classes="bt-hint")
                with TabPane("5 Compare", id="tab-compare"):
                    with Vertical(id="bt-compare"):
                        yield DataTable(id="bt-compare-table", cursor_type="row", zebra_stripes=True)
                        yield CurveChart(id="bt-compare-chart")
        yield KeyBar(compact=True)

    @staticmethod
    def _row(label: str, field: Any) -> ComposeResult:
        """表单的一行：标签 + 输入部件。"""
        with Horizontal(classes="bt-row"):
            yield Label(label, classes="bt-label")
            yield field

    def on_mount(self) -> None:
        """表头（带列键）、参数提示、读运行列表。"""
        metrics = self.query_one("#bt-metrics", DataTable)
        metrics.add_column("Metric", key="metric")
        metrics.add_column(Text("Value", justify="right"), key="value")
        trades = self.query_one("#bt-trades", DataTable)
        for key, label in TRADE_COLUMNS:
            trades.add_column(label, key=key)
        runs = self.query_one("#bt-runs", DataTable)
        for key, label in RUN_COLUMNS:
            runs.add_column(label, key=key)
        compare = self.query_one("#bt-compare-table", DataTable)
        compare.add_column("Metric", key="metric")
        self._show_param_hint()
        self.query_one("#bt-price-chart", BacktestPriceChart).show(None)
        self.query_one("#bt-equity-chart", CurveChart).show("Equity - run a backtest", [])
        self.query_one("#bt-drawdown-chart", CurveChart).show("Drawdown (%)", [])
        self.query_one("#bt-compare-chart", CurveChart).show("Equity of the compared runs", [])
        self.load_runs()

    def show_tab(self, tab: str) -> None:
        """切到结果标签页 tab，焦点放到页里的表格上（方向键、空格作用于看得到的那张表，而不是藏起来的表或表单）；
        页里没有表格（图表页）时放在标签栏上。"""
        results = self.query_one("#bt-results", TabbedContent)
        results.active = tab
        tables = results.get_pane(tab).query(DataTable)
        (tables.first() if tables else results.query_one(Tabs)).focus()

    def on_screen_resume(self) -> None:
        """回到回测屏时重读运行列表（其间命令行可能又记了回测）。"""
        if self.is_mounted:
            self.load_runs()

    # ---- 表单 -------------------------------------------------------------------------------------

    def _strategy_class(self) -> type | None:
        """选中的策略类。"""
        value = self.query_one("#bt-strategy", Select).value
        return self.catalog.get(value) if isinstance(value, str) else None

    def _show_param_hint(self) -> None:
        """参数提示：选中策略的默认参数（参数框留空即用默认值）。"""
        cls = self._strategy_class()
        defaults = " ".join(f"{k}={v}" for k, v in (cls.params if cls else {}).items())
        self.query_one("#bt-params", Input).placeholder = defaults or "no parameters"
        self.query_one("#bt-param-hint", Static).update(f"defaults: {defaults or 'none'}")

    @on(Input.Changed, "#bt-data")
    def _show_data_path(self, event: Input.Changed) -> None:
        """数据框变了：下面那行跟着显示完整路径。"""
        self.query_one("#bt-data-path", PathLabel).path = event.value.strip()

    @on(Select.Changed, "#bt-strategy")
    def _strategy_changed(self) -> None:
        """换了策略：更新参数提示、重新校验参数。"""
        self._show_param_hint()
        self._check_params()

    @on(Input.Changed, "#bt-params")
    def _check_params(self) -> None:
        """边输入边按策略的参数规则校验参数，问题写在错误行。"""
        try:
            self._params()
        except UserError as exc:
            self._error(str(exc))
        else:
            self._error("")

    def _params(self) -> dict[str, Any]:
        """参数框 -> 参数字典，并按策略的规则校验；有问题抛 UserError（逐条列出）。"""
        cls = self._strategy_class()
        if cls is None:
            raise UserError("strategy: pick a strategy from the list")
        params = parse_params(self.query_one("#bt-params", Input).value)
        problems = param_problems(cls, params)
        if problems:
            raise UserError("params: " + "; ".join(problems))
        return params

    def _number(self, selector: str, name: str, low: float, high: float, example: str,
                low_open: bool = False) -> float:
        """读一个数字框并检查范围（low_open 时不含下限）；不合法抛 UserError。"""
        text = self.query_one(selector, Input).value.strip()
        try:
            value = float(text)
        except ValueError:
            raise UserError(f"{name} {text!r}: not a number; e.g. {example}") from None
        if not (low < value if low_open else low <= value) or value > high:
            raise UserError(f"{name} {value:g}: must be {'above' if low_open else 'at least'} {low:g} "
                            f"and at most {high:g}; e.g. {example}")
        return value

    def read_form(self) -> BacktestRequest:
        """校验整个表单；不合法时抛 UserError，消息说明字段、取值与改法。"""
        cls = self._strategy_class()
        params = self._params()
        data = self.query_one("#bt-data", Input).value.strip()
        if data.lower() != SYNTHETIC and not Path(data).expanduser().is_file():
            raise UserError(f"data {data!r}: no such CSV file; type a path (Tab accepts a suggestion) "
                            f"or '{SYNTHETIC}'")
        symbol_text = self.query_one("#bt-symbol", Input).value.strip()
        symbol = normalize_symbol(symbol_text)
        if symbol is None:
            raise UserError(f"symbol {symbol_text!r}: not a symbol; use a form like {SYMBOL_FORMS}")
        timeframe = self.query_one("#bt-timeframe", Select).value
        cash = self._number("#bt-cash", "cash", 0, 1e12, "10000", low_open=True)
        fee = self._number("#bt-fee", "fee", 0, 0.0999999, "0.001 for 0.1%")
        slippage = self._number("#bt-slippage", "slippage", 0, 1000, "5 (basis points)")
        return BacktestRequest(cls.__name__, params, SYNTHETIC if data.lower() == SYNTHETIC else str(
            Path(data).expanduser()), symbol, str(timeframe), cash, fee, slippage)

    def _error(self, message: str) -> None:
        """错误行（空串清除）。"""
        self.query_one("#bt-error", Static).update(message)

    # ---- 运行 -------------------------------------------------------------------------------------

    @on(Button.Pressed, "#bt-run")
    @on(Input.Submitted)
    def action_run(self) -> None:
        """Ctrl+R / Run 按钮 / 在输入框里回车：校验表单，在后台线程里回测（已有回测在跑时不叠加）。"""
        if any(w.group == "backtest" and w.is_running for w in self.workers):
            self.notify("A backtest is already running.", severity="warning")
            return
        try:
            request = self.read_form()
        except UserError as exc:
            self._error(str(exc))
            return
        self._error("")
        self.query_one("#bt-run", Button).disabled = True
        self.query_one("#bt-progress", ProgressBar).update(total=None, progress=0)
        self.query_one("#bt-status", Static).update(f"Running {request.strategy} on {Path(request.data).name} ...")
        self.run_worker(lambda: self._backtest(request), name="backtest", group="backtest", thread=True,
                        exclusive=True)

    def _backtest(self, request: BacktestRequest) -> BacktestOutcome:
        """（worker 线程）读数据、回测、算指标、写进日志库；与 `tradeterm backtest` 走同一套函数。"""
        started = time.time()
        if request.data == SYNTHETIC:
            data = synthetic_ohlcv(DEFAULT_SYNTHETIC_BARS, seed=zlib.crc32(request.symbol.encode()),
                                   timeframe=request.timeframe)
            source = f"synthetic({DEFAULT_SYNTHETIC_BARS} bars, seed from symbol)"
        else:
            data = load_candles(Path(request.data), request.timeframe)
            source = request.data
        prepared = prepare_single(self.catalog[request.strategy], request.params, data, source,
                                  symbol=request.symbol, timeframe=request.timeframe, cash=request.cash,
                                  fee=request.fee, slippage_bps=request.slippage_bps, progress=self._progress)
        self._progress(0, len(data))
        result = run_backtest(prepared.specs, prepared.settings)
        self._progress(len(data), len(data))
        metrics = result_metrics(result)
        run_id = record_backtest(self.journal_path, result, metrics, prepared.described,
                                 started_ts=int(started * 1000))
        return BacktestOutcome(result, metrics, run_id, time.time() - started)

    def _progress(self, done: int, total: int) -> None:
        """（worker 线程）回测的进度回调：交给界面线程更新进度条。"""
        try:
            self.app.call_from_thread(self.query_one("#bt-progress", ProgressBar).update, total=total,
                                      progress=done)
        except RuntimeError:  # 界面已关闭：进度无处显示
            pass

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """回测结束：成功则显示结果并刷新运行列表，失败则把原因写在错误行。"""
        if event.worker.group != "backtest" or event.state not in (WorkerState.SUCCESS, WorkerState.ERROR,
                                                                   WorkerState.CANCELLED):
            return
        self.query_one("#bt-run", Button).disabled = False
        if event.state is WorkerState.SUCCESS:
            self.show_outcome(event.worker.result)
            self.load_runs()
        elif event.state is WorkerState.ERROR:
            error = event.worker.error
            if not isinstance(error, UserError):
                self.log.error(repr(error))
            self._error(str(error) if isinstance(error, UserError) else f"{type(error).__name__}: {error}")
            self.query_one("#bt-status", Static).update("The backtest failed.")
        else:
            self.query_one("#bt-status", Static).update("The backtest was cancelled.")

    # ---- 结果 -------------------------------------------------------------------------------------

    def show_outcome(self, outcome: BacktestOutcome) -> None:
        """把一次完成的回测画出来：指标表、交易列表、三张图；切到指标页。"""
        self.outcome = outcome
        result = outcome.result
        instance = result.instances[0] if result.instances else None
        bars = len(result.timestamps)
        self.query_one("#bt-status", Static).update(
            f"Run {outcome.run_id} recorded: {bars:,} bars, {len(result.trades):,} trades"
            f"{', ' + instance.path + ' path' if instance else ''}.")
        table = self.query_one("#bt-metrics", DataTable)
        table.clear()
        portfolio = outcome.metrics["portfolio"]
        for key, (label, kind) in METRIC_LABELS.items():
            table.add_row(label, Text(format_value(portfolio.get(key), kind), justify="right"), key=key)
        self._show_trades(result)
        origin_ts = result.timestamps
        self.query_one("#bt-price-chart", BacktestPriceChart).show(instance)
        self.query_one("#bt-equity-chart", CurveChart).show(
            f"Equity {format_value(portfolio['final_equity'], 'money')}", [("equity", origin_ts, result.equity)])
        self.query_one("#bt-drawdown-chart", CurveChart).show(
            f"Drawdown (%), max {format_value(portfolio['max_drawdown'], 'pct')}",
            [("drawdown", origin_ts, -100.0 * drawdown(result.equity, result.starting_cash))], colors=("red",))
        self.show_tab("tab-metrics")

    def _show_trades(self, result: BacktestResult) -> None:
        """交易列表（太多时只显示最后 MAX_TRADE_ROWS 笔）。"""
        table = self.query_one("#bt-trades", DataTable)
        table.clear()
        trades = list(result.trades)
        shown = trades[-MAX_TRADE_ROWS:]
        first = len(trades) - len(shown)
        for index, trade in enumerate(shown, start=first + 1):
            pnl = Text(f"{trade.pnl:+,.2f}", style="green" if trade.pnl > 0 else "red" if trade.pnl < 0 else "",
                       justify="right")
            table.add_row(str(index), trade.side_name, utc_text(trade.entry_ts),
                          "open" if trade.is_open else utc_text(trade.exit_ts),
                          Text(f"{trade.entry_price:,.2f}", justify="right"),
                          Text(f"{trade.exit_price:,.2f}", justify="right"),
                          Text(f"{trade.amount:.6g}", justify="right"), pnl,
                          Text(f"{trade.fees:,.2f}", justify="right"),
                          "open" if trade.is_open else EXIT_REASONS[trade.exit_reason], key=str(index))
        label = f"2 Trades ({len(trades):,})" if not first else f"2 Trades (last {len(shown):,} of {len(trades):,})"
        self.query_one("#bt-results", TabbedContent).get_tab("tab-trades").label = label

    # ---- 运行列表与对比 ---------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="runs")
    def load_runs(self) -> None:
        """（worker 线程）从日志库读回测列表，交给界面线程显示。"""
        try:
            rows = list_backtests(self.journal_path)
        except (UserError, OSError) as exc:
            self.app.call_from_thread(self.notify, f"Cannot read the journal: {exc}", severity="error")
            return
        self.app.call_from_thread(self.show_runs, rows)

    def show_runs(self, rows: list[BacktestRunRow]) -> None:
        """重填运行列表（最新的在最上面，光标回到第一行）。第一次读出、日志库里已有运行、用户也还没动过时，
        切到运行列表页并把焦点给它：打开回测屏来对比以前运行的人直接按空格就能标记。"""
        table = self.query_one("#bt-runs", DataTable)
        self.runs = {row.run_id: row for row in rows}
        self.marked = [run for run in self.marked if run in self.runs]
        table.clear()
        for row in rows:
            table.add_row("✓" if row.run_id in self.marked else "", str(row.run_id), utc_text(row.started_ts),
                          row.strategies, Text(format_value(row.final_equity, "money"), justify="right"),
                          Text(format_value(row.total_return, "pct"), justify="right"),
                          Text(format_value(row.sharpe, "num"), justify="right"),
                          Text(format_value(row.max_drawdown, "pct"), justify="right"), key=str(row.run_id))
        # “还没动过”：焦点仍在（或还没落到）打开时的策略框上、没有回测结果、仍在第一页
        untouched = (self.focused in (None, self.query_one("#bt-strategy", Select)) and self.outcome is None
                     and self.query_one("#bt-results", TabbedContent).active == TABS[0])
        if self.first_runs and rows and untouched:
            self.show_tab("tab-runs")
        self.first_runs = False

    def highlighted_run(self) -> int | None:
        """运行列表光标行的运行号；列表为空时为 None。"""
        table = self.query_one("#bt-runs", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return int(key) if key is not None else None

    def mark(self, run_id: int) -> None:
        """标记 / 取消标记一次运行；已标记两次时再标记会替换最早的那个。"""
        if run_id in self.marked:
            self.marked.remove(run_id)
        else:
            self.marked = [*self.marked, run_id][-2:]
        table = self.query_one("#bt-runs", DataTable)
        for run in self.runs:
            table.update_cell(str(run), "mark", "✓" if run in self.marked else "")

    def action_mark(self) -> None:
        """空格：在运行列表里标记 / 取消标记光标行的运行。"""
        run_id = self.highlighted_run()
        if self.query_one("#bt-results", TabbedContent).active != "tab-runs" or run_id is None:
            self.notify("Press r for the runs list, highlight a run, then Space marks it.", severity="warning")
            return
        self.mark(run_id)

    @on(DataTable.RowSelected, "#bt-runs")
    def _run_selected(self, event: DataTable.RowSelected) -> None:
        """在运行列表里回车或点击：标记 / 取消标记那一行。"""
        self.mark(int(event.row_key.value))

    def action_compare(self) -> None:
        """c：对比两个标记的运行（只标记了一个时，与光标行的运行对比）。"""
        runs = list(self.marked)
        if len(runs) == 1 and self.highlighted_run() not in (None, runs[0]):
            runs.append(self.highlighted_run())
        if len(runs) != 2:
            self.notify("Press r for the runs list, mark two runs with Space, then press c.", severity="warning")
            return
        self.compare(*sorted(runs))

    @work(thread=True, exclusive=True, group="compare")
    def compare(self, first: int, second: int) -> None:
        """（worker 线程）读出两次运行的指标与权益曲线，交给界面线程显示。"""
        try:
            details = [read_backtest(self.journal_path, run) for run in (first, second)]
        except (UserError, OSError) as exc:
            self.app.call_from_thread(self.notify, str(exc), title="Compare failed", severity="error")
            return
        self.app.call_from_thread(self.show_compare, details)

    def show_compare(self, details: list[BacktestRunDetail]) -> None:
        """对比页：两次运行的指标并排，两条权益曲线画在同一张图上；切到对比页。"""
        table = self.query_one("#bt-compare-table", DataTable)
        table.clear(columns=True)
        table.add_column("Metric", key="metric")
        for detail in details:
            table.add_column(Text(f"Run {detail.row.run_id}", justify="right"), key=str(detail.row.run_id))
        for key, (label, kind) in METRIC_LABELS.items():
            table.add_row(label, *(Text(format_value(d.metrics.get(key), kind), justify="right") for d in details),
                          key=key)
        self.query_one("#bt-compare-chart", CurveChart).show(
            "Equity: " + " vs ".join(f"run {d.row.run_id}" for d in details),
            [(f"run {d.row.run_id}", d.timestamps, d.equity) for d in details])
        self.show_tab("tab-compare")

    # ---- 其他动作 ---------------------------------------------------------------------------------

    def action_tab(self, index: int) -> None:
        """数字键 1-5：切换结果标签页（焦点随之到页里的表格上）。"""
        self.show_tab(TABS[index])

    def action_runs(self) -> None:
        """r：运行列表页，焦点在列表上（空格标记光标行，c 对比）。"""
        self.show_tab("tab-runs")

    def action_back(self) -> None:
        """Esc：回到主屏（回测在后台继续，结果留在这个屏上）。"""
        self.app.pop_screen()
