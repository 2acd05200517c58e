"""沙盒行情的模拟时钟：模拟时间按 speed 倍速随墙上时间前进，测试可以直接拨快，也可以停住（只由测试拨动）。"""

from __future__ import annotations

import time


class SimClock:
    """模拟时钟：now() = 起点 + (墙上经过时间 × speed)，单位 UTC 毫秒。"""

    def __init__(self, start_ts: int, speed: float = 1.0):
        """start_ts 为此刻对应的模拟时间（UTC 毫秒）；speed 为倍速（60 表示 1 分钟 K 线每秒走一根）。"""
        if speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        # 倍速：模拟时间每墙上秒前进 speed 秒（freeze() 之后为 0：只随 advance() 前进）
        self.speed = float(speed)
        # 起点的墙上时间，time.monotonic() 秒
        self._anchor_wall = time.monotonic()
        # 起点的模拟时间，UTC 毫秒
        self._anchor_ts = int(start_ts)

    def now(self) -> int:
        """当前模拟时间，UTC 毫秒。"""
        return self._anchor_ts + int((time.monotonic() - self._anchor_wall) * 1000 * self.speed)

    def advance(self, ms: int) -> None:
        """把模拟时间直接拨快 ms 毫秒（测试用：让 K 线收盘、让止损触发）。"""
        self._anchor_ts += int(ms)

    def freeze(self) -> None:
        """停住模拟时间：此后它只随 advance() 前进（测试用：行情只在测试拨动时才走，结果与机器快慢无关）。"""
        self._anchor_ts = self.now()
        self._anchor_wall = time.monotonic()
        self.speed = 0.0
