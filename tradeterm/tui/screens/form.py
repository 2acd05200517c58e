"""表单对话框的基类（下单框、参数框）：打开表单的那个键之后紧跟着敲下的键（快速输入、粘贴、机器忙时积压的输入）
一个都不丢，按原顺序落进表单。

为什么会丢：Textual 把按键送给“当前屏幕上有焦点的部件，没有就送给屏幕本身”。新表单推上屏幕栈之后要先挂载、再把焦点
放到第一个字段——这段时间里到达的键被送给了屏幕本身，屏幕不认识它们，就丢了（旧版本在负载下 `0.015` 只剩 `5`，或整个
丢掉）。做法：表单挂载完、焦点落定之前，App 把到达的按键与粘贴暂存起来（`TradetermApp.on_event`）；表单就绪时发
`FormScreen.Ready`，App 按到达顺序把暂存的键重新走一遍正常的派发（此时焦点已在字段上）。暂存期间后到的键也排在后面，
顺序不变。表单被关掉（不论是否就绪）时同样放行，暂存的键不会卡住。
"""

from __future__ import annotations

from typing import ClassVar

from textual import events
from textual.message import Message
from textual.screen import ModalScreen


class FormScreen(ModalScreen):
    """一个表单对话框：AUTO_FOCUS（Textual 打开屏幕时聚焦的字段）落定之前到达的按键由 App 暂存、之后按顺序送达。"""

    # 打开时获得焦点的字段（CSS 选择器，Textual 的屏幕属性）；子类改成自己的第一个字段
    AUTO_FOCUS: ClassVar[str | None] = "*"

    class Ready(Message):
        """表单已挂载、焦点已落在第一个字段上：App 收到后放行暂存的按键。"""

    def __init__(self) -> None:
        """初始未就绪（App 据此暂存按键）。"""
        super().__init__()
        # 是否已挂载且焦点已落定（之前到达的按键由 App 暂存）
        self.ready = False

    def on_mount(self) -> None:
        """表单里没有要聚焦的字段（例如没有参数的策略）时立刻就绪；否则等焦点落定（Textual 的聚焦要到下一轮才生效）。"""
        if not self._first_fields():
            self._become_ready()

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """焦点落到了第一个字段上：就绪。"""
        if not self.ready and event.widget in self._first_fields():
            self._become_ready()

    def on_unmount(self) -> None:
        """表单关掉了：同样通知 App 放行（未就绪就被关掉时，暂存的键不能一直卡着）。"""
        self._become_ready()

    def _first_fields(self) -> list:
        """与 AUTO_FOCUS 匹配的可聚焦部件。"""
        if self.AUTO_FOCUS is None:
            return []
        return [widget for widget in self.query(self.AUTO_FOCUS) if widget.focusable]

    def _become_ready(self) -> None:
        """标记就绪并通知 App 放行暂存的按键。"""
        self.ready = True
        self.app.post_message(self.Ready())
