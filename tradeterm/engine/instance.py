"""策略实例的运行状态：running / paused / stopped / error 四态与合法的命令。

- pause：不开新仓；策略的平仓信号、止损止盈照常执行（持仓仍受保护）；resume 恢复。
- stop：什么都不运行（不接收 K 线、不问策略、不检查止损止盈），持仓原样保留；start 重新启动（从 stopped 或 error）。
- flatten（引擎命令）：先 pause，再撤掉该实例的挂单、市价平掉它的持仓，之后保持暂停（不会马上又开仓）。
- 实例内部抛异常时进入 error：不再问策略，止损止盈照常执行，记录错误；其他实例不受影响；start/resume 可恢复。
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from tradeterm.errors import UserError


class InstanceStatus(str, Enum):
    """实例状态。"""

    # 正常运行，接收 K 线并产生信号
    RUNNING = "running"
    # 暂停：接收 K 线（保持指标最新），不开新仓；平仓信号与止损止盈照常执行
    PAUSED = "paused"
    # 已停止：不接收 K 线
    STOPPED = "stopped"
    # 出错：策略代码抛出异常，不再问策略；止损止盈照常执行
    ERROR = "error"


# 命令 -> (允许的当前状态, 执行后的状态)
COMMANDS: dict[str, tuple[frozenset[InstanceStatus], InstanceStatus]] = {
    "pause": (frozenset({InstanceStatus.RUNNING}), InstanceStatus.PAUSED),
    "resume": (frozenset({InstanceStatus.PAUSED, InstanceStatus.ERROR}), InstanceStatus.RUNNING),
    "stop": (frozenset({InstanceStatus.RUNNING, InstanceStatus.PAUSED, InstanceStatus.ERROR}),
             InstanceStatus.STOPPED),
    "start": (frozenset({InstanceStatus.STOPPED, InstanceStatus.ERROR}), InstanceStatus.RUNNING),
}


@dataclass
class InstanceState:
    """一个实例的状态与最近一次错误。"""

    name: str                                        # 实例名
    status: InstanceStatus = InstanceStatus.RUNNING  # 当前状态
    error: str = ""                                  # 最近一次错误说明（进入 error 时填写）

    @property
    def trading(self) -> bool:
        """是否会下新单（只有 running）。"""
        return self.status is InstanceStatus.RUNNING

    @property
    def exits_run(self) -> bool:
        """平仓信号与止损止盈是否执行（running、paused、error；stopped 不执行）。"""
        return self.status is not InstanceStatus.STOPPED

    @property
    def receives_bars(self) -> bool:
        """是否接收 K 线（running、paused、error 都保持指标最新；stopped 不接收）。"""
        return self.status is not InstanceStatus.STOPPED

    def apply(self, command: str) -> InstanceStatus:
        """执行命令并返回新状态；当前状态下不允许时抛 UserError 说明原因。"""
        if command not in COMMANDS:
            raise UserError(f"unknown instance command '{command}'; use one of {', '.join(COMMANDS)}")
        allowed, target = COMMANDS[command]
        if self.status not in allowed:
            raise UserError(f"cannot {command} instance '{self.name}' while it is {self.status.value}")
        self.status = target
        if target is InstanceStatus.RUNNING:
            self.error = ""
        return target

    def fail(self, error: str) -> None:
        """策略出错：进入 error（不再下新单），记下错误。"""
        self.status = InstanceStatus.ERROR
        self.error = error
