"""订单层：订单状态机与成交去重（纯逻辑）；订单管理器（下单、重试、对账）建立在它之上。"""

from tradeterm.orders.state_machine import FillLedger, OrderUpdate, apply_update, can_transition

__all__ = ["FillLedger", "OrderUpdate", "apply_update", "can_transition"]
