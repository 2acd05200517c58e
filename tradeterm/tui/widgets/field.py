"""表单的输入框：编辑键（退格、删除、方向、Home/End、Enter……）与可打印字符在同一个队列里按到达顺序处理。

为什么要有它：Textual 的 Input 在自己的队列里立刻插入可打印字符，编辑键却是“绑定”，要等按键冒泡回 App 才执行。
一次到达的一串键（快速输入、机器忙时积压的输入）于是被重新排序：`0.015` + 两个退格 + `25` 变成 `0.01525` 再删掉
最后两位——退格删错了字符，看起来就是“键丢了”。这里在输入框自己的按键处理里就执行编辑键对应的动作并截住按键，
所有键都按敲下的顺序生效。
"""

from __future__ import annotations

from textual import events
from textual.binding import Binding
from textual.widgets import Input


def edit_actions() -> dict[str, str]:
    """Input 的每个编辑键 -> 它的动作（取自 Input.BINDINGS，一个绑定可以有几个用逗号分开的键）。"""
    actions: dict[str, str] = {}
    for binding in Input.BINDINGS:
        if isinstance(binding, Binding):
            for key in binding.key.split(","):
                actions[key.strip()] = binding.action
    return actions


# 编辑键 -> 动作名（如 backspace -> delete_left、enter -> submit）
EDIT_ACTIONS = edit_actions()


class FieldInput(Input):
    """按敲下的顺序处理每个键的输入框（用法与 Input 相同）。"""

    async def on_key(self, event: events.Key) -> None:
        """编辑键：当场执行它的动作并截住（不再冒泡成绑定，也就不会排到后来的字符后面）。"""
        action = EDIT_ACTIONS.get(event.key)
        if action is None:
            return
        event.stop()
        event.prevent_default()
        await self.run_action(action)
