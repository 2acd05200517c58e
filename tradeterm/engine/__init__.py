"""引擎层：事件、事件总线、策略实例状态；（后续）异步交易引擎 TraderEngine 与其命令接口。"""

from tradeterm.engine.bus import EventBus, Subscription
from tradeterm.engine.events import Event, EventKind
from tradeterm.engine.instance import InstanceState, InstanceStatus

__all__ = ["EventBus", "Subscription", "Event", "EventKind", "InstanceState", "InstanceStatus"]
