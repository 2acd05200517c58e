"""把日志窗格要的、原本只在总线上发布的事件（成交、信号、撤单/过期等订单结局）也写进日志库的 events 表。

为什么：控制台在启动与附着时从日志库读近期历史（tradeterm/engine/queries.py），拒绝、错误、熔断、实例状态等早已经
`engine.record` 留档，成交与信号却只发布在总线上，附着后的日志里就少了最要紧的几行。
为什么用总线的订阅者而不是在发布处直接写库：发布是同步的、在下单的热路径上；这里排进写队列即返回（不等提交），
写库的快慢与成败都不影响交易。订阅队列满时丢最旧的（与界面相同）；引擎停止时先把队列里剩下的写完（`flush`）。
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from tradeterm.engine.events import Event, EventKind

if TYPE_CHECKING:  # 只为类型标注
    from tradeterm.engine.trader import TraderEngine

# 模块日志
log = logging.getLogger(__name__)
# 要留档的事件种类（其余种类或者已由 engine.record 写过，或者是行情、权益这类另有表的）
ARCHIVED_KINDS = frozenset({EventKind.FILL, EventKind.SIGNAL, EventKind.ORDER})
# 不留档的订单状态：新单、挂单与部分成交太频繁，成交另有 FILL 事件（与日志窗格显示的一致）
QUIET_ORDER_STATUSES = frozenset({"new", "open", "partially_filled", "filled"})


def archived(event: Event) -> bool:
    """这个事件要不要写进 events 表。"""
    if event.kind not in ARCHIVED_KINDS:
        return False
    return event.kind is not EventKind.ORDER or event.data.get("status") not in QUIET_ORDER_STATUSES


class EventArchive:
    """总线订阅者：把 ARCHIVED_KINDS 的事件排进日志库的写队列。创建时即订阅（之后发布的事件都不会漏）。"""

    def __init__(self, engine: "TraderEngine") -> None:
        """engine 为所属的交易引擎（用它的总线与日志库）。"""
        # 所属引擎
        self.engine = engine
        # 总线订阅
        self.subscription = engine.bus.subscribe()
        # 已排进写队列的事件数，条
        self.archived = 0

    async def run(self) -> None:
        """逐条取事件并留档，直到任务被取消。"""
        while True:
            await self._keep(await self.subscription.get())

    async def flush(self) -> None:
        """引擎停止时：把订阅队列里剩下的事件写完，然后取消订阅。"""
        for event in self.subscription.drain():
            await self._keep(event)
        self.subscription.close()

    async def _keep(self, event: Event) -> None:
        """留档一个事件（不等提交；日志库已关闭等写入错误只记日志，不影响引擎）。"""
        if not archived(event):
            return
        try:
            await self.engine.journal.record_event(event.ts, event.kind.value, event.data, commit=False)
        except Exception as exc:  # 留档是尽力而为：写不进去不能让引擎的任务失败
            log.warning("event not archived kind=%s error=%s", event.kind.value, exc)
            return
        self.archived += 1
