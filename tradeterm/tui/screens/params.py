"""参数编辑框（e 键）：选中实例的每个参数一个输入框；保存时发 set_params，引擎按策略类校验，
非法时显示引擎的错误消息、参数不变。
"""

from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from tradeterm.errors import UserError
from tradeterm.tui.parsing import parse_param
from tradeterm.tui.screens.form import FormScreen
from tradeterm.tui.widgets.banner import ModeBanner
from tradeterm.tui.widgets.field import FieldInput


class ParamsScreen(FormScreen):
    """编辑一个实例的参数；dismiss(新的实例行) 表示已生效，dismiss(None) 表示取消。"""

    # 表单按键：Esc 取消
    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    # 打开时焦点在第一个参数上（没有参数时交给默认规则）；之前敲下的键由 App 暂存，见 FormScreen
    AUTO_FOCUS = "#param-0"

    def __init__(self, instance: str, strategy: str, params: dict[str, Any]) -> None:
        """instance 为实例名，strategy 为策略类名，params 为当前参数。"""
        super().__init__()
        # 实例名
        self.instance = instance
        # 策略类名（标题用）
        self.strategy = strategy
        # 当前参数：名 -> 值
        self.params = dict(params)

    def compose(self) -> ComposeResult:
        """横幅 + 每个参数一行 + 错误行 + 按钮。"""
        yield ModeBanner()
        with Vertical(id="dialog", classes="params"):
            yield Static(f"Parameters of {self.instance} ({self.strategy})", classes="dialog-title")
            for index, (name, value) in enumerate(self.params.items()):
                with Horizontal(classes="form-row"):
                    yield Label(name, classes="form-label")
                    yield FieldInput(str(value), id=f"param-{index}", compact=True)
            if not self.params:
                yield Static("This strategy has no parameters.")
            yield Static("", id="form-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save", variant="primary", id="save")
                yield Button("Cancel", id="cancel")

    def edited(self) -> dict[str, Any]:
        """改过的参数：名 -> 新值（按原值的类型逐字解析，见 tradeterm/tui/parsing.py）；写法不对时抛 UserError。"""
        changed = {}
        for index, (name, value) in enumerate(self.params.items()):
            new = parse_param(name, self.query_one(f"#param-{index}", Input).value, value)
            if new != value or type(new) is not type(value):
                changed[name] = new
        return changed

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        """取消。"""
        self.dismiss(None)

    @on(Button.Pressed, "#save")
    @on(Input.Submitted)
    def save(self) -> None:
        """发 set_params（没改动就直接关闭）。"""
        try:
            changed = self.edited()
        except UserError as exc:
            self.query_one("#form-error", Static).update(str(exc))
            return
        if not changed:
            self.dismiss(None)
            return
        self._save(changed)

    @work(exclusive=True, group="params")
    async def _save(self, changed: dict[str, Any]) -> None:
        """请引擎修改参数；用户错误（如参数名不对、值非法）显示在表单里。"""
        app: Any = self.app
        try:
            row = await app.call_engine("set_params", instance=self.instance, params=changed)
        except UserError as exc:
            self.query_one("#form-error", Static).update(str(exc))
            return
        self.dismiss(row)
