"""完整显示一条文件路径的标签：按部件宽度折成几行，尽量在 `/` 之后断行，文件名因此留在一行里（放得下时）。

为什么不用 Static：Textual 只在空白处断行，没有空格的长路径会被从中间硬折开（文件名被拆到两行）；输入框更是只显示
开头的一截（回测屏 80 列时，数据框里 `../shared/data/binanceus_B` 之后的文件名都看不到）。
"""

from __future__ import annotations

import re

from rich.cells import cell_len, chop_cells
from rich.text import Text
from textual.geometry import Size
from textual.reactive import reactive
from textual.widget import Widget

# 路径的断行单位：带着结尾 `/` 的每一级目录，以及最后的文件名
PATH_PART = re.compile(r"[^/]*/|[^/]+")


def wrap_path(text: str, width: int) -> list[str]:
    """把 text（通常是“前缀 + 路径”）折成每行不超过 width 列的几行：只在 `/` 之后断行，一段比整行还长时才从中间折断。"""
    if width <= 0:
        return [text]
    lines: list[str] = []
    current = ""
    for part in PATH_PART.findall(text):
        if cell_len(current + part) <= width:
            current += part
            continue
        if current:
            lines.append(current)
        pieces = chop_cells(part, width)  # 比整行还长的一段（很长的文件名）：按列宽折断
        lines.extend(pieces[:-1])
        current = pieces[-1]
    lines.append(current)
    return lines


class PathLabel(Widget):
    """显示 prefix + path 的标签，高度随折出的行数变化（样式在 app.tcss 里，高度应设为 auto）。"""

    # 要显示的路径（改动时重新布局：行数可能变了）
    path: reactive[str] = reactive("", layout=True)

    def __init__(self, path: str = "", *, prefix: str = "", id: str | None = None,
                 classes: str | None = None) -> None:
        """path 为路径；prefix 为写在路径前面的说明（如 "data: "）；id、classes 同 Widget。"""
        super().__init__(id=id, classes=classes)
        # 写在路径前面的说明文字
        self.prefix = prefix
        self.set_reactive(PathLabel.path, path)

    def lines(self, width: int) -> list[str]:
        """按 width 列折好的各行。"""
        return wrap_path(self.prefix + self.path, width)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        """高度 = 按内容宽度折出的行数（height: auto 时 Textual 据此布局）。"""
        return len(self.lines(width))

    def render(self) -> Text:
        """按当前宽度折好的路径（纯文字：路径里的 `[` 不会被当成标记）。"""
        return Text("\n".join(self.lines(self.size.width)), no_wrap=True, overflow="crop")
