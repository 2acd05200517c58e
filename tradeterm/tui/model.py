"""界面的数据模型：把引擎的快照与事件归并成界面要画的东西（报价与走势、K 线、成交标记、权益曲线、日志行）。

纯 Python、无 I/O、不依赖 Textual：界面每 0.5 秒把最新快照交给 `apply_snapshot`，事件到达时交给 `apply_event`，
各窗格再从这里取数据。所有序列都有上限，长时间运行内存不增长。
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from tradeterm.engine.client import event_from_dict
from tradeterm.engine.events import Event, EventKind

# 每个交易对保留的报价点数（迷你走势图用），个
QUOTE_HISTORY = 120
# 每个 (交易对, 周期) 保留的 K 线根数
CANDLE_HISTORY = 240
# 保留的成交条数（图上的买卖标记）
FILL_HISTORY = 500
# 保留的权益采样点数
EQUITY_HISTORY = 2000
# 写进日志窗格的事件种类
LOGGED_KINDS = frozenset({EventKind.FILL, EventKind.SIGNAL, EventKind.REJECTION, EventKind.ERROR,
                          EventKind.BREAKER, EventKind.INSTANCE, EventKind.LOG, EventKind.ORDER, EventKind.STALE,
                          EventKind.KILL_SWITCH, EventKind.RECONCILE})
# 迷你走势图的字符（由低到高）
SPARK_CHARS = "▁▂▃▄▅▆▇█"


@dataclass
class Quote:
    """一个交易对的报价状态。价格为计价货币。

    最新价来自 K 线（BAR 与 K 线订阅的 QUOTE）和报价订阅（引擎 tickers.py 的 QUOTE）；买一/卖一与 24 小时统计只来自
    报价订阅，还没收到时为 None（界面显示 -，不拿最新价冒充）。"""

    symbol: str                                   # 交易对，如 BTC/USDT
    last: float = 0.0                             # 最新价
    first: float = 0.0                            # 界面启动后看到的第一个价格（没有 24 小时涨跌幅时涨跌幅的基准）
    history: deque[float] = field(default_factory=lambda: deque(maxlen=QUOTE_HISTORY))  # 最近的价格序列
    bid: float | None = None                      # 买一价；None 表示还没有
    ask: float | None = None                      # 卖一价；None 表示还没有
    volume_24h: float | None = None               # 24 小时成交量，基础货币（如 BTC）
    quote_volume_24h: float | None = None         # 24 小时成交额，计价货币（如 USDT）
    change_24h: float | None = None               # 交易所给的 24 小时涨跌幅，小数（0.01 即 1%）
    ts: int = 0                                   # 最新一份买卖价报价的交易所时间，UTC 毫秒；0 表示还没有
    ts_bar: int = 0                               # 见到的最新一根 K 线的开盘时间（交易所时间），UTC 毫秒；0 表示还没有

    @property
    def change(self) -> float:
        """涨跌幅（小数，0.01 即 1%）：有交易所的 24 小时涨跌幅时用它，否则是自界面启动以来的；还没有价格时为 0。"""
        if self.change_24h is not None:
            return self.change_24h
        return self.last / self.first - 1.0 if self.first else 0.0

    @property
    def spread_bps(self) -> float | None:
        """买卖价差，基点（相对买一卖一的中间价，1 bp = 0.01%）；买一或卖一还没有时为 None。"""
        if self.bid is None or self.ask is None or self.bid + self.ask <= 0:
            return None
        return (self.ask - self.bid) / ((self.ask + self.bid) / 2) * 10_000

    @property
    def age_ms(self) -> int | None:
        """买卖价报价比它的 K 线旧多少，交易所毫秒：报价的时间早于最新一根 K 线的开盘时间时为两者之差（报价至少这么旧），
        否则（报价是这根 K 线里的，或还没有报价、还没有 K 线）为 None。"""
        if not self.ts or self.ts_bar <= self.ts:
            return None
        return self.ts_bar - self.ts

    def apply(self, data: dict[str, Any]) -> None:
        """并入一个 QUOTE 事件的负载（两种来源的键见 EventKind.QUOTE）：有的键才更新，时间只往前走。"""
        self.update(float(data.get("last") or 0.0))
        self.ts_bar = max(self.ts_bar, int(data.get("ts_bar") or 0))
        if "ts" not in data:
            return  # K 线订阅的报价：只有最新价
        self.ts = max(self.ts, int(data.get("ts") or 0))
        for name in ("bid", "ask", "volume_24h", "quote_volume_24h", "change_24h"):
            value = data.get(name)
            if value is not None:
                setattr(self, name, float(value))

    def update(self, price: float) -> None:
        """记一个新价格（非正数忽略）。"""
        if price <= 0:
            return
        if not self.first:
            self.first = price
        self.last = price
        self.history.append(price)


@dataclass(frozen=True, slots=True)
class Candle:
    """一根已收盘的 K 线。价格为计价货币。"""

    ts: int          # 开盘时间，UTC 毫秒
    open: float      # 开盘价
    high: float      # 最高价
    low: float       # 最低价
    close: float     # 收盘价


@dataclass(frozen=True, slots=True)
class FillMark:
    """图上的一个成交标记。"""

    ts: int           # 成交时间（事件时间），UTC 毫秒
    instance: str     # 实例名；手动单为空串
    symbol: str       # 交易对
    side: str         # buy 或 sell
    price: float      # 成交价，计价货币
    amount: float     # 成交数量，基础货币


@dataclass(frozen=True, slots=True)
class LogEntry:
    """日志窗格的一行（过滤按种类与实例）。"""

    ts: int           # 事件时间，UTC 毫秒（墙上时间）
    kind: str         # 事件种类（EventKind 的值，如 fill、rejection）
    instance: str     # 事件所属的实例名；与实例无关或手动单为空串
    line: str         # 显示的说明（英文，不含时间）


def sparkline(values: list[float] | deque[float], width: int) -> str:
    """最近 width 个值的字符走势图；少于两个值时返回空串。"""
    points = list(values)[-width:]
    if len(points) < 2:
        return ""
    low, high = min(points), max(points)
    span = high - low
    if span <= 0:
        return SPARK_CHARS[len(SPARK_CHARS) // 2] * len(points)
    top = len(SPARK_CHARS) - 1
    return "".join(SPARK_CHARS[round((p - low) / span * top)] for p in points)


def describe_event(event: Event) -> str | None:
    """日志窗格的一行（英文，不含时间）；不需要记的事件返回 None。"""
    data = event.data
    kind = event.kind
    if kind not in LOGGED_KINDS:
        return None
    who = data.get("instance") or "manual"
    if kind is EventKind.FILL:
        return (f"FILL {who} {data.get('side', '').upper()} {data.get('amount', 0):.6g} {data.get('symbol', '')} "
                f"@ {data.get('price', 0):,.2f}")
    if kind is EventKind.SIGNAL:
        action = ("open" if data.get("opening") else "close") + " " + str(data.get("side", ""))
        acted = "" if data.get("acted", True) else " (not acted: instance paused or stopped)"
        return f"SIGNAL {who} {action} {data.get('reason', '')}{acted}".rstrip()
    if kind is EventKind.REJECTION:
        return f"REJECTED {who} [{data.get('rule', '')}] {data.get('reason', '')}"
    if kind is EventKind.ERROR:
        return f"ERROR {who} {data.get('error', '')}"
    if kind is EventKind.BREAKER:
        return f"BREAKER [{data.get('rule', '')}] {data.get('message', '')}"
    if kind is EventKind.STALE:
        return f"{'STALE' if data.get('stale') else 'FEED OK'} {data.get('message', '')}"
    if kind is EventKind.KILL_SWITCH:
        return f"KILL SWITCH {data.get('message', '')}"
    if kind is EventKind.RECONCILE:
        return f"RECONCILE {data.get('message', '')}"
    if kind is EventKind.INSTANCE:
        error = f" ({data['error']})" if data.get("error") else ""
        return f"INSTANCE {data.get('instance', '')} -> {data.get('status', '')}{error}"
    if kind is EventKind.ORDER:
        status = data.get("status", "")
        if status in ("filled", "new", "open", "partially_filled"):
            return None  # 成交另有 FILL 行；新单与部分成交太频繁
        return (f"ORDER {who} {data.get('side', '')} {data.get('amount', 0):.6g} {data.get('symbol', '')} "
                f"{data.get('type', '')} -> {status}")
    return f"LOG {data.get('message', '')}"


def log_entry(event: Event) -> LogEntry | None:
    """事件 -> 日志窗格的一行；不需要记的事件返回 None。"""
    line = describe_event(event)
    if line is None:
        return None
    return LogEntry(event.ts, event.kind.value, str(event.data.get("instance") or ""), line)


def merge_by_ts(existing: deque, incoming: list, key=lambda item: item.ts) -> deque:
    """把 incoming（较早的历史）并进 existing（实时收到的）：按 key 去重（实时的为准）、按时间排序，保留原来的长度上限。"""
    seen = {key(item) for item in existing}
    merged = sorted([item for item in incoming if key(item) not in seen] + list(existing), key=key)
    return deque(merged, maxlen=existing.maxlen)


class ConsoleModel:
    """界面的全部状态：最新快照 + 从事件累积的序列。"""

    def __init__(self) -> None:
        """空模型（还没有快照）。"""
        # 最新的引擎快照（键见 EngineClient.snapshot）；None 表示还没拿到
        self.snapshot: dict[str, Any] | None = None
        # 最新快照到达时的墙上时间，UTC 毫秒；0 表示还没拿到（失联时界面写明数据有多旧）
        self.snapshot_ms = 0
        # 是否与引擎失联（快照或事件流失败，直到下一份快照到达）：为真时各窗格显示的是旧数据
        self.disconnected = False
        # 交易对 -> 报价状态（按首次出现的顺序）
        self.quotes: dict[str, Quote] = {}
        # (交易对, 周期) -> 最近的已收盘 K 线
        self.candles: dict[tuple[str, str], deque[Candle]] = {}
        # 最近的成交标记
        self.fills: deque[FillMark] = deque(maxlen=FILL_HISTORY)
        # 权益采样：(UTC 毫秒, 权益)，权益为计价货币
        self.equity: deque[tuple[int, float]] = deque(maxlen=EQUITY_HISTORY)
        # 自上次画图以来图表数据是否变了（图表最多每秒重画一次，没变就不画）
        self.charts_dirty = True
        # 自上次刷新报价表以来报价变了的交易对（报价表按固定节拍合并刷新，只重写这些行）
        self.changed_quotes: set[str] = set()
        # 收到的事件总数，条
        self.events_seen = 0

    # ---- 输入 -------------------------------------------------------------------------------------

    def apply_snapshot(self, snapshot: dict[str, Any]) -> None:
        """记下新快照（连接随之恢复）；实例的标记价也当作报价（没有报价事件时报价窗格仍有数据）。"""
        self.snapshot = snapshot
        self.snapshot_ms = int(time.time() * 1000)
        self.disconnected = False
        for row in snapshot.get("instances", []):
            quote = self.quote(row["symbol"])
            if row.get("mark") and not quote.last:
                quote.update(float(row["mark"]))
        equity = snapshot.get("account", {}).get("equity")
        if equity is not None and not self.equity:
            self.equity.append((0, float(equity)))
            self.charts_dirty = True

    def apply_event(self, event: Event) -> LogEntry | None:
        """归并一个事件；返回要写进日志窗格的一行（不需要时为 None）。"""
        self.events_seen += 1
        data = event.data
        if event.kind is EventKind.QUOTE:
            self.quote(data["symbol"]).apply(data)
            self.changed_quotes.add(data["symbol"])
        elif event.kind is EventKind.BAR:
            key = (data["symbol"], data["timeframe"])
            series = self.candles.setdefault(key, deque(maxlen=CANDLE_HISTORY))
            series.append(Candle(int(data["ts"]), float(data["open"]), float(data["high"]), float(data["low"]),
                                 float(data["close"])))
            self.quote(data["symbol"]).update(float(data["close"]))
            self.changed_quotes.add(data["symbol"])
            self.charts_dirty = True
        elif event.kind is EventKind.FILL:
            # 标记按成交的交易所时间落在 K 线上（K 线的时间也是交易所时间；沙盒快速回放时墙上时间差得很远）
            self.fills.append(FillMark(int(data.get("fill_ts") or event.ts), data.get("instance") or "",
                                       data.get("symbol", ""), data.get("side", ""), float(data.get("price") or 0.0),
                                       float(data.get("amount") or 0.0)))
            self.charts_dirty = True
        elif event.kind is EventKind.EQUITY:
            if self.equity and self.equity[0][0] == 0 and len(self.equity) == 1:
                self.equity.clear()  # 快照给的占位点让位给真正的采样
            self.equity.append((int(data.get("bar_ts") or event.ts), float(data.get("equity") or 0.0)))
            self.charts_dirty = True
        return log_entry(event)

    def apply_history(self, history: dict[str, Any]) -> list[LogEntry]:
        """并入引擎给的近期历史（`history` 命令：K 线、成交、权益、日志事件），返回日志窗格要补上的较早的行。

        启动与附着时调用；与此前已收到的实时事件按时间去重合并（同一根 K 线、同一笔成交只留一份），所以先订阅事件、
        再取历史，中间发生的事一件也不会丢、也不会重复。"""
        for series in history.get("bars", []):
            key = (series["symbol"], series["timeframe"])
            candles = [Candle(int(r[0]), float(r[1]), float(r[2]), float(r[3]), float(r[4])) for r in series["rows"]]
            self.candles[key] = merge_by_ts(self.candles.get(key, deque(maxlen=CANDLE_HISTORY)), candles)
        marks = [FillMark(int(f["ts"]), f["instance"], f["symbol"], f["side"], float(f["price"]), float(f["amount"]))
                 for f in history.get("fills", [])]
        self.fills = merge_by_ts(self.fills, marks, key=lambda f: (f.ts, f.instance, f.symbol, f.side, f.price,
                                                                   f.amount))
        points = [(int(ts), float(value)) for ts, value in history.get("equity", [])]
        if points:
            live = [p for p in self.equity if p[0] != 0]  # 快照给的占位点（时刻 0）让位给真正的采样
            self.equity = merge_by_ts(deque(live, maxlen=EQUITY_HISTORY), points, key=lambda p: p[0])
        self.charts_dirty = True
        entries = []
        for payload in history.get("events", []):
            try:
                entry = log_entry(event_from_dict(payload))
            except (KeyError, ValueError, TypeError):  # 更新的引擎写的、这个版本不认识的事件种类：跳过
                continue
            if entry is not None:
                entries.append(entry)
        return entries

    # ---- 查询 -------------------------------------------------------------------------------------

    def quote(self, symbol: str) -> Quote:
        """交易对的报价状态（没有时创建）。"""
        quote = self.quotes.get(symbol)
        if quote is None:
            quote = self.quotes[symbol] = Quote(symbol)
        return quote

    def instance(self, name: str | None) -> dict[str, Any] | None:
        """快照里名为 name 的实例行；没有时为 None。"""
        if not name or self.snapshot is None:
            return None
        return next((row for row in self.snapshot.get("instances", []) if row["name"] == name), None)

    def data_age_s(self) -> float | None:
        """最新快照的年龄，秒（还没有快照时为 None）。"""
        return None if not self.snapshot_ms else max(0.0, time.time() - self.snapshot_ms / 1000)

    def stale_feeds(self) -> dict[str, dict[str, Any]]:
        """快照里陈旧的行情订阅：交易对 -> 订阅的健康状况（lag_bars、age_s 等）。"""
        return {f["symbol"]: f for f in (self.snapshot or {}).get("feeds", []) if f.get("stale")}

    def symbols(self) -> list[str]:
        """引擎交易的交易对（快照里实例的交易对，去重、保持顺序）。"""
        rows = self.snapshot.get("instances", []) if self.snapshot else []
        return list(dict.fromkeys(row["symbol"] for row in rows))

    def fills_for(self, symbol: str, instance: str | None = None) -> list[FillMark]:
        """某交易对（可再限定实例）的成交标记，按时间先后。"""
        return [f for f in self.fills if f.symbol == symbol and (instance is None or f.instance == instance)]
