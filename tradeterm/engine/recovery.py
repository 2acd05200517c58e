"""对账：启动时与推送重连后，用客户端订单号把日志库与交易所对齐。

1. 日志库里未结束的订单逐张按客户端订单号查询：查到就应用交易所的状态；查不到而日志里还是 new 的，
   说明进程在发出之前就死了——标为 rejected（从未到达交易所）；查不到却曾被交易所确认过的，无法解释。
2. 从最后一笔已记账成交起，取每个交易对上本账户的成交：属于本引擎订单的补记（断线或宕机期间的成交），
   不属于任何订单的（有人在别处下了单）无法解释。
3. 余额：第一次运行时记下账户基线；之后每个交易对的基础币种应满足“交易所总额 = 基线 + 全部机器人持仓”。
无法解释的问题会报告（RECONCILE 事件 + 日志库 + `ctl status` 的 problems），写明该怎么办（新的日志库、重置沙盒），
并停止涉及该交易对的实例——宁可停下，也不在错误的持仓上继续交易。交易所上本引擎无法归位的成交从不被静默丢弃。
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from tradeterm.engine.events import EventKind
from tradeterm.engine.instance import InstanceStatus
from tradeterm.models import MarketType, OrderStatus

if TYPE_CHECKING:  # 只为类型标注
    from tradeterm.engine.trader import TraderEngine

log = logging.getLogger(__name__)


async def reconcile(engine: "TraderEngine") -> list[str]:
    """执行三步对账，返回无法解释的问题（英文，每条都写明该怎么办）；有问题的交易对上的实例被停止。

    每个问题记一条 RECONCILE 事件（日志库 + 总线：横幅、`ctl status` 的 problems、通知挂钩都看得到）。"""
    problems: list[tuple[str, str]] = []
    problems += await _reconcile_orders(engine)
    problems += await _reconcile_trades(engine)
    problems += await _reconcile_balances(engine)
    fix = await _advice(engine, problems)
    messages = []
    for symbol, message in problems:
        text = f"{message}. {fix}" if fix else message
        log.error("reconcile problem symbol=%s %s", symbol, text)
        await engine.record(EventKind.RECONCILE, symbol=symbol, message=text, fix=fix)
        messages.append(text)
        for bot in engine.bots.values():
            if bot.symbol == symbol and bot.state.status is not InstanceStatus.STOPPED:
                bot.state.status, bot.state.error = InstanceStatus.STOPPED, f"reconcile: {message}"
                await engine.save_instance(bot)
    return messages


async def _advice(engine: "TraderEngine", problems: list[tuple[str, str]]) -> str:
    """对账问题该怎么办（英文一句）：交易所账户是新的（没有任何成交历史而日志库有）时，说明是交易所被重置了。"""
    if not problems:
        return ""
    journal = engine.journal.path
    if engine.orders.booked and not any([await engine.broker.my_trades(s, None) for s in _symbols(engine)]):
        return (f"The exchange account has no trade history but the journal {journal.name} holds "
                f"fills of {len(engine.orders.booked)} order(s): the exchange account was reset or is a different one. "
                f"Start a new journal (set journal.path to a new file, or move {journal} away), or reset the "
                f"sandbox together with the journal ('tradeterm sandbox --reset --config CONFIG' and a new journal)")
    return (f"Check the exchange for trades made outside this engine; the affected instances are stopped. "
            f"To start over on this account, set journal.path to a new file (the old journal {journal} is kept)")


async def _reconcile_orders(engine: "TraderEngine") -> list[tuple[str, str]]:
    """第 1 步：未结束的订单。"""
    problems = []
    for order in engine.orders.open_orders():
        found = await engine.broker.find_order(order)
        if found is not None:
            await engine.orders.apply(order, *found)
            continue
        if order.status is OrderStatus.NEW:
            order.status = OrderStatus.REJECTED
            order.reason = f"{order.reason}; never reached the exchange (engine stopped before sending)"
            await engine.journal.record_order(order)
            continue
        problems.append((order.symbol, f"order {order.client_order_id} is {order.status.value} in the journal "
                                       f"but unknown to the exchange"))
    return problems


def _symbols(engine: "TraderEngine") -> list[str]:
    """对账涉及的交易对：全部实例的，加上日志库里有订单的。"""
    symbols = {bot.symbol for bot in engine.bots.values()}
    symbols |= {order.symbol for order in engine.orders.orders.values()}
    return sorted(symbols)


async def _reconcile_trades(engine: "TraderEngine") -> list[tuple[str, str]]:
    """第 2 步：最后一笔已记账成交之后的成交。"""
    problems = []
    last = await engine.journal.last_fill_ts()
    for symbol in _symbols(engine):
        for report in await engine.broker.my_trades(symbol, last):
            if engine.orders.is_booked(report):  # 按 (账户, 交易所订单号, 成交编号)，不只凭成交编号
                continue
            if not await engine.orders.adopt(report):
                problems.append((symbol, f"trade {report.trade_id} on {symbol} (order {report.exchange_order_id}) "
                                         f"was not placed by this engine"))
    return problems


async def _reconcile_balances(engine: "TraderEngine") -> list[tuple[str, str]]:
    """第 3 步：基础币种余额 = 基线 + 机器人持仓（现货）。"""
    if engine.market_type is not MarketType.SPOT:
        return []  # 合约的持仓在交易所的持仓接口里，不在余额里；留给合约对账
    totals = await engine.broker.balances()
    baseline = await engine.journal.baseline()
    if baseline is None:
        if not engine.orders.booked:
            await engine.journal.set_baseline({engine.config.account.quote_currency: 0.0, **totals})
        return []
    held: dict[str, float] = {}
    for _, position, _ in engine.all_positions():
        base = position.symbol.split("/")[0]
        held[base] = held.get(base, 0.0) + position.amount
    problems = []
    for symbol in _symbols(engine):
        base = symbol.split("/")[0]
        step = engine.rules.get(symbol).amount_step if symbol in engine.rules else 0.0
        expected = baseline.get(base, 0.0) + held.get(base, 0.0)
        actual = totals.get(base, 0.0)
        if abs(actual - expected) > max(step / 2, 1e-9):
            problems.append((symbol, f"{base} balance on the exchange is {actual:g} but the journal expects "
                                     f"{expected:g} (baseline {baseline.get(base, 0.0):g} + positions "
                                     f"{held.get(base, 0.0):g})"))
    return problems
