"""崩溃后重启的退避：restart_delay 起步、每次翻倍、不超过 restart_delay_max；引擎连续运行满 stable_after 秒后从头算。

纯逻辑、不碰时钟：调用方把“这次运行了多少秒”传进来（守护进程用可替换的时钟量），所以测试能直接给出一串运行时长。
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RestartPlan:
    """一次重启的安排。"""

    attempt: int   # 这是连续第几次重启（从 1 开始；引擎稳定运行过后重新从 1 算）
    delay: float   # 重启前等待的时间，秒


class Backoff:
    """重启退避的状态：下一次的等待与连续重启次数。"""

    def __init__(self, restart_delay: float, restart_delay_max: float, stable_after: float):
        """restart_delay 为首次等待，秒；restart_delay_max 为等待上限，秒；stable_after 为算作稳定的运行时长，秒。"""
        # 首次重启前的等待，秒
        self.restart_delay = restart_delay
        # 等待的上限，秒（比 restart_delay 还小时以 restart_delay 为准）
        self.restart_delay_max = max(restart_delay_max, restart_delay)
        # 连续运行这么久算稳定，秒
        self.stable_after = stable_after
        # 下一次重启前要等的时间，秒
        self.next_delay = restart_delay
        # 自上次稳定运行以来已安排的重启次数
        self.attempts = 0

    def after_crash(self, ran_for: float) -> RestartPlan:
        """引擎运行了 ran_for 秒后崩溃：返回这次重启的安排，并把下一次的等待翻倍（不超过上限）。

        为什么按运行时长重置：一个跑了几天才崩一次的引擎每次都该很快重启；一个一启动就崩的引擎（交易所宕机、
        磁盘满）则越等越久，不会每秒重启一次、刷屏通知。"""
        if ran_for >= self.stable_after:
            self.next_delay = self.restart_delay
            self.attempts = 0
        self.attempts += 1
        plan = RestartPlan(self.attempts, self.next_delay)
        self.next_delay = min(self.next_delay * 2, self.restart_delay_max)
        return plan
