"""主屏：横幅、账户栏，左边报价 / 实例 / 持仓与挂单，右边 K 线图、权益曲线与日志；底部按键栏。

按键作用于选中的实例（实例表的光标行）或选中的挂单（挂单表的光标行）。会下单、撤单、平仓的操作先确认。
命令在后台 worker 里发给引擎，界面不等待；结果与错误以通知显示。
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen

from tradeterm.errors import UserError
from tradeterm.tui import format as fmt
from tradeterm.tui.model import ConsoleModel, LogEntry
from tradeterm.tui.screens.confirm import ConfirmScreen
from tradeterm.tui.screens.order_entry import OrderEntryScreen
from tradeterm.tui.screens.params import ParamsScreen
from tradeterm.tui.screens.trades import TradesScreen
from tradeterm.tui.widgets.account import AccountBar
from tradeterm.tui.widgets.banner import ModeBanner
from tradeterm.tui.widgets.key_bar import KeyBar
from tradeterm.tui.widgets.charts import EquityChart, PriceChart
from tradeterm.tui.widgets.event_log import EventLog
from tradeterm.tui.widgets.tables import InstancesTable, OrdersTable, PositionsTable, QuotesTable


class MainScreen(Screen):
    """控制台主屏。"""

    # 主屏按键（帮助屏 tradeterm/tui/screens/help.py 的 KEYMAP 逐一列出它们）
    # 按键栏按这个顺序显示：最要紧的（帮助、退出、一键停止、下单）在前，80 列的终端上也看得到；? 与 q 同时是 App 的
    # 全局键，这里再列一次只为排在按键栏最前面（动作就是 App 的）
    BINDINGS = [
        Binding("question_mark", "app.help", "Help", key_display="?"),
        Binding("q", "app.quit", "Quit"),
        Binding("K", "kill_switch", "KILL", key_display="K", tooltip="Kill switch"),
        # 打开表单的键是 priority：动作在 App 派发下一个键之前就执行完（表单已在屏幕栈上），紧跟着敲下的键由 App 暂存、
        # 表单就绪后按顺序送进去（见 tradeterm/tui/screens/form.py）；普通绑定要等按键冒泡到屏幕才执行，那之间的键会丢
        Binding("o", "order_entry", "Order", tooltip="Manual order entry", priority=True),
        Binding("e", "edit_params", "Params", tooltip="Edit the selected instance's parameters", priority=True),
        Binding("p", "toggle_pause", "Pause", tooltip="Pause / resume the selected instance"),
        Binding("s", "toggle_stop", "Stop", tooltip="Stop / start the selected instance"),
        Binding("f", "flatten", "Flatten", tooltip="Flatten the selected instance"),
        Binding("c", "cancel_order", "Cancel", tooltip="Cancel the selected order"),
        Binding("C", "cancel_all", "Cancel all", key_display="C", tooltip="Cancel every open order"),
        Binding("v", "toggle_view", "Charts/Log", tooltip="Small terminals: switch between the tables and the "
                                                          "charts with the log"),
        Binding("t", "trades", "Trades", tooltip="Closed trades and realized P&L by day, week, month and instance"),
        Binding("l", "log_kind", "Log filter", tooltip="Show all log lines, or only fills, signals, orders, alerts "
                                                       "or instance changes"),
        Binding("i", "log_instance", "Log: instance", tooltip="Show only the selected instance's log lines (again: "
                                                              "every instance)"),
    ]

    class Ready(Message):
        """主屏的窗格都已挂载：App 收到后才开始跟随事件与刷新。"""

    def compose(self) -> ComposeResult:
        """布局：横幅、账户栏、左右两栏、按键栏。"""
        yield ModeBanner()
        yield AccountBar(id="account")
        with Horizontal(id="body"):
            with Vertical(id="left"):
                yield QuotesTable(id="quotes")
                yield InstancesTable(id="instances")
                with Horizontal(id="books"):
                    yield PositionsTable(id="positions")
                    yield OrdersTable(id="orders")
            with Vertical(id="right"):
                yield PriceChart(id="price-chart")
                yield EquityChart(id="equity-chart")
                yield EventLog(id="log")
        yield KeyBar(compact=True)

    def on_mount(self) -> None:
        """窗格标题；焦点放在实例表上（方向键直接选实例）。"""
        titles = {"#quotes": "Quotes", "#instances": "Instances", "#positions": "Positions",
                  "#orders": "Open orders", "#price-chart": "Chart", "#equity-chart": "Equity", "#log": "Log"}
        for selector, title in titles.items():
            self.query_one(selector).border_title = title
        self.query_one("#instances", InstancesTable).focus()
        self.post_message(self.Ready())

    # ---- 刷新（由 App 调用） -------------------------------------------------------------------

    def refresh_view(self, model: ConsoleModel) -> None:
        """按最新快照刷新账户栏与四张表；失联时整屏带 -disconnected（窗格变暗，见 app.tcss），账户栏写明数据多旧。"""
        self.set_class(model.disconnected, "-disconnected")
        self.query_one("#account", AccountBar).show(model.snapshot, model.data_age_s() if model.disconnected else None)
        for table in (QuotesTable, InstancesTable, PositionsTable, OrdersTable):
            self.query_one(table).refresh_from(model)

    def refresh_charts(self, model: ConsoleModel) -> None:
        """重画两张图（选中实例的 K 线与成交标记、权益曲线）。"""
        row = model.instance(self.selected_instance())
        chart = self.query_one("#price-chart", PriceChart)
        if row is None:
            chart.show("no instance selected", [], [])
        else:
            candles = list(model.candles.get((row["symbol"], row["interval"]), ()))
            chart.show(f"{row['name']}  {row['symbol']} {row['interval']}", candles,
                       model.fills_for(row["symbol"], row["name"]))
        self.query_one("#equity-chart", EquityChart).show(list(model.equity))

    def add_log(self, entries: list[LogEntry]) -> None:
        """日志窗格追加几行（实时事件）。"""
        log = self.query_one("#log", EventLog)
        for entry in entries:
            log.add(entry)

    def add_log_history(self, entries: list[LogEntry]) -> None:
        """日志窗格并入较早的几行（引擎从日志库给出的历史）。"""
        self.query_one("#log", EventLog).prepend(entries)

    def on_data_table_row_highlighted(self, event: InstancesTable.RowHighlighted) -> None:
        """换了选中的实例：图表立刻换成它的。"""
        if event.data_table.id == "instances":
            app: Any = self.app
            app.model.charts_dirty = True

    # ---- 选中 -----------------------------------------------------------------------------------

    def selected_instance(self) -> str | None:
        """实例表光标行的实例名。"""
        return self.query_one("#instances", InstancesTable).selected_key()

    def selected_order(self) -> str | None:
        """挂单表光标行的客户端订单号。"""
        return self.query_one("#orders", OrdersTable).selected_key()

    def _instance_or_warn(self) -> dict[str, Any] | None:
        """选中实例的快照行；没有选中时提示并返回 None。"""
        app: Any = self.app
        row = app.model.instance(self.selected_instance())
        if row is None:
            self.notify("Select an instance first (arrow keys in the Instances table).", severity="warning")
        return row

    # ---- 动作 -----------------------------------------------------------------------------------

    def action_toggle_view(self) -> None:
        """v：小终端（紧凑布局）上在“表格”与“图表 + 日志”两个视图之间切换；宽终端上两者同时可见，只提示一下。"""
        if not (self.has_class("-compact") or self.has_class("-short")):  # 断点类加在屏幕上（见 App 的断点）
            self.notify("Tables, charts and the log are all on screen at this size.")
            return
        self.toggle_class("-charts")

    def action_trades(self) -> None:
        """t：已平仓交易与已实现盈亏（按日、周、月、实例）。"""
        self.app.push_screen(TradesScreen())

    def action_log_kind(self) -> None:
        """l：日志窗格换到下一个种类过滤（全部、成交、信号、订单、警报、实例）。"""
        log = self.query_one("#log", EventLog)
        log.cycle_kind()
        log.border_title = log.title()

    def action_log_instance(self) -> None:
        """i：日志窗格只显示选中实例的行；已经在只看某个实例时恢复显示全部实例。"""
        log = self.query_one("#log", EventLog)
        if log.instance is not None:
            log.set_instance(None)
        else:
            row = self._instance_or_warn()
            if row is None:
                return
            log.set_instance(row["name"])
        log.border_title = log.title()

    def action_toggle_pause(self) -> None:
        """p：运行中则暂停，暂停或出错则恢复。"""
        row = self._instance_or_warn()
        if row is None:
            return
        if row["status"] == "stopped":
            self.notify(f"{row['name']} is stopped; press s to start it.", severity="warning")
            return
        command = "pause" if row["status"] == "running" else "resume"
        self.app.send_command(command, f"{command} {row['name']}", instance=row["name"])

    def action_toggle_stop(self) -> None:
        """s：已停止或出错则启动，否则停止（停止不动持仓与挂单）。"""
        row = self._instance_or_warn()
        if row is None:
            return
        command = "start" if row["status"] in ("stopped", "error") else "stop"
        self.app.send_command(command, f"{command} {row['name']}", instance=row["name"])

    def action_flatten(self) -> None:
        """f：先向引擎要真实的持仓数量（不用表格里可能过时的数字），确认后平掉选中实例（暂停、撤单、市价平仓）。"""
        row = self._instance_or_warn()
        if row is None:
            return
        self.run_worker(self._confirm_flatten(row["name"]), name="flatten preview", group="commands")

    async def _confirm_flatten(self, name: str) -> None:
        """flatten 的确认框：写明引擎此刻的真实持仓与挂单数。"""
        app: Any = self.app
        try:
            preview = await app.call_engine("flatten", instance=name, dry_run=True)
        except UserError as exc:
            self.notify(str(exc), title="flatten failed", severity="error", timeout=8)
            return
        body = (f"Pause {name} (no new entries), cancel its {preview['open_orders']} open order(s) and close its "
                f"position ({fmt.exact(preview['amount'])} {preview['symbol']}) with a market order.")
        app.confirm_then(ConfirmScreen(f"Flatten {name}?", body, "Flatten", danger=True),
                         "flatten", f"flatten {name}", instance=name)

    def action_cancel_order(self) -> None:
        """c：确认后撤掉挂单表里选中的挂单。"""
        app: Any = self.app
        order_id = self.selected_order()
        order = next((o for o in (app.model.snapshot or {}).get("orders", []) if o["client_order_id"] == order_id),
                     None)
        if order is None:
            self.notify("No open order selected (Tab to the Open orders table).", severity="warning")
            return
        body = (f"{order['side']} {order['amount']:.6g} {order['symbol']} {order['type']}"
                f"{' @ ' + format(order['price'], ',.2f') if order.get('price') else ''} "
                f"({order['instance'] or 'manual'})\nclient order id {order_id}")
        app.confirm_then(ConfirmScreen("Cancel this order?", body, "Cancel order", danger=True),
                         "cancel_order", "cancel order", client_order_id=order_id)

    def action_cancel_all(self) -> None:
        """C：确认后撤掉全部挂单。"""
        app: Any = self.app
        count = len((app.model.snapshot or {}).get("orders", []))
        app.confirm_then(ConfirmScreen("Cancel ALL open orders?", f"{count} open order(s) will be cancelled.",
                                       "Cancel all", danger=True), "cancel_all", "cancel all orders")

    def action_order_entry(self) -> None:
        """o：打开手动下单框（默认选中实例的交易对）。"""
        app: Any = self.app
        row = app.model.instance(self.selected_instance())
        symbols = app.model.symbols()
        if not symbols:
            self.notify("No symbols yet: waiting for the engine.", severity="warning")
            return

        def done(order: dict | None) -> None:
            """下单框关闭：下了单就提示。"""
            if order:
                self.notify(f"Order sent: {order['side']} {order['amount']:.6g} {order['symbol']} "
                            f"{order['type']} -> {order['status']}")
                app.request_refresh()

        app.push_screen(OrderEntryScreen(symbols, row["symbol"] if row else None), done)

    def action_edit_params(self) -> None:
        """e：编辑选中实例的参数。"""
        row = self._instance_or_warn()
        if row is None:
            return

        def done(result: dict | None) -> None:
            """参数框关闭：生效了就提示。"""
            if result:
                self.notify(f"Parameters of {row['name']} updated: {result['params']}")
                self.app.request_refresh()

        self.app.push_screen(ParamsScreen(row["name"], row["strategy"], row["params"]), done)

    def action_kill_switch(self) -> None:
        """K：确认后一键停止；已接合时改为确认后解除（实例保持 stopped，由交易员逐个 start）。"""
        app: Any = self.app
        if (app.model.snapshot or {}).get("account", {}).get("killed"):
            body = ("The kill switch is ENGAGED. Reset it to allow new orders again.\n"
                    "Every instance stays stopped until you start it (s).")
            app.confirm_then(ConfirmScreen("Reset the kill switch?", body, "Reset", danger=True),
                             "kill_switch", "kill switch reset", reset=True)
            return
        body = ("Block new orders, stop EVERY instance, cancel ALL open orders, then close EVERY position "
                "(bots' and manual) with market orders.\nIt stays engaged after a restart until you reset it (K again).")
        app.confirm_then(ConfirmScreen("Engage the KILL SWITCH?", body, "KILL", danger=True),
                         "kill_switch", "kill switch")
