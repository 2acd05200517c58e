"""滚动日志：成交、信号、拒绝、错误、熔断、实例状态变化，一行一条，新的在下面。

- 整行可见：按窗格宽度折行（窗格变宽变窄时重新折行），价格与拒绝原因不会被截掉；
- 回看：窗格有焦点时方向键、PageUp/PageDown、Home/End 滚动；不在底部时新行不会把视图拽回底部；
- 过滤：按种类（全部 / 成交 / 信号 / 订单 / 警报 / 实例）与按实例，窗格标题写明当前的过滤；
- 历史：启动与附着时引擎从日志库给出的较早的行（`prepend`）按时间并到前面。
"""

from __future__ import annotations

from collections import deque

from rich.text import Text
from textual.events import Resize
from textual.widgets import RichLog

from tradeterm.tui.format import clock
from tradeterm.tui.model import LogEntry

# 日志窗格保留的行数（过滤切换时从这里重画）
LOG_LINES = 2000
# 行首单词 -> 部件样式类
TONES = {"FILL": "log--fill", "SIGNAL": "log--signal", "REJECTED": "log--warn", "ERROR": "log--error",
         "BREAKER": "log--error", "INSTANCE": "log--info", "ORDER": "log--info", "LOG": "log--info",
         "STALE": "log--warn", "KILL": "log--error", "RECONCILE": "log--error"}
# 种类过滤：(名字, 包含的事件种类)；None 表示全部。按 l 依次切换
KIND_FILTERS: tuple[tuple[str, frozenset[str] | None], ...] = (
    ("all", None),
    ("fills", frozenset({"fill"})),
    ("signals", frozenset({"signal"})),
    ("orders", frozenset({"order", "fill", "rejection"})),
    ("alerts", frozenset({"rejection", "error", "breaker", "stale", "kill_switch", "reconcile"})),
    ("instances", frozenset({"instance", "error", "log"})),
)


class EventLog(RichLog):
    """引擎事件的滚动日志；颜色取自 app.tcss 里的部件样式类。"""

    # 可在 CSS 里设置的部件样式：时间、成交、信号、警告、错误、一般信息
    COMPONENT_CLASSES = {"log--time", "log--fill", "log--signal", "log--warn", "log--error", "log--info"}

    def __init__(self, **kwargs) -> None:
        """与 RichLog 相同的参数；按宽度折行，自动滚到底（只在视图已在底部时）。"""
        # min_width=1：RichLog 默认至少按 78 列排版（更窄的窗格里行尾就被截掉了），这里按窗格的实际宽度折行
        super().__init__(max_lines=LOG_LINES, wrap=True, auto_scroll=True, markup=False, min_width=1, **kwargs)
        # 保留的全部行（不论过滤），按时间
        self.entries: deque[LogEntry] = deque(maxlen=LOG_LINES)
        # 当前种类过滤在 KIND_FILTERS 里的下标（0 为全部）
        self.kind_index = 0
        # 只显示这个实例的行；None 为全部实例
        self.instance: str | None = None
        # 上次折行时的内容宽度，字符（宽度变了才重新折行）
        self._wrapped_width = 0

    # ---- 写入 -------------------------------------------------------------------------------------

    def add(self, entry: LogEntry) -> None:
        """追加一行；通过过滤时写上屏（视图在底部时跟着滚到底，在回看时不动）。"""
        self.entries.append(entry)
        if self.shows(entry):
            self.write(self.render_entry(entry), scroll_end=self.is_vertical_scroll_end)

    def prepend(self, entries: list[LogEntry]) -> None:
        """并入较早的行（日志库里的历史）：与已有的按 (时刻, 说明) 去重，按时间排好后重画。"""
        seen = {(e.ts, e.line) for e in self.entries}
        fresh = [e for e in entries if (e.ts, e.line) not in seen]
        if not fresh:
            return
        merged = sorted([*fresh, *self.entries], key=lambda e: e.ts)
        self.entries = deque(merged, maxlen=LOG_LINES)
        self.redraw()

    def redraw(self) -> None:
        """按当前过滤与宽度重画全部保留的行，滚到底。"""
        self.clear()
        self._wrapped_width = self.scrollable_content_region.width
        for entry in self.entries:
            if self.shows(entry):
                self.write(self.render_entry(entry), scroll_end=False)
        self.scroll_end(animate=False, immediate=False, x_axis=False)

    def render_entry(self, entry: LogEntry) -> Text:
        """一行的富文本：时刻 + 事件说明（按行首单词着色）。"""
        head = entry.line.split(" ", 1)[0]
        text = Text(clock(entry.ts) + " ", self.get_component_rich_style("log--time"))
        text.append(entry.line, self.get_component_rich_style(TONES.get(head, "log--info")))
        return text

    def on_resize(self, event: Resize) -> None:
        """宽度变了：按新宽度重新折行（RichLog 只在第一次知道尺寸时排版，之后不会自己重排）。"""
        super().on_resize(event)
        if self.entries and self.scrollable_content_region.width != self._wrapped_width:
            self.redraw()

    # ---- 过滤 -------------------------------------------------------------------------------------

    @property
    def kind_filter(self) -> str:
        """当前种类过滤的名字（all、fills、signals、orders、alerts、instances）。"""
        return KIND_FILTERS[self.kind_index][0]

    def shows(self, entry: LogEntry) -> bool:
        """这一行是否通过当前的种类与实例过滤。"""
        kinds = KIND_FILTERS[self.kind_index][1]
        if kinds is not None and entry.kind not in kinds:
            return False
        return self.instance is None or entry.instance == self.instance

    def cycle_kind(self) -> str:
        """换到下一个种类过滤并重画；返回它的名字。"""
        self.kind_index = (self.kind_index + 1) % len(KIND_FILTERS)
        self.redraw()
        return self.kind_filter

    def set_instance(self, instance: str | None) -> None:
        """只显示某个实例的行（None 为全部）并重画。"""
        self.instance = instance
        self.redraw()

    def title(self) -> str:
        """窗格标题：Log，加上生效的过滤。"""
        parts = [part for part in (self.kind_filter if self.kind_index else "", self.instance or "") if part]
        # 圆括号而不是方括号：边框标题按 Textual 标记解析，方括号里的字会被当成样式标签吞掉
        return "Log" + (f" ({' · '.join(parts)})" if parts else "")
