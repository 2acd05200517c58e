"""引擎命令的实现（界面、控制套接字经 EngineClient.command 调用）。命令名与参数见 tradeterm/engine/client.py。"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tradeterm.engine.client import COMMANDS
from tradeterm.errors import UserError
from tradeterm.models import OrderType, Side

if TYPE_CHECKING:  # 只为类型标注
    from tradeterm.engine.trader import TraderEngine


async def run_command(engine: "TraderEngine", name: str, args: dict[str, Any]) -> Any:
    """分派一个命令；未知命令或缺参数抛 UserError。"""
    handlers = {"pause": _state_change, "resume": _state_change, "stop": _state_change, "start": _state_change,
                "set_params": _set_params, "cancel_order": _cancel_order, "cancel_all": _cancel_all,
                "flatten": _flatten, "manual_order": _manual_order, "kill_switch": _kill_switch,
                "shutdown": _shutdown}
    if name not in COMMANDS:
        raise UserError(f"unknown command '{name}'; use one of {', '.join(COMMANDS)}")
    try:
        return await handlers[name](engine, name, **args)
    except TypeError as exc:  # 参数名不对：说明该命令要什么
        raise UserError(f"bad arguments for command '{name}': {exc}") from None


async def _state_change(engine: "TraderEngine", name: str, instance: str) -> dict[str, Any]:
    """pause / resume / stop / start 一个实例；一键停止接合时不许 start/resume（先解除）。"""
    bot = engine.bot(instance)
    if name in ("start", "resume") and engine.risk.killed:
        raise UserError(f"cannot {name} '{instance}': the kill switch is engaged; reset it first with "
                        f"'tradeterm ctl kill-switch --reset' (or Shift+K in the console)")
    bot.state.apply(name)
    await engine.save_instance(bot)
    return bot.summary()


async def _set_params(engine: "TraderEngine", name: str, instance: str, params: dict[str, Any]) -> dict[str, Any]:
    """运行中修改参数：与当前参数合并后按类校验；非法时抛错，旧参数不变。"""
    bot = engine.bot(instance)
    engine.replace_strategy(bot, {**bot.strategy.params, **params})
    await engine.save_instance(bot)
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


async def _flatten(engine: "TraderEngine", name: str, instance: str, dry_run: bool = False) -> dict[str, Any]:
    """暂停实例、撤掉它的挂单、市价平掉它的持仓；dry_run 只返回将要平掉的真实数量（确认框用）。"""
    from tradeterm.engine.safety import flatten_instance

    return await flatten_instance(engine, engine.bot(instance), dry_run=bool(dry_run))


async def _manual_order(engine: "TraderEngine", name: str, symbol: str, side: str, amount: float | None = None,
                        notional: float | None = None, type: str = "market", price: float | None = None,
                        dry_run: bool = False) -> dict[str, Any]:
    """手动下单：amount（基础货币）与 notional（计价货币，按限价或最新价折成数量）二选一；dry_run 只预览风控。"""
    from tradeterm.engine.execution import order_dict

    symbols = list(dict.fromkeys(b.symbol for b in engine.bots.values()))
    if symbol not in symbols:
        raise UserError(f"unknown symbol '{symbol}' for a manual order; traded symbols: {', '.join(symbols) or 'none'}")
    try:
        order_side, order_type = Side(side), OrderType(type)
    except ValueError:
        raise UserError(f"bad side '{side}' or type '{type}': side is buy or sell, type is market or limit") from None
    if order_type not in (OrderType.MARKET, OrderType.LIMIT):
        raise UserError(f"manual orders are market or limit, not '{type}'")
    if (amount is None) == (notional is None):
        raise UserError("give exactly one of amount (base currency) or notional (quote currency)")
    if order_type is OrderType.LIMIT and (price is None or price <= 0):
        raise UserError("a limit order needs a positive price")
    if order_type is OrderType.MARKET and price is not None:
        raise UserError("price is only for limit orders; leave it empty for a market order")
    reference = price or engine.mark_price(symbol)
    if notional is not None:
        if reference <= 0:
            raise UserError(f"no price for {symbol} yet; give the amount instead of the notional")
        amount = float(notional) / reference
    if amount is None or amount <= 0:
        raise UserError(f"amount must be positive, got {amount}")
    request, decision = engine.check_manual(symbol, order_side, float(amount), order_type, price)
    if request.amount <= 0:
        raise UserError(f"amount {amount:g} rounds to zero at the market's step size")
    preview = {"symbol": symbol, "side": order_side.value, "type": order_type.value, "amount": request.amount,
               "price": price, "reference_price": reference, "notional": request.amount * reference,
               "allowed": decision.allowed, "rule": decision.rule, "reason": decision.reason}
    if dry_run:
        return preview
    order = await engine.submit_manual(symbol, order_side, request.amount, order_type, price)
    return order_dict(order)


async def _kill_switch(engine: "TraderEngine", name: str, reset: bool = False) -> dict[str, Any]:
    """一键停止（顺序见 tradeterm/engine/safety.py）；reset=True 解除（实例保持 stopped）。"""
    from tradeterm.engine.safety import engage_kill_switch, reset_kill_switch

    if reset:
        return await reset_kill_switch(engine)
    return await engage_kill_switch(engine)


async def _shutdown(engine: "TraderEngine", name: str) -> dict[str, Any]:
    """请引擎优雅退出（持仓与挂单保持不动）。"""
    engine.stopped.set()
    return {"stopping": True}
