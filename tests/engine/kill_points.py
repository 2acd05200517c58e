"""按条件触发的 SIGKILL：沙盒交易所（在测试进程里运行）收到某个请求的那一刻，把发请求的引擎进程杀掉。

杀点由“哪个请求”决定，而不是由“启动后过了几秒”决定，所以与机器快慢无关，每次都落在同一个危险时刻上：
- 请求到达、还没处理（drop=True 时随后回 503，交易所根本没执行它）：例如“订单已写进日志库、还没到达交易所”；
- 订单通过校验、撮合之前（stage="placing"）：先杀引擎，再照常撮合——“交易所成交了，引擎永远收不到回报”；
- 只认本次运行里某个请求之后的第一个（after=...）：例如“下单之后补成交的那次 myTrades”，此刻订单在日志库里已是
  filled，成交还没记账。
side 限定日志库里最新那张待发（new）订单的方向（引擎先写日志库再下单，所以请求到达时它已经在库里）。

钩子挂在沙盒公开的故障注入接口上（`FaultInjector.take_http` / `take_order_rejection`，每个请求、每张新订单都会问它），
其余故障注入照常可用。
"""

from __future__ import annotations

import os
import signal
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from tradeterm.sandbox.faults import FaultInjector, HttpFault

# 等被杀的进程真正死掉的防挂死上限，秒
DEATH_GUARD_S = 60.0
# 日志库里最新一张待发订单（引擎在下单请求发出之前写入并提交）
PENDING_ORDER = ("SELECT client_order_id, side FROM orders WHERE status = 'new' "
                 "ORDER BY created_ts DESC, rowid DESC LIMIT 1")


@dataclass
class KillPoint:
    """一个杀点：在哪个请求上、什么时机杀掉引擎，以及它覆盖的危险时刻（说明用）。"""

    name: str                           # 杀点名（测试报告与失败信息里用）
    moment: str                         # 它覆盖的危险时刻（英文一句）
    method: str = "GET"                 # 触发的 HTTP 方法
    path: str = ""                      # 触发的路径（完全相等）；空串表示不是请求触发的（由测试自己判断时机）
    stage: str = "request"              # request：请求到达、处理之前；placing：新订单通过校验、撮合之前
    side: str | None = None             # 只在最新待发订单是这个方向（buy/sell）时触发；None 表示不限
    drop: bool = False                  # 杀掉之后让这个请求以 503 失败（交易所不执行它）
    after: tuple[str, str] | None = None  # 只在本次运行里先出现过这个 (方法, 路径) 的请求之后触发
    fired: bool = False                 # 是否已触发
    order: tuple[str, str] | None = None  # 触发时日志库里最新待发订单的 (客户端订单号, 方向)；没有时为 None


def pending_order(journal: Path) -> tuple[str, str] | None:
    """日志库里最新一张待发（new）订单的 (客户端订单号, 方向)；没有时为 None。"""
    if not journal.exists():
        return None
    conn = sqlite3.connect(journal)
    try:
        return conn.execute(PENDING_ORDER).fetchone()
    except sqlite3.OperationalError:  # 表还没建好
        return None
    finally:
        conn.close()


@dataclass
class Victim:
    """当前的被杀对象：进程（Popen 或 LaunchedProcess）、它的日志库、本次运行里见过的请求。"""

    process: object                     # 引擎进程（有 pid、wait）
    journal: Path                       # 引擎的日志库（判断待发订单的方向）
    seen: set[tuple[str, str]] = field(default_factory=set)  # 本次运行里沙盒收到过的 (方法, 路径)


class KillPoints(FaultInjector):
    """带杀点的故障注入：arm(杀点, 进程, 日志库) 之后，该杀点的条件第一次满足时 SIGKILL 那个进程并等它死掉。"""

    def __init__(self) -> None:
        """没有装上杀点。"""
        super().__init__()
        # 装上的杀点（触发后保留，fired 为 True）；None 表示没有
        self.point: KillPoint | None = None
        # 被杀对象；None 表示没有
        self.victim: Victim | None = None

    def arm(self, point: KillPoint, process, journal: Path) -> None:
        """为 process（日志库 journal）装上杀点 point。"""
        self.point, self.victim = point, Victim(process, journal)

    def _due(self, method: str, path: str, stage: str) -> KillPoint | None:
        """这个请求是否触发装上的杀点：是则返回它。"""
        point, victim = self.point, self.victim
        if point is None or victim is None or point.fired or point.stage != stage:
            return None
        if stage == "request" and (method, path) != (point.method, point.path):
            return None
        if point.after is not None and point.after not in victim.seen:
            return None
        order = pending_order(victim.journal)
        if point.side is not None and (order is None or order[1] != point.side):
            return None
        point.order = order
        return point

    def _kill(self, point: KillPoint) -> None:
        """SIGKILL 被杀对象并等它真正死掉（之后沙盒再处理这个请求，引擎一个字节也收不到）。"""
        point.fired = True
        process = self.victim.process
        os.kill(process.pid, signal.SIGKILL)
        process.wait(DEATH_GUARD_S)

    def take_http(self, method: str, path: str) -> HttpFault | None:
        """每个请求处理之前：先照常取注入的 HTTP 故障，再看是否到了杀点。"""
        fault = super().take_http(method, path)
        point = self._due(method, path, "request")
        if self.victim is not None:
            self.victim.seen.add((method, path))
        if point is None:
            return fault
        self._kill(point)
        return HttpFault(503, 0.0, 1, path, method, None) if point.drop else fault

    def take_order_rejection(self) -> tuple[int, str] | None:
        """每张新订单撮合之前：先看是否到了杀点（杀掉之后照常撮合），再照常取注入的拒单。"""
        point = self._due("POST", "", "placing")
        if point is not None:
            self._kill(point)
        return super().take_order_rejection()
