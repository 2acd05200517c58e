"""引擎向上层（界面、通知、日志库）发出的事件。一个事件一个不可变对象，带种类、时间与负载。"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class EventKind(str, Enum):
    """事件种类。"""

    # 一根 K 线收盘（负载：symbol、timeframe、ts、open、high、low、close、volume）
    BAR = "bar"
    # 最新报价。K 线订阅发的：symbol、last、ts_bar（正在走的 K 线的开盘时间，UTC 毫秒）；报价订阅发的（见 tickers.py）：
    # symbol、last、bid、ask、bid_volume、ask_volume、volume_24h、quote_volume_24h、change_24h（小数）、ts（交易所时间，
    # UTC 毫秒）、source。价格为计价货币，量为基础货币，成交额为计价货币；没有的值为 None
    QUOTE = "quote"
    # 策略给出信号（负载：instance、intent、reason）
    SIGNAL = "signal"
    # 订单状态变化（负载：订单字段）
    ORDER = "order"
    # 成交（负载：instance、symbol、side、price、amount、fee、client_order_id、trade_id、fill_ts：成交的交易所时间，UTC 毫秒）
    FILL = "fill"
    # 下单被风控或交易所拒绝（负载：instance、rule、reason）
    REJECTION = "rejection"
    # 策略实例状态变化（负载：instance、status、error）
    INSTANCE = "instance"
    # 账户权益更新（负载：equity、cash、drawdown、bar_ts：采样时刻的交易所时间，UTC 毫秒）
    EQUITY = "equity"
    # 熔断触发（负载：rule、message）
    BREAKER = "breaker"
    # 引擎或实例的错误（负载：instance、error）
    ERROR = "error"
    # 一般日志信息（负载：message）
    LOG = "log"
    # 行情订阅变陈旧或恢复（负载：message、symbol、timeframe、lag_bars、stale、last_bar_ts、exchange_bar_ts、age_s）
    STALE = "stale"
    # 一键停止的状态变化与报告（负载：engaged、message，接合时还有 cancelled、closed、remaining、stopped）
    KILL_SWITCH = "kill_switch"
    # 对账发现的无法解释的问题（负载：symbol、message、fix：该怎么办）
    RECONCILE = "reconcile"


@dataclass(frozen=True, slots=True)
class Event:
    """一个引擎事件。"""

    kind: EventKind                                        # 事件种类
    ts: int                                                # 事件时间，UTC 毫秒
    data: dict[str, Any] = field(default_factory=dict)     # 负载，键见 EventKind 的说明
