"""事件总线：引擎把事件发布到总线，每个订阅者有自己的有界队列。

慢订阅者（例如卡住的界面）不能拖慢交易：队列满时丢弃该订阅者最旧的事件并计数，而不是阻塞发布者。
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from tradeterm.engine.events import Event

# 每个订阅者队列的默认容量（事件条数）
DEFAULT_QUEUE_SIZE = 10_000


class Subscription:
    """一个订阅者：有界队列 + 丢弃计数；可以 async for 逐条读取。"""

    def __init__(self, bus: "EventBus", maxsize: int):
        """由 EventBus.subscribe 创建。"""
        # 所属总线（取消订阅用）
        self.bus = bus
        # 待读取的事件
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize)
        # 因队列满而丢弃的事件数
        self.dropped = 0

    def offer(self, event: Event) -> None:
        """放入一个事件；满了就丢掉最旧的一条。"""
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(event)

    async def get(self) -> Event:
        """取下一条事件（没有就等待）。"""
        return await self.queue.get()

    def drain(self) -> list[Event]:
        """取出当前队列中的全部事件（不等待）。"""
        events = []
        while not self.queue.empty():
            events.append(self.queue.get_nowait())
        return events

    def close(self) -> None:
        """取消订阅。"""
        self.bus.unsubscribe(self)

    async def __aiter__(self) -> AsyncIterator[Event]:
        """逐条读取事件，直到取消。"""
        while True:
            yield await self.queue.get()


class EventBus:
    """一对多的事件分发；发布是同步的、不阻塞的。"""

    def __init__(self) -> None:
        """创建没有订阅者的总线。"""
        # 当前全部订阅者
        self.subscriptions: list[Subscription] = []

    def subscribe(self, maxsize: int = DEFAULT_QUEUE_SIZE) -> Subscription:
        """新增一个订阅者。"""
        subscription = Subscription(self, maxsize)
        self.subscriptions.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """移除订阅者（重复移除无害）。"""
        if subscription in self.subscriptions:
            self.subscriptions.remove(subscription)

    def publish(self, event: Event) -> None:
        """把事件交给每个订阅者。"""
        for subscription in self.subscriptions:
            subscription.offer(event)
