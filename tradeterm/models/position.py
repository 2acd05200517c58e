"""持仓：某个交易对上的带符号数量与开仓均价，以及已实现盈亏。"""

from __future__ import annotations

from dataclasses import dataclass

from tradeterm.models.enums import Side
from tradeterm.models.fill import Fill


@dataclass(slots=True)
class Position:
    """一个交易对上的持仓。amount 带符号：正为多、负为空，单位为基础货币。"""

    symbol: str                  # 交易对，ccxt 形式，如 BTC/USDT
    amount: float = 0.0          # 持仓数量，基础货币，带符号（多为正，空为负）
    entry_price: float = 0.0     # 开仓均价，计价货币；空仓时为 0
    realized_pnl: float = 0.0    # 已实现盈亏，计价货币，未扣手续费
    fees: float = 0.0            # 累计手续费，计价货币（以计价货币收取的部分）
    instance: str | None = None  # 所属策略实例名；账户级汇总为 None

    @property
    def side(self) -> Side | None:
        """多仓为 buy、空仓为 sell、空仓位为 None。"""
        if self.amount > 0:
            return Side.BUY
        if self.amount < 0:
            return Side.SELL
        return None

    def unrealized_pnl(self, mark_price: float) -> float:
        """按标记价计算的浮动盈亏，计价货币。"""
        return (mark_price - self.entry_price) * self.amount

    def apply(self, fill: Fill) -> float:
        """把一笔成交计入持仓，返回这笔成交实现的盈亏（计价货币，未扣手续费）。

        同向成交按数量加权更新均价；反向成交先按均价平掉已有部分，超出部分在成交价反向开仓。
        """
        delta = fill.side.sign * fill.amount
        realized = 0.0
        if self.amount == 0 or (self.amount > 0) == (delta > 0):
            # 加仓：均价按数量加权
            total = self.amount + delta
            self.entry_price = (self.entry_price * abs(self.amount) + fill.price * abs(delta)) / abs(total)
            self.amount = total
        else:
            # 减仓或反手：平掉的部分按均价结算盈亏
            closed = min(abs(delta), abs(self.amount))
            direction = 1.0 if self.amount > 0 else -1.0
            realized = (fill.price - self.entry_price) * closed * direction
            self.amount += delta
            if abs(delta) > closed:
                # 反手：剩余部分在成交价开新仓
                self.entry_price = fill.price
            elif self.amount == 0:
                self.entry_price = 0.0
        self.realized_pnl += realized
        if fill.fee_currency == self.symbol.split("/")[1].split(":")[0]:
            self.fees += fill.fee
        return realized
