"""TradetermApp：终端控制台。经 EngineClient 与引擎交谈——事件向上（后台 worker 订阅 `client.events()`），
快照每 0.5 秒拉一次（也是后台 worker），命令向下（`client.command`，同样在 worker 里发）。界面线程从不阻塞。

- 进程内（`tradeterm run` 在终端上）：退出界面即停止引擎（确认框会说明）。
- 附着（`tradeterm attach`）：退出界面只断开，headless 引擎与机器人照常运行；失联时横幅变色并每 2 秒重连。
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import time
from collections import deque
from pathlib import Path
from functools import partial
from typing import Any, Callable, Iterable

from textual import events
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.reactive import reactive
from textual.screen import Screen

from tradeterm.engine.client import EngineClient
from tradeterm.engine.events import EventKind
from tradeterm.errors import UserError
from tradeterm.tui.model import ConsoleModel, LogEntry
from tradeterm.tui.screens.backtest import BacktestScreen
from tradeterm.tui.screens.confirm import ConfirmScreen
from tradeterm.tui.screens.form import FormScreen
from tradeterm.tui.screens.help import HelpScreen
from tradeterm.tui.screens.main import MainScreen
from tradeterm.tui.widgets.banner import BannerInfo
from tradeterm.tui.widgets.tables import QuotesTable

# 快照刷新间隔，秒
REFRESH_S = 0.5
# 图表重画的最短间隔，秒（数据没变就不画）
CHART_S = 1.0
# 主屏的全部窗格（拆除途中的判断用）
MAIN_PANES = ("#account", "#quotes", "#instances", "#positions", "#orders", "#price-chart", "#equity-chart", "#log")
# 报价表的刷新节拍，秒：这段时间里到达的报价合并成一次表格更新（每个交易对只写最新价）；25 ms 让 100 个交易对每秒 10 次报价的
# 上屏 p99 低于 100 ms（50 ms 时约 110 ms），CPU 只多约 0.07 核；
# 不必等 0.5 秒一次的快照，报价从到达到上屏不超过约一个节拍（见 bench/tui.py）
QUOTES_S = 0.025
# 一次快照请求的最长等待，秒（附着时连接卡住也不会让刷新停摆）
SNAPSHOT_TIMEOUT_S = 5.0
# 日志窗格的写入间隔，秒（事件先积攒，再成批写入）
LOG_FLUSH_S = 0.2
# 等待写进日志窗格的行数上限（与日志窗格保留的行数相同）
LOG_BACKLOG = 500
# 事件流中断后重新订阅的间隔，秒
EVENTS_RETRY_S = 2.0
# 会改变表格内容的事件：收到时立刻拉一次快照，不等下一个刷新周期
REFRESHING_KINDS = frozenset({EventKind.ORDER, EventKind.FILL, EventKind.INSTANCE, EventKind.BREAKER, EventKind.STALE,
                              EventKind.KILL_SWITCH, EventKind.RECONCILE})
# 没有给日志库路径时回测屏使用的日志库（当前目录，与 `tradeterm backtest` 的默认相同）
DEFAULT_JOURNAL = Path("tradeterm.db")
# 命令面板里的动作：(标题, 说明, 主屏动作名)
PALETTE_ACTIONS = (
    ("Pause / resume instance", "Pause the selected instance, or resume it if paused (p)", "toggle_pause"),
    ("Stop / start instance", "Stop the selected instance, or start it if stopped (s)", "toggle_stop"),
    ("Flatten instance", "Cancel the selected instance's orders and close its position (f)", "flatten"),
    ("Cancel selected order", "Cancel the order selected in the Open orders table (c)", "cancel_order"),
    ("Cancel all orders", "Cancel every open order (C)", "cancel_all"),
    ("Manual order", "Open the manual order entry (o)", "order_entry"),
    ("Edit parameters", "Edit the parameters of the selected instance (e)", "edit_params"),
    ("Trades and P&L", "Closed trades, realized P&L by day, week, month and instance (t)", "trades"),
    ("Log filter", "Show all log lines, or only fills, signals, orders, alerts or instance changes (l)", "log_kind"),
    ("Log: selected instance", "Show only the selected instance's log lines; again for all (i)", "log_instance"),
    ("Charts / tables view", "Small terminals: switch between the tables and the charts with the log (v)",
     "toggle_view"),
    ("Kill switch", "Block new orders, stop every instance, cancel all orders, close every position; "
                    "K again resets it (K)", "kill_switch"),
)


def freeze_startup_objects() -> None:
    """把启动时已有的对象（导入的库、挂载好的部件）移出垃圾回收的扫描范围（gc.freeze）。

    否则每次第 2 代回收都要扫描这十几万个对象，界面卡顿 100 ms 以上（bench/tui.py 测得）；冻结后回收只扫描新对象。
    先回收一次，免得把启动期的垃圾一起冻住。"""
    gc.collect()
    gc.freeze()


class TradetermApp(App):
    """tradeterm 的终端控制台。"""

    # 全部样式在这个 CSS 文件里（代码里不写内联样式）
    CSS_PATH = "app.tcss"
    # 窗口标题
    TITLE = "tradeterm"
    # 全局按键：? 帮助、b 回测屏（只在主屏上生效）、q 退出（Ctrl+Q 也走同一个带确认的退出）
    BINDINGS = [
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("b", "backtest", "Backtest", tooltip="Open the backtest screen"),
        Binding("q", "quit", "Quit"),
    ]
    # 按终端宽度给屏幕加的类（见 app.tcss）：紧凑（< 100 列，如 SSH 默认的 80 列）时只显示表格，v 切到图表与日志；
    # 窄（100~139 列）时持仓与挂单上下排；宽（>= 140 列）时左右排
    HORIZONTAL_BREAKPOINTS = [(0, "-compact"), (100, "-narrow"), (140, "-wide")]
    # 按终端高度给屏幕加的类：矮（< 30 行，如 80x24）时同样用紧凑布局，表格的高度按行数收紧
    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]
    # 横幅状态（模式、交易所、连接）；每个屏幕的横幅跟随它变化
    banner_info: reactive[BannerInfo] = reactive(BannerInfo())

    def __init__(self, client: EngineClient, *, attached: bool = False, refresh_s: float = REFRESH_S,
                 chart_s: float = CHART_S, journal_path: Path | None = None) -> None:
        """client 为引擎客户端；attached 表示连的是 headless 引擎（退出不停引擎）；refresh_s/chart_s 为刷新间隔，秒；
        journal_path 为回测屏读写的日志库（通常是配置的 journal.path；缺省为当前目录的 tradeterm.db）。"""
        super().__init__()
        # 引擎客户端（进程内或控制套接字）
        self.client = client
        # 是否附着在 headless 引擎上
        self.attached = attached
        # 快照刷新间隔，秒
        self.refresh_s = refresh_s
        # 图表重画间隔，秒
        self.chart_s = chart_s
        # 界面的数据模型（快照 + 事件累积）
        self.model = ConsoleModel()
        # 主屏（默认屏幕，始终在屏幕栈最底层）
        self._main = MainScreen()
        # 是否有快照请求在路上（不叠加请求）
        self._polling = False
        # 待写进日志窗格的行；满了丢最旧的
        self._pending_log: deque[LogEntry] = deque(maxlen=LOG_BACKLOG)
        # 上一次快照请求期间又有人要求刷新：这次结束后立刻再拉一次
        self._poll_again = False
        # 回测屏读写的日志库路径
        self.journal_path = Path(journal_path) if journal_path else DEFAULT_JOURNAL
        # 表单就绪之前到达的按键与粘贴（按到达顺序；见 tradeterm/tui/screens/form.py）
        self._held_input: deque[events.Event] = deque()

    # ---- 生命周期 ----------------------------------------------------------------------------------

    def get_default_screen(self) -> Screen:
        """默认屏幕就是主屏。"""
        return self._main

    def on_mount(self) -> None:
        """横幅先显示连接方式（模式与交易所等第一份快照）。"""
        self.banner_info = BannerInfo(attached=self.attached)

    def on_main_screen_ready(self) -> None:
        """主屏挂载完毕：开始跟随事件、定时刷新快照、日志与图表。"""
        freeze_startup_objects()
        self.run_worker(self._follow_events(), name="engine events", group="events", exclusive=True)
        self.load_history()
        self.set_interval(self.refresh_s, self.request_refresh)
        self.set_interval(self.chart_s, self._redraw_charts)
        self.set_interval(QUOTES_S, self._refresh_quotes)
        self.set_interval(LOG_FLUSH_S, self._flush_log)
        self.request_refresh()

    @property
    def main_screen(self) -> MainScreen:
        """主屏（屏幕栈的最底层）。"""
        return self._main

    @property
    def _live(self) -> bool:
        """主屏还在（退出过程中的定时器与 worker 不再碰界面）。"""
        return self._main.is_attached and not self._exit

    # ---- 不丢键的输入 ------------------------------------------------------------------------------

    def _holds_input(self) -> bool:
        """此刻到达的按键是否要暂存：当前屏幕是还没就绪的表单，或者还有暂存的键没放行（后到的键排在它们后面）。"""
        screen = self.screen_stack[-1] if self.screen_stack else None
        return bool(self._held_input) or (isinstance(screen, FormScreen) and not screen.ready)

    async def on_event(self, event: events.Event) -> None:
        """按键与粘贴：表单就绪之前暂存（见 FormScreen），其余照常派发。"""
        if isinstance(event, (events.Key, events.Paste)) and not event.is_forwarded and self._holds_input():
            self._held_input.append(event)
            return
        await super().on_event(event)

    async def on_form_screen_ready(self, message: FormScreen.Ready) -> None:
        """表单就绪（或被关掉）：按到达顺序放行暂存的按键；又遇到一个未就绪的表单（暂存的键里有打开它的键）时停下等它。"""
        while self._held_input:
            screen = self.screen_stack[-1] if self.screen_stack else None
            if isinstance(screen, FormScreen) and not screen.ready:
                return
            await super().on_event(self._held_input.popleft())

    # ---- 数据 -------------------------------------------------------------------------------------

    def request_refresh(self) -> None:
        """在后台拉一次快照（已有请求在路上时，等它结束后再拉一次）。"""
        if self._polling:
            self._poll_again = True
            return
        self._polling = True
        self.run_worker(self._poll_snapshot(), name="snapshot", group="snapshot")

    async def _poll_snapshot(self) -> None:
        """拉快照、更新模型与主屏；失败时把原因写进横幅。"""
        try:
            snapshot = await asyncio.wait_for(self.client.snapshot(), SNAPSHOT_TIMEOUT_S)
        except (UserError, OSError, asyncio.TimeoutError) as exc:
            self._set_connection_error(str(exc) or type(exc).__name__)
            return
        finally:
            self._polling = False
        reconnected = self.model.disconnected
        self.model.apply_snapshot(snapshot)
        if not self._live:
            return
        if reconnected:  # 失联期间错过的事件从日志库补上（附着的引擎重启过也一样）
            self.load_history()
        self.banner_info = dataclasses.replace(
            self.banner_info, mode=snapshot.get("mode", "?"), exchange=snapshot.get("exchange", ""),
            killed=bool(snapshot.get("account", {}).get("killed")), connection_error="",
            stale=tuple(f"{f['symbol']} {f['timeframe']} ({f['lag_bars']} bars behind)"
                        for f in snapshot.get("feeds", []) if f.get("stale")))
        self._on_main(partial(self.main_screen.refresh_view, self.model))
        if self._poll_again:
            self._poll_again = False
            self.request_refresh()

    def load_history(self) -> None:
        """在后台向引擎要近期历史（日志、K 线、成交、权益，都来自日志库），并进模型与日志窗格。"""
        self.run_worker(self._load_history(), name="history", group="history", exclusive=True)

    async def _load_history(self) -> None:
        """load_history 的后台部分；引擎不给（失联、旧版本引擎）时只在日志里说一声，界面照常跟随实时事件。

        先订阅事件、再取历史（见 on_main_screen_ready）：两者之间发生的事件既在实时流里又在历史里，合并时按时间去重。"""
        try:
            history = await asyncio.wait_for(self.call_engine("history"), SNAPSHOT_TIMEOUT_S)
        except (UserError, asyncio.TimeoutError) as exc:
            self._pending_log.append(LogEntry(int(time.time() * 1000), "log", "",
                                              f"LOG history not loaded: {str(exc) or type(exc).__name__}"))
            return
        entries = self.model.apply_history(history or {})
        if entries and self._live:
            self._on_main(partial(self.main_screen.add_log_history, entries))

    async def _follow_events(self) -> None:
        """订阅引擎事件直到界面退出；事件流中断（失联）时记下原因并稍后重新订阅。"""
        while True:
            try:
                async for event in self.client.events():
                    entry = self.model.apply_event(event)
                    if entry is not None:
                        self._pending_log.append(entry)
                    if event.kind in REFRESHING_KINDS:
                        self.request_refresh()
            except (UserError, OSError) as exc:
                self._set_connection_error(str(exc) or type(exc).__name__)
            await asyncio.sleep(EVENTS_RETRY_S)

    def _set_connection_error(self, message: str) -> None:
        """横幅显示失联；各窗格标为旧数据（状态 unknown、变暗、写明数据多旧），直到下一份快照到达。"""
        self.banner_info = dataclasses.replace(self.banner_info, connection_error=message, retry_s=EVENTS_RETRY_S)
        self.model.disconnected = True
        if self._live:
            self._on_main(partial(self.main_screen.refresh_view, self.model))

    def _on_main(self, update: Callable[[], None]) -> None:
        """对主屏执行一次更新；主屏正在拆除（退出过程中窗格已被移除）时跳过。"""
        try:
            update()
        except NoMatches:
            # 退出时 Textual 逐个移除窗格：只要有窗格已不在，就是拆除途中，跳过这次更新；
            # 窗格全都在却找不到，才是真错误（选择器写错）
            if len(self._main.query(", ".join(MAIN_PANES))) == len(MAIN_PANES):
                raise

    def _flush_log(self) -> None:
        """把积攒的日志行一次写进日志窗格（事件再多，日志窗格也只按固定节奏重绘）。"""
        if self._pending_log and self._live:
            lines = list(self._pending_log)
            self._pending_log.clear()
            self._on_main(partial(self.main_screen.add_log, lines))

    def _refresh_quotes(self) -> None:
        """只重写报价变了的行（一个节拍内同一交易对的多次报价合并成一次更新；快照刷新时整表同步）。"""
        if self.model.changed_quotes and self._live:
            changed, self.model.changed_quotes = self.model.changed_quotes, set()
            # 查询放进 _on_main 的保护里执行（退出过程中主屏的窗格可能已被移除）
            self._on_main(lambda: self.main_screen.query_one(QuotesTable).refresh_symbols(self.model, changed))

    def _redraw_charts(self) -> None:
        """数据变了才重画图表。"""
        if self.model.charts_dirty and self._live:
            self.model.charts_dirty = False
            self._on_main(partial(self.main_screen.refresh_charts, self.model))

    # ---- 命令 -------------------------------------------------------------------------------------

    async def call_engine(self, name: str, **args: Any) -> Any:
        """发一个命令并返回结果；用户错误（含失联）抛 UserError。"""
        try:
            return await self.client.command(name, **args)
        except OSError as exc:
            raise UserError(f"the engine is not reachable: {exc}") from None

    def send_command(self, name: str, description: str, **args: Any) -> None:
        """在后台发命令；成功与失败都以通知显示，之后立刻刷新快照。"""
        self.run_worker(self._send(name, description, args), name=f"command {name}", group="commands")

    async def _send(self, name: str, description: str, args: dict[str, Any]) -> None:
        """send_command 的后台部分。"""
        try:
            await self.call_engine(name, **args)
        except UserError as exc:
            self.notify(str(exc), title=f"{description} failed", severity="error", timeout=8)
        else:
            self.notify(f"{description}: done")
        finally:
            self.request_refresh()

    def confirm_then(self, screen: ConfirmScreen, name: str, description: str, **args: Any) -> None:
        """弹确认框，确认后才发命令。"""
        def answered(yes: bool | None) -> None:
            """确认框的回答。"""
            if yes:
                self.send_command(name, description, **args)
        self.push_screen(screen, answered)

    # ---- 全局动作 ---------------------------------------------------------------------------------

    def action_help(self) -> None:
        """? ：帮助屏。"""
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_backtest(self) -> None:
        """b：打开回测屏（只从主屏打开；回测屏装一次，离开后结果与在跑的回测都保留）。"""
        if self.screen is not self._main:
            return
        if not self.is_screen_installed("backtest"):
            self.install_screen(BacktestScreen(self.journal_path), name="backtest")
        self.push_screen("backtest")

    async def action_quit(self) -> None:
        """q / Ctrl+Q：确认后退出；确认框说明退出是否会停止引擎。"""
        if isinstance(self.screen, ConfirmScreen):
            return
        if self.attached:
            body = "Detach from the headless engine. The engine and its bots KEEP RUNNING."
            title = "Quit the console?"
        else:
            body = ("The engine runs inside this process: quitting STOPS THE ENGINE.\n"
                    "Positions and open orders stay as they are. "
                    "Use 'tradeterm run --headless' + 'tradeterm attach' to keep bots running without a console.")
            title = "Quit and stop the engine?"

        def answered(yes: bool | None) -> None:
            """确认后退出。"""
            if yes:
                self.exit()
        self.push_screen(ConfirmScreen(title, body, "Quit"), answered)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """命令面板：Textual 自带的命令 + 控制台的每个动作。"""
        yield from super().get_system_commands(screen)
        yield SystemCommand("Help", "List every key (?)", self.action_help)
        yield SystemCommand("Backtest", "Run a backtest, browse and compare earlier runs (b)", self._open_backtest)
        for title, help_text, action in PALETTE_ACTIONS:
            yield SystemCommand(title, help_text, partial(self._run_main_action, action))

    def _open_backtest(self) -> None:
        """命令面板：回到主屏后打开回测屏（已在回测屏上时不动）。"""
        if self.is_screen_installed("backtest") and self.screen is self.get_screen("backtest"):
            return
        while self.screen is not self._main and len(self.screen_stack) > 1:
            self.pop_screen()
        self.action_backtest()

    def _run_main_action(self, action: str) -> None:
        """在主屏上执行一个动作（命令面板用）。"""
        getattr(self.main_screen, f"action_{action}")()
