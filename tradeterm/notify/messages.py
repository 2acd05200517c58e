"""通知消息：引擎事件 -> 一条与渠道无关的 Notification（类别、严重程度、标题、正文行），以及把一阵通知合并成一条汇总。

每个渠道（tradeterm/notify/telegram.py、lark.py、webhook.py）只负责把 Notification 变成自己的载荷；
措辞在这里统一写一次，三个渠道说的是同一件事。用户看到的文字为英文。
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tradeterm.engine.events import Event, EventKind

# 严重程度（由轻到重）；飞书卡片标题颜色、合并后的严重程度据此而定
SEVERITIES = ("info", "warning", "critical")
# 事件种类 -> 通知类别（类别名见 tradeterm/config/notify.py 的 EVENT_CATEGORIES）
KIND_CATEGORY = {EventKind.FILL: "fill", EventKind.REJECTION: "rejection", EventKind.BREAKER: "breaker",
                 EventKind.KILL_SWITCH: "kill_switch", EventKind.STALE: "stale", EventKind.RECONCILE: "reconcile",
                 EventKind.ERROR: "error"}
# 合并消息里逐条列出的最多条数（其余只计数）
SUMMARY_LINES = 12
# 合并的条数不超过它时，每条都带正文（否则只列标题）
SUMMARY_DETAIL = 5
# 一条消息正文的最多字符数（Telegram 上限 4096，Discord 2000；渠道各自再截断）
MAX_TEXT = 3500


def wall_ms() -> int:
    """当前墙上时间，UTC 毫秒。"""
    return int(time.time() * 1000)


@dataclass(frozen=True)
class Notification:
    """一条通知（与渠道无关）。"""

    category: str                                   # 类别（EVENT_CATEGORIES 之一），渠道按它过滤
    severity: str                                   # 严重程度：info、warning、critical
    title: str                                      # 标题（一行英文）
    lines: tuple[str, ...] = ()                     # 正文，每项一行
    ts: int = field(default_factory=wall_ms)        # 发生时间，UTC 毫秒
    count: int = 1                                  # 合并了几条通知（合并消息大于 1）

    def text(self) -> str:
        """标题加正文的纯文本（过长时截断并注明）。"""
        body = "\n".join((self.title, *self.lines))
        return body if len(body) <= MAX_TEXT else body[:MAX_TEXT - 20] + "\n... (truncated)"


def worst(severities) -> str:
    """几个严重程度里最重的一个。"""
    return max(severities, key=SEVERITIES.index, default="info")


def _num(value: Any) -> str:
    """数字的简短写法（最多 10 位有效数字）；不是数字时原样。"""
    return f"{value:.10g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def _fill(data: dict[str, Any]) -> tuple[str, str, list[str]]:
    """成交。"""
    who = data.get("instance") or "manual"
    title = (f"Fill: {str(data.get('side', '')).upper()} {_num(data.get('amount'))} {data.get('symbol')} "
             f"@ {_num(data.get('price'))}")
    return "info", title, [f"instance: {who}", f"fee: {_num(data.get('fee'))}",
                           f"order: {data.get('client_order_id', '')}"]


def _rejection(data: dict[str, Any]) -> tuple[str, str, list[str]]:
    """下单被风控或交易所拒绝。"""
    return "warning", f"Order rejected ({data.get('rule', '?')})", [
        f"instance: {data.get('instance') or 'manual'}", str(data.get("reason", ""))]


def _breaker(data: dict[str, Any]) -> tuple[str, str, list[str]]:
    """熔断。"""
    return "critical", f"Circuit breaker tripped: {data.get('rule', '?')}", [str(data.get("message", ""))]


def _kill(data: dict[str, Any]) -> tuple[str, str, list[str]]:
    """一键停止的接合、报告与解除。"""
    lines = [str(data.get("message", ""))]
    if "cancelled" in data:
        lines.append(f"cancelled orders: {data.get('cancelled')}; closed positions: {len(data.get('closed') or [])}; "
                     f"stopped instances: {len(data.get('stopped') or [])}")
    lines += [f"remaining: {item}" for item in data.get("remaining") or []]
    if data.get("engaged"):
        return "critical", "KILL SWITCH engaged", lines
    return "warning", "Kill switch reset", lines


def _stale(data: dict[str, Any]) -> tuple[str, str, list[str]]:
    """行情订阅变陈旧或恢复。"""
    where = f"{data.get('symbol', '')} {data.get('timeframe', '')}".strip()
    if data.get("stale", True):
        return "warning", f"Stale feed: {where}", [str(data.get("message", ""))]
    return "info", f"Feed recovered: {where}", [str(data.get("message", ""))]


def _reconcile(data: dict[str, Any]) -> tuple[str, str, list[str]]:
    """对账问题。"""
    return "critical", f"Reconcile problem: {data.get('symbol', '')}", [str(data.get("message", "")),
                                                                         f"fix: {data.get('fix', '')}"]


def _error(data: dict[str, Any]) -> tuple[str, str, list[str]]:
    """引擎或实例的错误。"""
    who = data.get("instance")
    return "critical", f"Instance error: {who}" if who else "Engine error", [str(data.get("error", ""))]


# 类别 -> 格式化函数
FORMATTERS = {"fill": _fill, "rejection": _rejection, "breaker": _breaker, "kill_switch": _kill, "stale": _stale,
              "reconcile": _reconcile, "error": _error}


def from_event(event: Event) -> Notification | None:
    """引擎事件 -> 通知；不值得通知的种类（行情、权益、日志……）返回 None。"""
    category = KIND_CATEGORY.get(event.kind)
    if category is None:
        return None
    severity, title, lines = FORMATTERS[category](event.data)
    return Notification(category, severity, title, tuple(line for line in lines if line), ts=event.ts)


def coalesce(batch: list[Notification], dropped: int = 0) -> Notification:
    """把一阵通知合并成一条：标题写各类别的条数，正文先列最重的、再按时间列，最多 SUMMARY_LINES 条。
    dropped 为此前因队列满而丢掉的条数（写在正文末尾，读者知道有东西没收到）。只有一条且没有丢弃时原样返回。"""
    if len(batch) == 1 and not dropped:
        return batch[0]
    counts = Counter(n.category for n in batch)
    parts = ", ".join(f"{count} {category.replace('_', ' ')}{'s' if count > 1 and category != 'kill_switch' else ''}"
                      for category, count in counts.most_common())
    ordered = sorted(batch, key=lambda n: (-SEVERITIES.index(n.severity), n.ts))
    if len(batch) <= SUMMARY_DETAIL:  # 只有几条：每条都带正文（一键停止的报告、错误的原因不能只剩标题）
        lines = [line for n in ordered for line in (n.title, *(f"  {text}" for text in n.lines))]
    else:
        lines = [n.title for n in ordered[:SUMMARY_LINES]]
    if len(batch) > SUMMARY_LINES:
        lines.append(f"... and {len(batch) - SUMMARY_LINES} more")
    if dropped:
        lines.append(f"({dropped} older notification(s) were dropped: this channel could not keep up)")
    total = sum(n.count for n in batch)
    category = ordered[0].category if len(counts) == 1 else "summary"
    return Notification(category, worst(n.severity for n in batch), f"{total} notifications: {parts}",
                        tuple(lines), ts=batch[-1].ts, count=total)


def engine_notice(started: bool, mode: str, exchange: str, instances: list[str]) -> Notification:
    """引擎启动或停止的通知。"""
    if started:
        return Notification("engine", "info", f"Engine started ({mode} on {exchange})",
                            (f"instances: {', '.join(instances) or 'none'}",))
    return Notification("engine", "warning", f"Engine stopped ({mode} on {exchange})",
                        ("positions and open orders were left as they are",))
