"""引擎层：事件、事件总线、策略实例状态；异步交易引擎 TraderEngine 与其命令接口。

导出的名字按需导入（见 tradeterm/lazy.py）：只用到 `tradeterm.engine.events` 这样的纯数据子模块（命令行帮助要用事件种类）
时，不必先导入事件总线背后的 asyncio。
"""

from __future__ import annotations

from tradeterm.lazy import lazy_exports

# 导出的名字 -> (所在模块, 模块里的名字)
_EXPORTS: dict[str, tuple[str, str | None]] = {
    "EventBus": ("tradeterm.engine.bus", "EventBus"),
    "Subscription": ("tradeterm.engine.bus", "Subscription"),
    "Event": ("tradeterm.engine.events", "Event"),
    "EventKind": ("tradeterm.engine.events", "EventKind"),
    "InstanceState": ("tradeterm.engine.instance", "InstanceState"),
    "InstanceStatus": ("tradeterm.engine.instance", "InstanceStatus"),
}

__all__ = list(_EXPORTS)

# 第一次用到导出的名字时才导入它所在的模块
__getattr__ = lazy_exports(__name__, _EXPORTS)
