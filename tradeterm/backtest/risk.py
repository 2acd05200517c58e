"""把风控层的 `RiskManager` 接到回测的模拟经纪商上：同一套规则、同一个检查顺序，回测里就能看到限额会做什么。

经纪商只认识自己的 `OrderRequest`（成交那一刻的订单与账户状态）和“返回 (规则, 原因) 或 None”的挂钩；
这里把它翻译成风控层的 `OrderRequest` + `AccountSnapshot`，并在每根 K 线收盘时用账户权益更新熔断。

回测里与实盘不同的两点（README 有说明）：
- stale_after 不起作用：回测的时钟就是 K 线，每张单都在一根刚开盘的 K 线上成交，行情从不陈旧；
- 限价单在成交时检查（回测在成交那一刻才算数量），价格带以挂单那根的收盘价为“最新价”参照，与实盘下单时一致。
"""

from __future__ import annotations

import math

from tradeterm.backtest.broker import OrderRequest
from tradeterm.backtest.results import RiskEvent
from tradeterm.config.schema import RiskConfig
from tradeterm.models import MarketType, OrderType, Side
from tradeterm.risk.manager import AccountSnapshot, RiskManager
from tradeterm.risk.manager import OrderRequest as RiskRequest


class BacktestRisk:
    """一次回测的风控：一个新的 RiskManager（熔断状态从零开始）加上请求翻译。"""

    def __init__(self, config: RiskConfig, market_type: MarketType = MarketType.SPOT,
                 starting_cash: float | None = None):
        """config 为 risk 块；market_type 决定余额检查方式（现货买入须有现金）；
        starting_cash 为账户初始资金（计价货币），是第一天单日亏损的起点。"""
        # 风控层的管理器（规则、熔断、一键停止）
        self.manager = RiskManager(config, market_type, starting_equity=starting_cash)

    def check(self, request: OrderRequest) -> tuple[str, str] | None:
        """经纪商的风控挂钩：放行返回 None，拒绝返回 (规则名, 英文原因)。"""
        limit = request.limit_price
        reference = request.reference_price
        # 限价单的“最新价”是挂单时的收盘价；没有参照（不该发生）时退回成交价
        price = request.price if limit is None or reference is None or math.isnan(reference) else reference
        risk_request = RiskRequest(
            request.symbol, Side.BUY if request.side > 0 else Side.SELL, request.amount, price, request.ts,
            OrderType.LIMIT if limit is not None else OrderType.MARKET, limit, reduces=not request.opening,
            fee_rate=request.fee_rate, instance=request.instance)
        # 回测的行情时间就是成交那根 K 线的开盘时间：陈旧行情规则永远不触发
        account = AccountSnapshot(request.equity, request.cash, dict(request.positions), {request.symbol: request.ts})
        decision = self.manager.check(risk_request, account)
        return None if decision.allowed else (decision.rule, decision.reason)

    def on_equity(self, ts: int, equity: float) -> list[RiskEvent]:
        """一根 K 线收盘：用账户权益（计价货币）更新熔断，返回本次新触发的熔断事件。"""
        breakers = self.manager.breakers
        before = (breakers.drawdown_tripped, breakers.daily_tripped)
        messages = self.manager.update_equity(ts, equity)
        if not messages:
            return []
        # update 按“回撤、单日亏损”的顺序给出说明；按状态翻转找出各条说明对应的熔断名
        tripped = [name for name, was, now in (("max_drawdown", before[0], breakers.drawdown_tripped),
                                               ("daily_loss", before[1], breakers.daily_tripped)) if now and not was]
        return [RiskEvent(ts, rule, message) for rule, message in zip(tripped, messages)]
