"""风控层：下单前检查（仓位、敞口、名义金额、价格带、下单频率、陈旧行情、余额）与组合熔断（回撤、单日亏损）、一键停止。

纯逻辑、无 I/O：引擎与回测在“信号 -> 仓位计算 -> 风控 -> 订单”的风控一步调用它，拒绝原因由调用方写入日志库。
"""

from tradeterm.risk.manager import AccountSnapshot, OrderRequest, RiskDecision, RiskManager

__all__ = ["AccountSnapshot", "OrderRequest", "RiskDecision", "RiskManager"]
