"""引擎的记账：持仓（机器人的与手动的）、权益、现金、风控用的账户快照，以及成交到来时的持仓更新与权益采样。

一笔成交的记账顺序：更新持仓 -> 与成交、订单同一事务写进日志库 -> 挂上或清掉止损止盈 -> 通知仓位函数与策略 ->
发事件 -> 记一个权益采样。权益 = 初始资金 + 全部持仓的（已实现 - 手续费 + 浮动）盈亏。
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tradeterm.engine.bot import Bot
from tradeterm.engine.events import EventKind
from tradeterm.execution.fills import MarketRules
from tradeterm.models import Fill, MarketType, Order, Position
from tradeterm.risk.manager import AccountSnapshot

if TYPE_CHECKING:  # 只为类型标注
    from tradeterm.engine.trader import TraderEngine


class Bookkeeper:
    """一个账户的记账：机器人持仓在各 Bot 上，手动订单的持仓在 manual_positions 里。"""

    def __init__(self, engine: "TraderEngine"):
        """engine 为所属引擎（读它的配置、机器人、日志库、风控与事件总线）。"""
        # 所属引擎
        self.engine = engine
        # 手动订单（不属于任何实例）的持仓：交易对 -> 持仓
        self.manual_positions: dict[str, Position] = {}
        # 最近一次记录账户权益的 K 线时间，UTC 毫秒（同一时刻只记一次）
        self.last_equity_ts = 0

    # ---- 持仓与权益 --------------------------------------------------------------------------------

    def position_of(self, order: Order) -> tuple[str, Position, Bot | None]:
        """订单所属的 (记账键, 持仓, 机器人)；手动订单（或实例已不在配置里的订单）记在空串下。"""
        bot = self.engine.bots.get(order.instance or "")
        if bot is not None and bot.symbol == order.symbol:
            return bot.name, bot.position, bot
        position = self.manual_positions.setdefault(order.symbol, Position(order.symbol))
        return "", position, None

    def marks(self) -> dict[str, float]:
        """交易对 -> 最新价（任一交易它的实例的标记价），计价货币。"""
        return {b.symbol: b.mark for b in self.engine.bots.values() if b.mark}

    def mark_price(self, symbol: str) -> float:
        """交易对的最新价，计价货币；没有实例交易它时为 0。"""
        return self.marks().get(symbol, 0.0)

    def all_positions(self) -> list[tuple[str, Position, float]]:
        """全部非零持仓：(实例名或空串, 持仓, 标记价)。"""
        marks = self.marks()
        rows = [(b.name, b.position, b.mark) for b in self.engine.bots.values() if b.position.amount]
        rows += [("", p, marks.get(s, p.entry_price)) for s, p in self.manual_positions.items() if p.amount]
        return rows

    def equity(self) -> float:
        """账户权益，计价货币：初始资金 + 全部持仓的（已实现 - 手续费 + 浮动）盈亏。"""
        positions = [b.position for b in self.engine.bots.values()] + list(self.manual_positions.values())
        marks = self.marks()
        pnl = sum(p.realized_pnl - p.fees + (p.unrealized_pnl(marks.get(p.symbol, p.entry_price)) if p.amount else 0.0)
                  for p in positions)
        return self.engine.config.account.starting_cash + pnl

    def cash(self) -> float:
        """可用现金，计价货币：现货为权益减去多仓市值；合约为权益（不计保证金占用）。"""
        if self.engine.market_type is MarketType.FUTURES:
            return self.equity()
        return self.equity() - sum(p.amount * mark for _, p, mark in self.all_positions() if p.amount > 0)

    def snapshot(self) -> AccountSnapshot:
        """风控用的账户状态（含陈旧的行情：落后交易所超过界限的交易对）。"""
        positions: dict[str, float] = {}
        for _, position, mark in self.all_positions():
            positions[position.symbol] = positions.get(position.symbol, 0.0) + position.amount * mark
        return AccountSnapshot(self.equity(), self.cash(), positions, dict(self.engine.last_update_ms),
                               self.engine.feeds.stale_symbols())

    # ---- 成交 -------------------------------------------------------------------------------------

    async def on_fill(self, order: Order, fill: Fill) -> None:
        """一笔新成交：更新持仓（与成交、订单同一事务记账），挂上止损止盈，通知策略，记权益。"""
        engine = self.engine
        key, position, bot = self.position_of(order)
        position.apply(fill)
        step = engine.rules.get(order.symbol, MarketRules()).amount_step
        if abs(position.amount) < max(step, 1e-12) / 2:
            position.amount, position.entry_price = 0.0, 0.0  # 浮点残差归零
        await engine.journal.record_fill(fill, order, position, key)
        if bot is not None:
            await self._after_bot_fill(bot, order, fill)
        engine.publish(EventKind.FILL, instance=order.instance or "", symbol=fill.symbol, side=fill.side.value,
                       price=fill.price, amount=fill.amount, fee=fill.fee, client_order_id=fill.client_order_id,
                       trade_id=fill.trade_id, fill_ts=fill.ts)
        await self.sample_equity(fill.ts, force=True)

    async def _after_bot_fill(self, bot: Bot, order: Order, fill: Fill) -> None:
        """机器人的成交：开仓成交挂上止损止盈，平仓后清掉；通知仓位函数与策略的 on_order_fill。"""
        engine = self.engine
        exits = engine.execution.exits.get(order.client_order_id)
        if bot.position.amount == 0:
            bot.stop_loss = bot.take_profit = None
        elif exits is not None:
            bot.stop_loss, bot.take_profit = exits
        await engine.journal.save_position(bot.name, bot.position, bot.stop_loss, bot.take_profit)
        engine.sizers[bot.name].on_fill(fill)  # 凯利从实例自己的已平仓交易学习
        try:
            bot.strategy.on_order_fill(fill)
        except Exception as exc:  # 策略代码的异常只影响这个实例
            await engine.fail(bot, exc)

    async def sample_equity(self, ts: int, force: bool = False, tripped: list[str] | None = None) -> None:
        """记一个账户权益采样（每根 K 线收盘一次、每笔成交一次），并更新熔断。

        tripped 给出时熔断已在下单之前同步更新过（K 线收盘时：先更新熔断、再决定下单，与回测相同），这里只记账与发事件。"""
        engine = self.engine
        if not force and ts <= self.last_equity_ts:
            return
        self.last_equity_ts = max(self.last_equity_ts, ts)
        equity = self.equity()
        await engine.journal.record_equity("", ts, equity)
        for message in (engine.risk.update_equity(ts, equity) if tripped is None else tripped):
            # 熔断说明以规则名开头（max_drawdown / daily_loss），与回测日志库里的 rule 一致
            await engine.record(EventKind.BREAKER, rule=message.split()[0], message=message)
        engine.publish(EventKind.EQUITY, equity=equity, cash=self.cash(),
                       drawdown=engine.risk.breakers.drawdown(equity), bar_ts=ts)
