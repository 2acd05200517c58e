"""一个通知渠道的发送机：有界队列、合并、限速、带退避的重试，以及丢弃与失败的计数。

为什么这样：通知是交易的旁路。引擎（或守护进程）调用 `offer`，它是同步的、从不等待；真正的发送在渠道自己的任务里。
渠道慢或死掉（服务器挂住 30 秒、网络断了、返回 500），只有这个任务在等：引擎照常下单，别的渠道照常发送。
- 合并：任务醒来后先等 coalesce_window 秒，把这一阵的通知取完，合并成一条（50 笔成交的一阵 = 一次 API 调用）；
- 限速：两次发送之间至少隔 min_interval 秒，期间到的通知在下一次合并发出；
- 重试：可重试的失败（超时、连接错误、5xx、429）退避 1、2、4……秒（最长 60 秒，服务端给了 retry-after 就按它）
  最多 retries 次；不可重试的失败（4xx：令牌错、签名错、聊天不存在）不重试；失败都计数并写日志；
- 有界：队列满了丢最旧的一条，计数、写日志，并在下一条发出的消息里写明丢了几条。
子类只实现 `deliver(notification)`（一次 HTTP 请求）与可选的 `close()`。
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

from tradeterm.config.notify import ChannelConfig
from tradeterm.notify.messages import Notification, coalesce

# 本模块的日志器
log = logging.getLogger("tradeterm.notify")

# 重试退避的起点，秒
BACKOFF_START_S = 1.0
# 重试退避的上限，秒
BACKOFF_MAX_S = 60.0


class DeliveryError(Exception):
    """一次发送失败。retryable 为 False 时不再重试（如令牌错误）；retry_after 为服务端要求的等待，秒。"""

    def __init__(self, message: str, *, retryable: bool = True, retry_after: float | None = None):
        """message 为英文说明（不含秘密）。"""
        super().__init__(message)
        # 是否值得重试
        self.retryable = retryable
        # 服务端要求的等待，秒；None 为按退避
        self.retry_after = retry_after


class Channel:
    """渠道基类：offer() 入队，start() 启动发送任务，close() 尽力发完再停。"""

    # 渠道名（日志与统计里显示），子类覆盖
    name = "channel"

    def __init__(self, config: ChannelConfig):
        """config 为该渠道的配置块（事件过滤、限速、重试、队列上限）。"""
        # 渠道配置
        self.config = config
        # 要发送的类别
        self.events = frozenset(config.events)
        # 待发送的通知（满了丢最旧的）
        self.queue: deque[Notification] = deque()
        # 有新通知时置位，唤醒发送任务
        self.wake = asyncio.Event()
        # 已发出的消息数（一条合并消息算一条）
        self.sent = 0
        # 已发出的通知数（合并消息按合并的条数算）
        self.delivered = 0
        # 重试用尽或不可重试而放弃的消息数
        self.failed = 0
        # 因队列满而丢弃的通知数（累计）
        self.dropped = 0
        # 还没在消息里告诉读者的丢弃数
        self.unreported_drops = 0
        # 重试次数（累计）
        self.retried = 0
        # 最近一次失败的说明（英文）；没有失败过为空串
        self.last_error = ""
        # 正在发送的任务
        self.task: asyncio.Task | None = None
        # 正在发一条消息（close 据此判断有没有发完）
        self.busy = False
        # 退避等待用的睡眠函数（测试可以换掉）
        self.sleep = asyncio.sleep

    def wants(self, notification: Notification) -> bool:
        """这个渠道是否发送该类别。"""
        return notification.category in self.events

    def offer(self, notification: Notification) -> bool:
        """放入一条通知（同步、从不等待）；类别不在过滤里时返回 False。队列满时丢最旧的一条。"""
        if not self.wants(notification):
            return False
        if len(self.queue) >= self.config.queue_size:
            self.queue.popleft()
            self.dropped += 1
            self.unreported_drops += 1
            if self.dropped == 1 or self.dropped % 100 == 0:
                log.warning("notify channel=%s queue full (%d): dropped the oldest notification, %d dropped so far",
                            self.name, self.config.queue_size, self.dropped)
        self.queue.append(notification)
        self.wake.set()
        return True

    def start(self) -> None:
        """启动发送任务（重复调用无害）。"""
        if self.task is None:
            self.task = asyncio.create_task(self.run(), name=f"notify {self.name}")

    async def run(self) -> None:
        """发送循环：等通知 -> 合并窗口 -> 取完队列 -> 合并成一条 -> 发送（含重试）-> 限速等待。"""
        while True:
            await self.wake.wait()
            if self.config.coalesce_window:
                await asyncio.sleep(self.config.coalesce_window)
            self.wake.clear()
            if not self.queue:
                continue
            batch = list(self.queue)
            self.queue.clear()
            drops, self.unreported_drops = self.unreported_drops, 0
            message = coalesce(batch, drops)
            self.busy = True
            try:
                await self.send_with_retries(message)
            finally:
                self.busy = False
            if self.config.min_interval:
                await asyncio.sleep(self.config.min_interval)

    async def send_with_retries(self, message: Notification) -> bool:
        """发一条消息，可重试的失败按退避重试；返回是否发出。每次请求有 timeout 秒的上限。"""
        delay = BACKOFF_START_S
        for attempt in range(self.config.retries + 1):
            try:
                await asyncio.wait_for(self.deliver(message), self.config.timeout)
                self.sent += 1
                self.delivered += message.count
                return True
            except asyncio.TimeoutError:
                error = DeliveryError(f"no answer within {self.config.timeout:g} s")
            except DeliveryError as exc:
                error = exc
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # 客户端库的其他异常（连接被拒、DNS……）：当作可重试
                error = DeliveryError(f"{type(exc).__name__}: {exc}")
            self.last_error = str(error)
            if not error.retryable or attempt == self.config.retries:
                self.failed += 1
                log.error("notify channel=%s gave up on a message after %d attempt(s): %s (title: %s)",
                          self.name, attempt + 1, error, message.title)
                return False
            self.retried += 1
            wait = error.retry_after if error.retry_after is not None else delay
            log.warning("notify channel=%s send failed (%s); retry %d/%d in %.1f s", self.name, error,
                        attempt + 1, self.config.retries, wait)
            await self.sleep(wait)
            delay = min(delay * 2, BACKOFF_MAX_S)
        return False

    async def deliver(self, message: Notification) -> None:
        """发出一条消息（一次请求）；失败抛 DeliveryError。子类实现。"""
        raise NotImplementedError

    def idle(self) -> bool:
        """队列空了且没有正在发的消息。"""
        return not self.queue and not self.busy and not self.wake.is_set()

    async def close(self, flush_timeout: float = 5.0) -> None:
        """最多等 flush_timeout 秒把队列发完，然后停止发送任务、释放连接。"""
        if self.task is not None:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + flush_timeout
            while not self.idle() and loop.time() < deadline and not self.task.done():
                await asyncio.sleep(0.02)
            if self.queue:
                log.warning("notify channel=%s stopped with %d notification(s) unsent", self.name, len(self.queue))
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
            self.task = None
        await self.release()

    async def release(self) -> None:
        """释放渠道的连接（子类按需覆盖）。"""

    def stats(self) -> dict[str, Any]:
        """统计（ctl status 与快照用）。"""
        return {"channel": self.name, "sent": self.sent, "delivered": self.delivered, "failed": self.failed,
                "dropped": self.dropped, "retried": self.retried, "queued": len(self.queue),
                "last_error": self.last_error}
