"""滚动日志：成交、信号、拒绝、错误、熔断、实例状态变化，一行一条，新的在下面。"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import RichLog

from tradeterm.tui.format import clock

# 日志窗格保留的行数
LOG_LINES = 500
# 行首单词 -> 部件样式类
TONES = {"FILL": "log--fill", "SIGNAL": "log--signal", "REJECTED": "log--warn", "ERROR": "log--error",
         "BREAKER": "log--error", "INSTANCE": "log--info", "ORDER": "log--info", "LOG": "log--info"}


class EventLog(RichLog):
    """引擎事件的滚动日志；颜色取自 app.tcss 里的部件样式类。"""

    # 可在 CSS 里设置的部件样式：时间、成交、信号、警告、错误、一般信息
    COMPONENT_CLASSES = {"log--time", "log--fill", "log--signal", "log--warn", "log--error", "log--info"}

    def __init__(self, **kwargs) -> None:
        """与 RichLog 相同的参数；限制行数，自动滚到底。"""
        super().__init__(max_lines=LOG_LINES, wrap=False, auto_scroll=True, markup=False, **kwargs)

    def add(self, ts: int, line: str) -> None:
        """追加一行：时刻 + 事件说明（按行首单词着色）。"""
        head = line.split(" ", 1)[0]
        text = Text(clock(ts) + " ", self.get_component_rich_style("log--time"))
        text.append(line, self.get_component_rich_style(TONES.get(head, "log--info")))
        self.write(text)
