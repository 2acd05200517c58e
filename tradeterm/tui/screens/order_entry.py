"""手动下单框（o 键）：交易对、方向、市价/限价、按数量或按名义金额、限价单的价格；
“Review” 先让引擎预览风控（dry_run，不下单），再弹出确认框列出订单、账户与风控结论，确认后才真正下单。
"""

from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Select, Static

from tradeterm.errors import UserError
from tradeterm.tui import format as fmt
from tradeterm.tui.screens.confirm import ConfirmScreen
from tradeterm.tui.parsing import parse_positive
from tradeterm.tui.screens.form import FormScreen
from tradeterm.tui.widgets.banner import ModeBanner
from tradeterm.tui.widgets.field import FieldInput


def review_text(preview: dict[str, Any], snapshot: dict[str, Any] | None) -> str:
    """确认框正文：订单、账户与该交易对的持仓、风控结论（英文）。"""
    quote = (snapshot or {}).get("account", {}).get("quote", "")
    # 数量与限价是将要发出的原数（exact）：确认框里看到的就是交易所会收到的，不是四舍五入后的近似
    price = f"limit {fmt.exact(preview['price'])}" if preview["type"] == "limit" else \
        f"market (last {fmt.money(preview['reference_price'])})"
    lines = [f"{preview['side'].upper()} {fmt.exact(preview['amount'])} {preview['symbol']}  {price}",
             f"Notional about {fmt.money(preview['notional'])} {quote}", ""]
    if snapshot:
        account = snapshot["account"]
        held = sum(p["amount"] for p in snapshot.get("positions", []) if p["symbol"] == preview["symbol"])
        lines += [f"Equity {fmt.money(account['equity'])} {quote}   Cash {fmt.money(account['cash'])} {quote}",
                  f"Drawdown {account['drawdown'] * 100:.2f}%   Breaker {account.get('breaker') or 'ok'}   "
                  f"Kill switch {'ENGAGED' if account.get('killed') else 'off'}",
                  f"Position in {preview['symbol']} now: {fmt.amount(held)}", ""]
    if preview["allowed"]:
        lines.append("Risk checks: passed (position, exposure, notional, price band, rate, balance)")
    else:
        lines.append(f"Risk checks: REFUSED by {preview['rule']}: {preview['reason']}")
    return "\n".join(lines)


class OrderEntryScreen(FormScreen):
    """手动下单表单；dismiss(订单字典) 表示已下单，dismiss(None) 表示取消。"""

    # 表单按键：Esc 取消（Tab 在字段间移动，Enter 在最后一个字段上等于 Review）
    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    # 打开时焦点在数量上（之前敲下的键由 App 暂存，见 FormScreen）
    AUTO_FOCUS = "#size"

    def __init__(self, symbols: list[str], symbol: str | None = None) -> None:
        """symbols 为可下单的交易对；symbol 为默认选中的（通常是选中实例的交易对）。"""
        super().__init__()
        # 可选的交易对
        self.symbols = symbols
        # 默认交易对
        self.default_symbol = symbol if symbol in symbols else (symbols[0] if symbols else None)

    def compose(self) -> ComposeResult:
        """横幅 + 表单。"""
        yield ModeBanner()
        with Vertical(id="dialog", classes="order-entry"):
            yield Static("Manual order", classes="dialog-title")
            with Horizontal(classes="form-row"):
                yield Label("Symbol", classes="form-label")
                yield Select([(s, s) for s in self.symbols], value=self.default_symbol or Select.NULL,
                             allow_blank=False if self.symbols else True, id="symbol", compact=True)
            with Horizontal(classes="form-row"):
                yield Label("Side", classes="form-label")
                yield Select([("buy", "buy"), ("sell", "sell")], value="buy", allow_blank=False, id="side",
                             compact=True)
            with Horizontal(classes="form-row"):
                yield Label("Type", classes="form-label")
                yield Select([("market", "market"), ("limit", "limit")], value="market", allow_blank=False,
                             id="type", compact=True)
            with Horizontal(classes="form-row"):
                yield Label("Size in", classes="form-label")
                yield Select([("amount (base)", "amount"), ("notional (quote)", "notional")], value="notional",
                             allow_blank=False, id="size-kind", compact=True)
            with Horizontal(classes="form-row"):
                yield Label("Size", classes="form-label")
                yield FieldInput(placeholder="e.g. 100", id="size", compact=True)
            with Horizontal(classes="form-row"):
                yield Label("Limit price", classes="form-label")
                yield FieldInput(placeholder="limit orders only", id="price", compact=True, disabled=True)
            yield Static("", id="form-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Review", variant="primary", id="review")
                yield Button("Cancel", id="cancel")

    @on(Select.Changed, "#type")
    def _type_changed(self, event: Select.Changed) -> None:
        """只有限价单能填价格。"""
        self.query_one("#price", Input).disabled = event.value != "limit"

    def order_args(self) -> dict[str, Any]:
        """表单 -> manual_order 的参数；填错时抛 UserError。"""
        symbol = self.query_one("#symbol", Select).value
        if symbol is Select.NULL or not symbol:
            raise UserError("pick a symbol")
        order_type = self.query_one("#type", Select).value
        size_kind = self.query_one("#size-kind", Select).value
        args: dict[str, Any] = {"symbol": symbol, "side": self.query_one("#side", Select).value, "type": order_type,
                                size_kind: parse_positive(self.query_one("#size", Input).value, size_kind)}
        if order_type == "limit":
            args["price"] = parse_positive(self.query_one("#price", Input).value, "limit price")
        return args

    def show_error(self, message: str) -> None:
        """在表单下方显示错误（空串清除）。"""
        self.query_one("#form-error", Static).update(message)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        """取消，不下单。"""
        self.dismiss(None)

    @on(Button.Pressed, "#review")
    @on(Input.Submitted)
    def review(self) -> None:
        """校验表单并请引擎预览风控，然后弹确认框。"""
        try:
            args = self.order_args()
        except UserError as exc:
            self.show_error(str(exc))
            return
        self.show_error("")
        self._review(args)

    @work(exclusive=True, group="order-entry")
    async def _review(self, args: dict[str, Any]) -> None:
        """预览（dry_run）-> 确认框 -> 下单；任何一步的用户错误都显示在表单里。"""
        app: Any = self.app
        try:
            preview = await app.call_engine("manual_order", dry_run=True, **args)
        except UserError as exc:
            self.show_error(str(exc))
            return
        body = review_text(preview, app.model.snapshot)
        if not preview["allowed"]:
            self.show_error(f"refused by risk rule {preview['rule']}: {preview['reason']}")
            return
        if not await app.push_screen_wait(ConfirmScreen("Send this order?", body, "Send order")):
            return
        try:
            order = await app.call_engine("manual_order", **args)
        except UserError as exc:
            self.show_error(str(exc))
            return
        self.dismiss(order)
