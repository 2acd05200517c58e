"""心跳：经引擎的控制套接字每隔 heartbeat_interval 秒 ping 一次，发现“进程还在、但不再做事”的引擎
（死锁、卡在一次系统调用里、被 SIGSTOP 停住）——这种引擎不会退出，单看退出码的守护发现不了它。

- 连续 heartbeat_timeout 秒没有一次成功的 ping：通知“Engine stopped answering heartbeats”（只通知一次）；
- 之后又 ping 通了：通知“Engine answers heartbeats again”；
- 连续 hang_restart_after 秒没有成功（配置了的话）：`watch()` 返回沉默的秒数，由守护进程停掉并重启引擎。
时钟与睡眠可以替换（测试）；ping 本身的等待上限是 heartbeat_interval。
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Awaitable, Callable

from tradeterm.config.notify import SupervisorConfig
from tradeterm.engine.control import ControlError, SocketClient, read_token_file
from tradeterm.errors import UserError
from tradeterm.notify.messages import Notification
from tradeterm.supervisor.notices import heartbeat_back, heartbeat_lost

# 本模块的日志器
log = logging.getLogger("tradeterm.supervisor")


class Heartbeat:
    """一个引擎子进程的心跳检查（每个子进程一份）。"""

    def __init__(self, settings: SupervisorConfig, socket_path: Path, token_path: Path,
                 notify: Callable[[Notification], None], *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep):
        """settings 为 supervisor 配置块；socket_path、token_path 为引擎的控制套接字与令牌文件；notify 发通知。"""
        # 心跳间隔，秒（也是单次 ping 的等待上限）
        self.interval = settings.heartbeat_interval
        # 这么久没有成功的 ping 就通知，秒
        self.timeout = settings.heartbeat_timeout
        # 这么久没有成功的 ping 就让守护进程重启引擎，秒；None 为只通知
        self.hang_after = settings.hang_restart_after
        # 控制套接字路径
        self.socket_path = socket_path
        # 令牌文件路径（引擎每次启动写一个新令牌，所以每次连接时才读）
        self.token_path = token_path
        # 发通知的函数
        self.notify = notify
        # 单调时钟，秒
        self.clock = clock
        # 睡眠函数
        self.sleep = sleep
        # 已连上的控制客户端；None 为还没连上或连接断了
        self.client: SocketClient | None = None
        # 是否已经通知过“不再应答”（还没通知恢复）
        self.lost = False

    async def watch(self, ready: asyncio.Event) -> float:
        """等引擎开始服务控制套接字（ready），然后一直心跳；只有在沉默达到 hang_restart_after 时才返回沉默的秒数。"""
        await ready.wait()
        last_ok = self.clock()
        while True:
            ok = await self.beat()
            now = self.clock()
            if ok:
                if self.lost:
                    self.lost = False
                    self.notify(heartbeat_back(now - last_ok))
                last_ok = now
            else:
                silent = now - last_ok
                if not self.lost and silent >= self.timeout:
                    self.lost = True
                    log.warning("engine heartbeat lost silent_s=%.1f", silent)
                    self.notify(heartbeat_lost(silent, self.hang_after))
                if self.hang_after is not None and silent >= self.hang_after:
                    return silent
            await self.sleep(self.interval)

    async def beat(self) -> bool:
        """ping 一次（没有连接时先连上，连接本身就带一次 ping）；interval 秒内得到应答为 True。"""
        try:
            if self.client is None:
                token = read_token_file(self.token_path)
                self.client = await asyncio.wait_for(SocketClient.connect(self.socket_path, token), self.interval)
            else:
                await asyncio.wait_for(self.client.ping(), self.interval)
            return True
        except asyncio.TimeoutError:
            # 连接还在，只是没等到应答（引擎卡住或太忙）：保留连接，迟到的应答会被忽略
            return False
        except (ControlError, UserError, OSError) as exc:
            # 连接断了或连不上（引擎正在退出、套接字被删）：下次重新连接
            log.info("engine heartbeat failed error=%s", exc)
            await self.close()
            return False

    async def close(self) -> None:
        """断开控制连接（不影响引擎）。"""
        client, self.client = self.client, None
        if client is not None:
            await client.close()
