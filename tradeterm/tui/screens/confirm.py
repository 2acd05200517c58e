"""确认框：任何会下单、撤单、平仓或停机的操作先经它确认（y / Enter 确认，n / Esc 取消）。"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from tradeterm.tui.widgets.banner import ModeBanner


class ConfirmScreen(ModalScreen[bool]):
    """是/否确认框；dismiss(True) 表示确认。"""

    # 确认框的按键：y 确认、n / Esc 取消（Enter 触发获得焦点的按钮，默认是确认）
    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n", "answer(False)", "No"),
                Binding("escape", "answer(False)", "Cancel")]

    def __init__(self, title: str, body: str, confirm_label: str = "Confirm", *, danger: bool = False) -> None:
        """title 为标题，body 为说明（可多行），confirm_label 为确认按钮文字；danger 时按钮为红色。"""
        super().__init__()
        # 标题（英文）
        self.title_text = title
        # 说明正文（英文，可多行）
        self.body = body
        # 确认按钮的文字
        self.confirm_label = confirm_label
        # 是否为危险操作（确认按钮用 error 变体）
        self.danger = danger

    def compose(self) -> ComposeResult:
        """横幅 + 对话框（标题、正文、按钮）。"""
        yield ModeBanner()
        with Vertical(id="dialog", classes="confirm"):
            yield Static(self.title_text, classes="dialog-title")
            yield Static(self.body, id="confirm-body", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.confirm_label, variant="error" if self.danger else "primary", id="yes")
                yield Button("Cancel", id="no")

    def on_mount(self) -> None:
        """焦点放在确认按钮上（Enter 即确认）。"""
        self.query_one("#yes", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """按钮：确认或取消。"""
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        """按键 y / n / Esc。"""
        self.dismiss(yes)
