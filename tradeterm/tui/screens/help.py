"""帮助屏（? 键）：列出每一个按键及其作用，按屏幕分组。"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from tradeterm.tui.widgets.banner import ModeBanner

# 帮助屏的全部按键：(分组, 按键, 作用)。主屏与 App 的按键和它们的 BINDINGS 一一对应（测试核对）
KEYMAP: tuple[tuple[str, str, str], ...] = (
    ("Main screen", "Up / Down", "move the selection in the focused table"),
    ("Main screen", "Tab / Shift+Tab", "focus the next / previous pane"),
    ("Main screen", "p", "pause / resume the selected instance"),
    ("Main screen", "s", "stop / start the selected instance"),
    ("Main screen", "f", "flatten: pause, cancel, close (asks)"),
    ("Main screen", "c", "cancel the selected open order (asks first)"),
    ("Main screen", "C", "cancel all open orders (asks first)"),
    ("Main screen", "o", "manual order: form, risk preview, then confirmation"),
    ("Main screen", "e", "edit the parameters of the selected instance"),
    ("Main screen", "K", "KILL: stop, cancel, close all; K resets"),
    ("Main screen", "v", "small terminals (80x24): tables <-> charts and the log"),
    ("Main screen", "b", "backtest screen: run, browse and compare backtests"),
    ("Main screen", "t", "trades & P&L: closed trades, P&L by day / week / month"),
    ("Main screen", "l", "log filter: all, fills, signals, orders, alerts, instances"),
    ("Main screen", "i", "log: only the selected instance's lines (again: all)"),
    ("Log pane", "Up / Down / PgUp / PgDn", "scroll back (Tab to the log first); End follows again"),
    ("Trades screen", "1 - 3", "tabs: trades, P&L by period, by instance and symbol"),
    ("Trades screen", "d / w / m", "realized P&L by day / week / month"),
    ("Trades screen", "r", "refresh now (it also refreshes every 5 s)"),
    ("Trades screen", "Esc", "back to the main screen"),
    ("Backtest screen", "Ctrl+R / Enter", "run the backtest in the form (Enter in any field)"),
    ("Backtest screen", "1 - 5", "tabs: metrics, trades, charts, runs, compare"),
    ("Backtest screen", "r", "runs list, focused (it opens there when runs exist)"),
    ("Backtest screen", "Space / Enter", "mark / unmark the highlighted run (Runs tab)"),
    ("Backtest screen", "c", "compare the two marked runs"),
    ("Backtest screen", "Esc", "back to the main screen (a running backtest goes on)"),
    ("Everywhere", "?", "this help screen"),
    ("Everywhere", "Ctrl+P", "command palette: every action by name"),
    ("Everywhere", "q / Ctrl+Q", "quit (asks; says whether the engine stops)"),
    ("Dialogs", "y / Enter", "confirm (Enter presses the focused button)"),
    ("Dialogs", "n / Esc", "cancel and close the dialog"),
    ("Dialogs", "Tab / Shift+Tab", "move between the fields of a form"),
    ("Mouse", "click", "select rows, press buttons; the wheel scrolls"),
)


class HelpScreen(ModalScreen[None]):
    """按键一览；Esc、q 或 ? 关闭。"""

    # 关闭帮助屏的按键
    BINDINGS = [Binding("escape", "close", "Close"), Binding("q", "close", "Close", show=False),
                Binding("question_mark", "close", "Close", show=False, key_display="?")]

    def compose(self) -> ComposeResult:
        """横幅 + 按键表。"""
        yield ModeBanner()
        with VerticalScroll(id="dialog", classes="help"):
            yield Static("Keys", classes="dialog-title")
            table: DataTable = DataTable(id="keys", cursor_type="none", zebra_stripes=True)
            yield table
            yield Static("Esc closes this screen.", classes="dialog-hint")

    def on_mount(self) -> None:
        """填按键表。"""
        table = self.query_one("#keys", DataTable)
        table.add_column("Where", key="where")
        table.add_column("Key", key="key")
        table.add_column("Action", key="action")
        for where, key, action in KEYMAP:
            table.add_row(where, key, action)

    def action_close(self) -> None:
        """关闭帮助屏。"""
        self.dismiss(None)
