"""引擎的安全动作：一键停止（kill switch）及其解除、平掉一个实例（flatten）。

一键停止的顺序（每一步都在上一步完成之后）：
1. 挡住新单：风控只放行减仓单；接合状态先写进日志库（进程此刻被杀，重启后仍是接合的）；
2. 停止全部实例（stopped：不再问策略、不再检查止损止盈——不会有策略的平仓单与下面的平仓单同时发出）；
3. 等已经备好、正在发出的订单落地，撤掉全部挂单；
4. 平掉全部持仓：机器人的与手动的（合约上 reduce_only），最多三轮（中途成交的单也会被平掉）；
5. 向交易所核对：各交易对的挂单、基础币种余额与“基线 + 持仓”之差，报告还剩下什么。
接合状态只由明确的 `tradeterm ctl kill-switch --reset`（或控制台里确认后的同一命令）解除；解除后实例仍是 stopped，
由交易员逐个 start。
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

import ccxt

from tradeterm.engine.bot import Bot
from tradeterm.engine.events import EventKind
from tradeterm.engine.instance import InstanceStatus
from tradeterm.models import MarketType

if TYPE_CHECKING:  # 只为类型标注
    from tradeterm.engine.trader import TraderEngine

log = logging.getLogger(__name__)

# 日志库里一键停止状态的键
KILL_STATE_KEY = "kill_switch"
# 一键停止平仓的最多轮数（一轮之后仍有持仓，多半是正在发出的单刚成交）
FLATTEN_ROUNDS = 3
# 等正在发出的订单落地的上限，秒（交易所不回音时不无限等：报告里会写明还剩什么）
IN_FLIGHT_WAIT_S = 30.0


def wall_ms() -> int:
    """当前墙上时间，UTC 毫秒。"""
    return int(time.time() * 1000)


async def wait_for_orders_in_flight(engine: "TraderEngine") -> bool:
    """等已备好、正在发出的订单都有了交易所的回音；超时返回 False。"""
    try:
        await asyncio.wait_for(engine.execution.idle.wait(), IN_FLIGHT_WAIT_S)
        return True
    except asyncio.TimeoutError:
        return False


async def engage_kill_switch(engine: "TraderEngine") -> dict[str, Any]:
    """按模块说明的顺序执行一键停止，返回报告（cancelled、closed、stopped、remaining）。重复调用会再走一遍。"""
    engine.risk.kill()
    await engine.journal.save_state(KILL_STATE_KEY, {"engaged": True, "ts": wall_ms()})
    await engine.record(EventKind.KILL_SWITCH, engaged=True,
                        message="kill switch engaged: new orders blocked, stopping every instance")
    stopped = []
    for bot in engine.bots.values():
        if bot.state.status is not InstanceStatus.STOPPED:
            bot.state.status = InstanceStatus.STOPPED
            stopped.append(bot.name)
            await engine.save_instance(bot)
    await wait_for_orders_in_flight(engine)
    cancelled = 0
    for order in engine.orders.open_orders():
        await engine.orders.cancel(order)
        cancelled += 1
    closed: list[dict[str, Any]] = []
    for _ in range(FLATTEN_ROUNDS):
        await wait_for_orders_in_flight(engine)
        targets = [(name, position.symbol, position.amount) for name, position, _ in engine.all_positions()]
        if not targets:
            break
        for name, symbol, amount in targets:
            order = await engine.execution.close_position(symbol, amount, name or None, "kill_switch")
            closed.append({"instance": name, "symbol": symbol, "amount": amount,
                           "status": order.status.value if order is not None else "not sent"})
    await wait_for_orders_in_flight(engine)
    remaining = await exchange_leftovers(engine)
    message = ("kill switch engaged: every instance stopped, every order cancelled, every position closed"
               if not remaining else "kill switch engaged but something remains: " + "; ".join(remaining))
    report = {"cancelled": cancelled, "closed": closed, "stopped": stopped, "remaining": remaining,
              "engaged": True, "message": message}
    await engine.record(EventKind.KILL_SWITCH, **report)
    if remaining:
        log.error("kill switch left something behind: %s", "; ".join(remaining))
    return report


async def exchange_leftovers(engine: "TraderEngine") -> list[str]:
    """向交易所核对还剩下什么（英文一行一项）：日志库里的非零持仓、交易所上的挂单、
    现货基础币种余额与“基线 + 持仓”之差（多出来或少了的币）。"""
    remaining = [f"{name or 'manual'} still holds {position.amount:g} {position.symbol} in the journal"
                 for name, position, _ in engine.all_positions()]
    symbols = sorted({b.symbol for b in engine.bots.values()} | {o.symbol for o in engine.orders.orders.values()})
    try:
        for symbol in symbols:
            count = len(await engine.broker.open_orders(symbol))
            if count:
                remaining.append(f"{count} open order(s) on {symbol} at the exchange")
        if engine.market_type is MarketType.SPOT:
            remaining += await _balance_leftovers(engine, symbols)
    except ccxt.BaseError as exc:  # 核对本身失败：照实报告，交易员要自己去交易所看
        remaining.append(f"could not verify against the exchange ({type(exc).__name__}: {exc}); check it by hand")
    return remaining


async def _balance_leftovers(engine: "TraderEngine", symbols: list[str]) -> list[str]:
    """现货：每个基础币种的交易所余额应等于基线 + 日志库持仓（一键停止后持仓为 0，即回到基线）。"""
    totals = await engine.broker.balances()
    baseline = await engine.journal.baseline() or {}
    held: dict[str, float] = {}
    for _, position, _ in engine.all_positions():
        base = position.symbol.split("/")[0]
        held[base] = held.get(base, 0.0) + position.amount
    out = []
    for base in sorted({s.split("/")[0] for s in symbols}):
        step = min((engine.rules[s].amount_step for s in symbols if s.split("/")[0] == base and s in engine.rules),
                   default=0.0)
        extra = totals.get(base, 0.0) - baseline.get(base, 0.0) - held.get(base, 0.0)
        if abs(extra) > max(step / 2, 1e-9):
            out.append(f"{base} balance on the exchange is {totals.get(base, 0.0):g}, {extra:+g} away from the "
                       f"baseline {baseline.get(base, 0.0):g} + positions {held.get(base, 0.0):g}")
    return out


async def reset_kill_switch(engine: "TraderEngine") -> dict[str, Any]:
    """解除一键停止：风控恢复正常，日志库记下解除；实例保持 stopped，由交易员逐个 start。"""
    was = engine.risk.killed
    engine.risk.reset_kill()
    await engine.journal.save_state(KILL_STATE_KEY, {"engaged": False, "ts": wall_ms()})
    message = ("kill switch reset: new orders allowed again; instances stay stopped until you start them"
               if was else "kill switch was not engaged; nothing to reset")
    await engine.record(EventKind.KILL_SWITCH, engaged=False, message=message)
    return {"engaged": False, "was_engaged": was, "message": message}


async def restore_kill_switch(engine: "TraderEngine") -> bool:
    """启动时：日志库里一键停止仍是接合的，就重新接合（只挡新单、保持实例停止，不再自动平仓）。返回是否接合。"""
    state = await engine.journal.load_state(KILL_STATE_KEY)
    if not state or not state.get("engaged"):
        return False
    engine.risk.kill()
    for bot in engine.bots.values():
        if bot.state.status is not InstanceStatus.STOPPED:
            bot.state.status = InstanceStatus.STOPPED
            await engine.save_instance(bot)
    await engine.record(EventKind.KILL_SWITCH, engaged=True,
                        message="kill switch is still engaged from before the restart; "
                                "reset it with 'tradeterm ctl kill-switch --reset'")
    return True


async def flatten_instance(engine: "TraderEngine", bot: Bot, *, dry_run: bool = False) -> dict[str, Any]:
    """flatten：暂停实例（不再开新仓）、撤掉它的挂单、市价平掉它的持仓。dry_run 只返回将要平掉的真实数量。"""
    amount = bot.position.amount
    orders = engine.orders.open_orders(bot.name)
    preview = {"instance": bot.name, "symbol": bot.symbol, "amount": amount, "open_orders": len(orders),
               "status": bot.state.status.value}
    if dry_run:
        return preview
    if bot.state.status is InstanceStatus.RUNNING:
        bot.state.apply("pause")
        await engine.save_instance(bot)
    for order in orders:
        await engine.orders.cancel(order)
    order = None
    if bot.position.amount:
        order = await engine.execution.close_position(bot.symbol, bot.position.amount, bot.name, "flatten")
    return {**preview, "closed": amount if order is not None else 0.0, "status": bot.state.status.value,
            "order": order.client_order_id if order is not None else None}
