"""主屏的四张表：报价、策略实例、持仓、挂单。每张表按行键（交易对、实例名、客户端订单号）增量更新，
光标（选中的实例或订单）在刷新时保持不动。颜色取自 app.tcss 里的部件样式类（涨跌、状态）。
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.style import Style
from rich.text import Text
from textual.widgets import DataTable

from tradeterm.tui import format as fmt
from tradeterm.tui.model import ConsoleModel, sparkline

# 报价表里迷你走势图的宽度，字符
SPARK_WIDTH = 20
# 实例状态 -> 部件样式类
STATUS_CLASSES = {"running": "table--running", "paused": "table--paused", "stopped": "table--stopped",
                  "error": "table--error"}


def fit(text: str, width: int) -> str:
    """超过 width 个字符时截断并以省略号结尾（列宽固定，长名字不挤进下一列）。"""
    return text if len(text) <= width else text[:width - 1] + "…"


class KeyedTable(DataTable):
    """按行键增量更新的数据表：已有的行只改变了的格子，新行追加，消失的行删除。"""

    # 列定义：(列键, 表头, 宽度字符数或 None 自动)
    COLUMNS: ClassVar[tuple[tuple[str, str, int | None], ...]] = ()
    # 右对齐（数字）的列键：表头也右对齐
    NUMERIC: ClassVar[frozenset[str]] = frozenset()
    # 可在 CSS 里设置的部件样式：涨、跌、四种实例状态、次要文字
    COMPONENT_CLASSES = {"table--up", "table--down", "table--running", "table--paused", "table--stopped",
                         "table--error", "table--dim"}

    def __init__(self, **kwargs: Any) -> None:
        """与 DataTable 相同的参数；默认整行光标、斑马纹、格子不加内边距（列宽里自带一格间隔，窄终端能多放一列）。"""
        super().__init__(cursor_type="row", zebra_stripes=True, cell_padding=0, **kwargs)
        # 行键 -> 上次写进表的格子（没变的格子不重写，避免无谓重绘）
        self._cells: dict[str, tuple[Any, ...]] = {}
        # 上次画面所用的各列宽度（字符数）：DataTable 在空闲时按新格子量列宽，量完却不作废已画好的格子
        self._drawn_widths: tuple[int, ...] = ()

    def on_mount(self) -> None:
        """带键加列（update_cell 需要列键）。"""
        for key, label, width in self.COLUMNS:
            # 每列多留一格作列间隔（cell_padding 为 0）
            header = Text(label, justify="right") if key in self.NUMERIC else Text(label)
            self.add_column(header, key=key, width=None if width is None else width + 1)

    def on_idle(self) -> None:
        """列宽变了（DataTable 刚在空闲时按新格子量过）：重写一个格子（值不变）让 DataTable 作废按旧列宽画好的格子。

        为什么：DataTable 缓存每个画好的格子，缓存键里没有列宽；自动宽度的列量宽之后，已缓存的格子仍按旧宽度
        （只有表头那么宽）截断显示，直到别的变化碰巧作废缓存——“Instance 列被截成 btc_ma_c”就是这样来的。
        update_cell 是 DataTable 公开的、会作废缓存的操作。"""
        widths = tuple(column.get_render_width(self) for column in self.columns.values())
        if widths == self._drawn_widths:
            return
        self._drawn_widths = widths
        if self.row_count and self.columns:
            row_key = next(iter(self.rows))
            column_key = next(iter(self.columns))
            self.update_cell(row_key, column_key, self.get_cell(row_key, column_key), update_width=False)

    def tone(self, name: str) -> Any:
        """部件样式类 table--name 的 Rich 样式。"""
        return self.get_component_rich_style(f"table--{name}")

    def signed_text(self, value: float, text: str) -> Text:
        """按正负着色的文字（正为涨色，负为跌色，零不着色）。"""
        return Text(text, self.tone("up") if value > 0 else self.tone("down") if value < 0 else "",
                    justify="right")

    def sync(self, rows: list[tuple[str, tuple[Any, ...]]], *, complete: bool = True) -> None:
        """把表更新成 rows（[(行键, 格子...)]）；complete 为 False 时 rows 只是部分行，不删除其他行。"""
        if complete:
            wanted = {key for key, _ in rows}
            for key in [k for k in self._cells if k not in wanted]:
                self.remove_row(key)
                del self._cells[key]
        column_keys = [key for key, _, _ in self.COLUMNS]
        for key, cells in rows:
            old = self._cells.get(key)
            if old is None:
                self.add_row(*cells, key=key)
            elif old != cells:
                for column, new, before in zip(column_keys, cells, old):
                    if new != before:
                        self.update_cell(key, column, new)
            self._cells[key] = cells

    def selected_key(self) -> str | None:
        """光标所在行的行键；表为空时为 None。"""
        if not self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except Exception:  # 光标越界（行刚被删掉）
            return None

    def refresh_from(self, model: ConsoleModel) -> None:
        """按模型刷新（子类实现）。"""
        raise NotImplementedError


def quote_staleness(model: ConsoleModel) -> dict[str, dict[str, Any]]:
    """每个交易对的陈旧说明：失联时全部交易对都是 {"disconnected": True, "age_s": 数据年龄}；否则是引擎报告的陈旧订阅。"""
    if model.disconnected:
        age = model.data_age_s() or 0.0
        return {symbol: {"disconnected": True, "age_s": age} for symbol in model.quotes}
    return model.stale_feeds()


def model_disconnected(stale: dict[str, Any] | None) -> bool:
    """这条陈旧说明是不是“与引擎失联”（而不是引擎报告的某条订阅落后）。"""
    return bool(stale and stale.get("disconnected"))


class QuotesTable(KeyedTable):
    """报价：交易对、最新价、买一、卖一、价差、涨跌幅、24 小时成交量、报价年龄、迷你走势图。

    窗格放不下全部列时按重要性舍弃可选列（见 OPTIONAL），走势列（也是陈旧/失联的提示列）总在最后、占余下的宽度。
    按窗格自己的宽度挑（而不是终端宽度）：100~139 列的终端上报价窗格只占左栏（约三分之二宽），比 80 列时还窄。
    大致是：80 列显示 Symbol、Last、Bid、Ask、Spr bp、Chg%；100 列显示 Symbol、Last、Spr bp、Chg%、24h Vol；
    140 列显示除 Age 之外的全部；约 150 列以上（如 200 列）全部显示。Trend 列在每种宽度上都有。"""

    # 全部的列（走势列除外）：(列键, 表头, 宽度字符数)；走势列的宽度按余下的空间定
    ALL_COLUMNS = (("symbol", "Symbol", 9), ("last", "Last", 11), ("bid", "Bid", 11), ("ask", "Ask", 11),
                   ("spread", "Spr bp", 6), ("change", "Chg%", 8), ("volume", "24h Vol", 8), ("age", "Age", 5))
    # 总是显示的列
    REQUIRED = frozenset({"symbol", "last", "change"})
    # 可选列，按重要性由高到低（放不下的一组跳过，后面更窄的组仍可能放得下）：价差、买一卖一、24 小时成交量、报价年龄
    OPTIONAL = (("spread",), ("bid", "ask"), ("volume",), ("age",))
    # 走势列的最窄与最宽宽度，字符（最窄也放得下 " NO DATA 123s" 与短写的 STALE 提示）
    TREND_MIN, TREND_MAX = 14, SPARK_WIDTH + 1
    # 挂载时（还不知道宽度）的列：必需的列 + 最宽的走势列；第一次 Resize 时按实际宽度换成合适的一套
    COLUMNS = (("symbol", "Symbol", 9), ("last", "Last", 11), ("change", "Chg%", 8), ("trend", " Trend", TREND_MAX))
    # 数字列
    NUMERIC = frozenset({"last", "bid", "ask", "spread", "change", "volume", "age"})

    def __init__(self, **kwargs: Any) -> None:
        """同 KeyedTable。"""
        super().__init__(**kwargs)
        # 最近一次刷新用的模型（换列之后据它重写全部行）；还没刷新过时为 None
        self._model: ConsoleModel | None = None

    @classmethod
    def layout_for(cls, width: int) -> tuple[tuple[str, str, int], ...]:
        """宽度为 width 字符的窗格显示哪些列（列定义同 COLUMNS，按 ALL_COLUMNS 的顺序，走势列在最后）。

        每列另占一格列间隔（见 KeyedTable.on_mount）。先放必需的列与最窄的走势列，再按 OPTIONAL 的顺序放得下就放，
        余下的宽度给走势列（不超过 TREND_MAX）。"""
        size = {key: w + 1 for key, _, w in cls.ALL_COLUMNS}
        shown = set(cls.REQUIRED)
        used = sum(size[k] for k in shown) + cls.TREND_MIN + 1
        for group in cls.OPTIONAL:
            extra = sum(size[k] for k in group)
            if used + extra <= width:
                shown.update(group)
                used += extra
        trend = min(cls.TREND_MAX, cls.TREND_MIN + max(width - used, 0))
        return tuple(c for c in cls.ALL_COLUMNS if c[0] in shown) + (("trend", " Trend", trend),)

    def on_resize(self, event: Any) -> None:
        """窗格宽度变了：需要时换一套列（清掉旧列与旧行，按新列加回、重写全部行）。收起时（宽度 0，紧凑布局按 v 切到
        图表）不换：切回来时宽度与原来一样，列也就不必来回换。"""
        wanted = self.layout_for(self.size.width)
        if self.size.width <= 0 or wanted == self.COLUMNS:
            return
        self.clear(columns=True)
        # 实例属性盖过类上的默认列：KeyedTable 加列与 sync 都按 self.COLUMNS
        self.COLUMNS = wanted
        self._cells.clear()
        KeyedTable.on_mount(self)  # 与挂载时同样地带键加列
        if self._model is not None:
            self.refresh_from(self._model)

    def refresh_from(self, model: ConsoleModel) -> None:
        """每个交易对一行。"""
        self._model = model
        stale = quote_staleness(model)
        self.sync([self._row(symbol, quote, stale.get(symbol)) for symbol, quote in model.quotes.items()])

    def refresh_symbols(self, model: ConsoleModel, symbols: set[str]) -> None:
        """只重写 symbols 这几个交易对的行（报价事件的快速路径；其他行不动）。"""
        self._model = model
        stale = quote_staleness(model)
        self.sync([self._row(symbol, quote, stale.get(symbol)) for symbol, quote in model.quotes.items()
                   if symbol in symbols], complete=False)

    def _row(self, symbol: str, quote: Any, stale: dict[str, Any] | None = None) -> tuple[str, tuple[Any, ...]]:
        """一个交易对的 (行键, 当前显示的各列格子...)。

        没有买卖价（还没收到报价订阅的报价）时写 -；报价比它的 K 线旧时买卖价与价差变暗、Age 列写出至少旧了多久。"""
        change = quote.change
        age = quote.age_ms
        # 买卖价的样式：报价比 K 线旧时变暗（数字仍显示：它是交易所最后给出的买卖价，但不是此刻的）
        book_style = self.tone("dim") if age is not None else ""
        spread = quote.spread_bps
        cells = {
            "symbol": symbol, "last": Text(fmt.money(quote.last), justify="right"),
            "bid": Text(fmt.money(quote.bid), book_style, justify="right"),
            "ask": Text(fmt.money(quote.ask), book_style, justify="right"),
            "spread": Text("-" if spread is None else f"{spread:.2f}" if spread < 100 else f"{spread:.0f}",
                           book_style, justify="right"),
            "change": self.signed_text(change, fmt.percent(change)),
            "volume": Text(fmt.compact(quote.volume_24h), justify="right"),
            "age": Text(">" + fmt.duration(age) if age is not None else "", self.tone("dim"), justify="right"),
            "trend": self._trend(quote, change, stale),
        }
        return symbol, tuple(cells[key] for key, _, _ in self.COLUMNS)

    def _trend(self, quote: Any, change: float, stale: dict[str, Any] | None) -> Text:
        """走势列：迷你走势图；行情陈旧时改为醒目的“落后几根、多久没更新”，失联时为 NO DATA 与数据年龄。"""
        width = self.COLUMNS[-1][2] - 1  # 减去开头的一格空白
        if model_disconnected(stale):
            return Text(f" NO DATA {stale['age_s']:.0f}s", self.tone("dim") + Style(bold=True))
        if stale is not None:
            age = f", {stale['age_s']:.0f}s" if stale.get("age_s") is not None else ""
            text = f" STALE {stale['lag_bars']} bars{age}"
            if len(text) > width + 1:  # 窄的走势列：短写，落后根数与秒数都留得下
                text = f" STALE {stale['lag_bars']}b{age.replace(', ', ' ')}"
            return Text(text, self.tone("down") + Style(bold=True, reverse=True))
        return Text(" " + sparkline(quote.history, width), self.tone("up") if change >= 0 else self.tone("down"))


class InstancesTable(KeyedTable):
    """策略实例：名字、交易对、周期、状态、持仓、已实现/浮动盈亏、最近信号。"""

    # 列：实例名、交易对、周期、状态、持仓（基础货币）、已实现盈亏、浮动盈亏（计价货币）、最近信号
    COLUMNS = (("name", "Instance", 15), ("symbol", "Symbol", 8), ("tf", "TF", 2), ("status", "Status", 7),
               ("position", "Pos", 7), ("realized", "Realized", 9), ("unrealized", "Unreal.", 8),
               ("signal", " Last signal", None))
    # 数字列
    NUMERIC = frozenset({"position", "realized", "unrealized"})

    def refresh_from(self, model: ConsoleModel) -> None:
        """每个实例一行。"""
        rows = []
        for row in (model.snapshot or {}).get("instances", []):
            # 失联时引擎此刻的状态不可知：写 unknown，而不是让最后一次看到的 running 冒充现在
            status = "unknown" if model.disconnected else row["status"]
            rows.append((row["name"], (
                fit(row["name"], 15), row["symbol"], row["interval"],
                Text(status, self.get_component_rich_style(STATUS_CLASSES.get(status, "table--dim"))),
                Text(fmt.amount(row["position"]), justify="right"),
                self.signed_text(row["realized_pnl"], fmt.signed(row["realized_pnl"])),
                self.signed_text(row["unrealized_pnl"], fmt.signed(row["unrealized_pnl"])),
                Text(" " + (row.get("error") or row.get("last_signal") or ""), self.tone("error") if row.get("error")
                     else self.tone("dim")))))
        self.sync(rows)


class PositionsTable(KeyedTable):
    """持仓：实例（手动单为 manual）、交易对、方向、数量、开仓价、浮动盈亏。"""

    # 列：实例、交易对、方向、数量（基础货币）、开仓均价、浮动盈亏（计价货币）
    COLUMNS = (("symbol", "Symbol", 8), ("side", "Side", 5), ("amount", "Amount", 8), ("entry", "Entry", 10),
               ("upnl", "Unreal.", 9), ("instance", " Instance", None))
    # 数字列
    NUMERIC = frozenset({"amount", "entry", "upnl"})

    def refresh_from(self, model: ConsoleModel) -> None:
        """每个非零持仓一行。"""
        rows = []
        for row in (model.snapshot or {}).get("positions", []):
            side = "long" if row["amount"] > 0 else "short"
            rows.append((f"{row['instance']}|{row['symbol']}", (
                row["symbol"], Text(side, self.tone("up") if side == "long" else self.tone("down")),
                Text(fmt.amount(abs(row["amount"])), justify="right"),
                Text(fmt.money(row["entry_price"]), justify="right"),
                self.signed_text(row["unrealized_pnl"], fmt.signed(row["unrealized_pnl"])),
                Text(" " + (row["instance"] or "manual"), self.tone("dim")))))
        self.sync(rows)


class OrdersTable(KeyedTable):
    """挂单：交易对、方向、类型、数量、限价、状态、实例。行键为客户端订单号（撤单用）。"""

    # 列：交易对、方向、类型、数量（基础货币）、限价（计价货币）、状态、实例
    COLUMNS = (("symbol", "Symbol", 8), ("side", "Side", 4), ("amount", "Amount", 8), ("price", "Price", 10),
               ("type", " Type", 7), ("status", "Status", 7), ("instance", "Instance", None))
    # 数字列
    NUMERIC = frozenset({"amount", "price"})

    def refresh_from(self, model: ConsoleModel) -> None:
        """每张挂单一行。"""
        rows = []
        for row in (model.snapshot or {}).get("orders", []):
            rows.append((row["client_order_id"], (
                row["symbol"], Text(row["side"], self.tone("up") if row["side"] == "buy" else self.tone("down")),
                Text(fmt.amount(row["amount"]), justify="right"),
                Text(fmt.money(row["price"]) if row.get("price") else "market", justify="right"),
                " " + row["type"], row["status"], Text(row["instance"] or "manual", self.tone("dim")))))
        self.sync(rows)
