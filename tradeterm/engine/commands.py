"""引擎命令的实现（界面、控制套接字经 EngineClient.command 调用）。命令名与参数见 tradeterm/engine/client.py。"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tradeterm.engine.bot import Intent
from tradeterm.engine.client import COMMANDS
from tradeterm.engine.events import EventKind
from tradeterm.engine.instance import InstanceStatus
from tradeterm.errors import UserError
from tradeterm.models import Side

if TYPE_CHECKING:  # 只为类型标注
    from tradeterm.engine.trader import TraderEngine


async def run_command(engine: "TraderEngine", name: str, args: dict[str, Any]) -> Any:
    """分派一个命令；未知命令或缺参数抛 UserError。"""
    handlers = {"pause": _state_change, "resume": _state_change, "stop": _state_change, "start": _state_change,
                "set_params": _set_params, "cancel_order": _cancel_order, "cancel_all": _cancel_all,
                "flatten": _flatten, "kill_switch": _kill_switch, "shutdown": _shutdown}
    if name not in COMMANDS:
        raise UserError(f"unknown command '{name}'; use one of {', '.join(COMMANDS)}")
    try:
        return await handlers[name](engine, name, **args)
    except TypeError as exc:  # 参数名不对：说明该命令要什么
        raise UserError(f"bad arguments for command '{name}': {exc}") from None


async def _state_change(engine: "TraderEngine", name: str, instance: str) -> dict[str, Any]:
    """pause / resume / stop / start 一个实例。"""
    bot = engine.bot(instance)
    bot.state.apply(name)
    await engine._save_instance(bot)
    return bot.summary()


async def _set_params(engine: "TraderEngine", name: str, instance: str, params: dict[str, Any]) -> dict[str, Any]:
    """运行中修改参数：与当前参数合并后按类校验；非法时抛错，旧参数不变。"""
    bot = engine.bot(instance)
    engine._replace_strategy(bot, {**bot.strategy.params, **params})
    await engine._save_instance(bot)
    return bot.summary()


async def _cancel_order(engine: "TraderEngine", name: str, client_order_id: str) -> dict[str, Any]:
    """撤一张单。"""
    order = engine.orders.orders.get(client_order_id)
    if order is None or not order.is_open:
        raise UserError(f"no open order with client order id '{client_order_id}'")
    await engine.orders.cancel(order)
    return {"client_order_id": client_order_id, "status": order.status.value}


async def _cancel_all(engine: "TraderEngine", name: str, instance: str | None = None) -> dict[str, Any]:
    """撤掉全部挂单（或一个实例的）。"""
    if instance is not None:
        engine.bot(instance)
    orders = engine.orders.open_orders(instance)
    for order in orders:
        await engine.orders.cancel(order)
    return {"cancelled": len(orders)}


async def _flatten(engine: "TraderEngine", name: str, instance: str) -> dict[str, Any]:
    """撤掉实例的挂单并市价平掉它的持仓。"""
    bot = engine.bot(instance)
    for order in engine.orders.open_orders(instance):
        await engine.orders.cancel(order)
    if not bot.position.amount:
        return {"instance": instance, "closed": 0.0}
    amount = bot.position.amount
    await engine._execute(bot, Intent(Side.SELL if amount > 0 else Side.BUY, False, "flatten"), None)
    return {"instance": instance, "closed": amount}


async def _kill_switch(engine: "TraderEngine", name: str) -> dict[str, Any]:
    """一键停止：风控只放行减仓单；撤掉全部挂单、平掉全部持仓、停止全部实例。"""
    engine.risk.kill()
    event = engine.publish(EventKind.BREAKER, rule="kill_switch", message="kill switch engaged")
    await engine.journal.record_event(event.ts, event.kind.value, event.data)
    cancelled = len(engine.orders.open_orders())
    for order in engine.orders.open_orders():
        await engine.orders.cancel(order)
    for bot in engine.bots.values():
        if bot.position.amount:
            await _flatten(engine, "flatten", bot.name)
        if bot.state.status is not InstanceStatus.STOPPED:
            bot.state.apply("stop")
            await engine._save_instance(bot)
    return {"cancelled": cancelled, "stopped": len(engine.bots)}


async def _shutdown(engine: "TraderEngine", name: str) -> dict[str, Any]:
    """请引擎优雅退出（持仓与挂单保持不动）。"""
    engine.stopped.set()
    return {"stopping": True}
