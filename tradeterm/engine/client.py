"""引擎的客户端接口：界面（TUI）、命令行与脚本只通过它和引擎交谈——事件向上，命令向下。

同一个接口有两种实现：
- `InProcessClient`：同一进程里直接调用 TraderEngine（默认的 `tradeterm run`）；
- `SocketClient`（tradeterm/engine/control.py）：经本地 Unix 套接字连到 `tradeterm run --headless` 的引擎，
  界面可以随时连上、断开，机器人照常运行。

命令（`command(name, **args)`）：
- `pause` / `resume` / `stop` / `start`（instance=实例名）：改变实例状态。pause = 不开新仓，平仓信号与止损止盈照常；
  stop = 什么都不运行，持仓保留；一键停止接合时 start/resume 被拒绝；
- `set_params`（instance=实例名, params={...}）：运行中修改参数（按类校验，非法参数报错、不生效）；
- `cancel_order`（client_order_id=...）、`cancel_all`（instance=可选）：撤单；
- `flatten`（instance=实例名, dry_run=False）：暂停实例、撤掉它的挂单、市价平掉它的持仓（之后保持暂停，不会马上又开仓）；
  dry_run=True 只返回将要平掉的真实数量；
- `manual_order`（symbol=, side="buy"|"sell", amount= 或 notional=, type="market"|"limit", price=限价,
  dry_run=False）：手动下单，经过与策略订单相同的规则与风控；dry_run=True 只返回风控预览、不下单；
- `kill_switch`（reset=False）：挡住新单 -> 停止全部实例 -> 撤掉全部挂单 -> 平掉全部持仓（机器人的与手动的）->
  向交易所核对并报告剩下的；接合状态写进日志库，重启后仍在，只由 reset=True 解除；
- `shutdown`：优雅地停止引擎（只对 headless 引擎有意义；界面退出默认不停机器人）。
只读的查询（读引擎自己的日志库，见 tradeterm/engine/queries.py）：
- `history`（events=日志条数, bars=每张图的 K 线根数）：控制台启动与附着时的近期历史（日志事件、K 线、成交标记、权益）；
- `trades`（instance=可选, limit=条数）：最近的已平仓回合、仍持有的回合与统计；
- `pnl`（period="day"|"week"|"month", count=周期数, instance=可选）：按周期、按实例、按交易对的已实现盈亏。
命令的用户错误（未知实例、当前状态下不允许）以 UserError 抛出，消息为英文。
参数一律严格校验（tradeterm/engine/arguments.py，两种客户端相同）：未知或缺少的字段、类型不对（布尔不是数，
开关只认 true/false）、非有限或不为正的数量与价格，都是一行 `<命令>.<字段>: <值> <问题>; <修正方法>` 的 UserError。

事件与快照都是可 JSON 序列化的字典与 `Event`，所以两种实现对调用方完全一样。
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Protocol

from tradeterm.engine.events import Event, EventKind

if TYPE_CHECKING:  # 只为类型标注；运行时不导入引擎，避免循环导入
    from tradeterm.engine.trader import TraderEngine

# 引擎接受的命令名（两种客户端共用，控制套接字据此拒绝未知命令）
COMMANDS = ("pause", "resume", "stop", "start", "set_params", "cancel_order", "cancel_all", "flatten",
            "manual_order", "kill_switch", "shutdown", "history", "trades", "pnl")


class EngineClient(Protocol):
    """界面与引擎之间唯一的接口。"""

    async def snapshot(self) -> dict[str, Any]:
        """引擎当前状态的快照（实例、持仓、挂单、账户、报价），可 JSON 序列化。"""

    async def command(self, name: str, /, **args: Any) -> Any:
        """执行一个命令（名字见 COMMANDS），返回可 JSON 序列化的结果；用户错误抛 UserError。"""

    def events(self) -> AsyncIterator[Event]:
        """从此刻起的事件流（异步迭代器）；慢读者丢最旧的事件，不拖慢引擎。"""

    async def close(self) -> None:
        """断开（不停止引擎）。"""


def event_to_dict(event: Event) -> dict[str, Any]:
    """Event -> 可 JSON 序列化的字典。"""
    return {"kind": event.kind.value, "ts": event.ts, "data": event.data}


def event_from_dict(payload: dict[str, Any]) -> Event:
    """event_to_dict 的逆。"""
    return Event(EventKind(payload["kind"]), int(payload["ts"]), dict(payload.get("data") or {}))


class InProcessClient:
    """同一进程里的客户端：直接调用引擎的方法。"""

    def __init__(self, engine: "TraderEngine"):
        """engine 为正在运行的 TraderEngine。"""
        # 被控制的引擎
        self.engine = engine
        # 本客户端的事件订阅（第一次调用 events() 时创建）
        self._subscription = None

    async def snapshot(self) -> dict[str, Any]:
        """见 EngineClient.snapshot。"""
        return self.engine.snapshot()

    async def command(self, name: str, /, **args: Any) -> Any:
        """见 EngineClient.command。"""
        return await self.engine.command(name, **args)

    async def events(self) -> AsyncIterator[Event]:
        """见 EngineClient.events。"""
        if self._subscription is None:
            self._subscription = self.engine.bus.subscribe()
        while True:
            yield await self._subscription.get()

    async def close(self) -> None:
        """取消事件订阅；引擎照常运行。"""
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None
