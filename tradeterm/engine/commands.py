"""引擎命令的实现（界面、控制套接字经 EngineClient.command 调用）。命令名与参数见 tradeterm/engine/client.py。

每个命令先按 tradeterm/engine/arguments.py 严格校验参数（字段、类型、有限正数），再做与引擎相关的检查
（实例存在、交易对在交易、策略参数走与加载配置相同的 `param_problems`），都不合格时抛一行英文的 UserError。
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from tradeterm.engine.arguments import check_args
from tradeterm.engine.client import COMMANDS
from tradeterm.errors import UserError
from tradeterm.models import OrderType, Side
from tradeterm.strategy.loader import param_problems

if TYPE_CHECKING:  # 只为类型标注
    from tradeterm.engine.bot import Bot
    from tradeterm.engine.trader import TraderEngine


async def run_command(engine: "TraderEngine", name: str, args: dict[str, Any]) -> Any:
    """分派一个命令；未知命令、参数不合格抛 UserError。"""
    handlers = {"pause": _state_change, "resume": _state_change, "stop": _state_change, "start": _state_change,
                "set_params": _set_params, "cancel_order": _cancel_order, "cancel_all": _cancel_all,
                "flatten": _flatten, "manual_order": _manual_order, "kill_switch": _kill_switch,
                "shutdown": _shutdown, "history": _history, "trades": _trades, "pnl": _pnl}
    if not isinstance(name, str) or name not in COMMANDS:
        raise UserError(f"command: unknown command {name!r}; use one of {', '.join(COMMANDS)}")
    if not isinstance(args, dict):
        raise UserError(f"{name}: arguments must be a mapping of field -> value, got {type(args).__name__}")
    return await handlers[name](engine, name, **check_args(name, args))


def _bot(engine: "TraderEngine", command: str, instance: str) -> "Bot":
    """按名字取实例；不存在时抛 UserError，写明字段、坏值与已有实例。"""
    if instance not in engine.bots:
        raise UserError(f"{command}.instance: unknown instance {instance!r}; running instances: "
                        f"{', '.join(engine.bots) or 'none'}")
    return engine.bot(instance)


async def _state_change(engine: "TraderEngine", name: str, instance: str) -> dict[str, Any]:
    """pause / resume / stop / start 一个实例；一键停止接合时不许 start/resume（先解除）。"""
    bot = _bot(engine, name, instance)
    if name in ("start", "resume") and engine.risk.killed:
        raise UserError(f"cannot {name} '{instance}': the kill switch is engaged; reset it first with "
                        f"'tradeterm ctl kill-switch --reset' (or Shift+K in the console)")
    bot.state.apply(name)
    await engine.save_instance(bot)
    return bot.summary()


async def _set_params(engine: "TraderEngine", name: str, instance: str, params: dict[str, Any]) -> dict[str, Any]:
    """运行中修改参数：与当前参数合并后，按与加载配置相同的 param_problems 校验（类型、有限、取值范围、
    类自己的约束）；非法时抛 UserError，旧参数不变。"""
    bot = _bot(engine, name, instance)
    merged = {**bot.strategy.params, **params}
    problems = param_problems(type(bot.strategy), merged)
    if problems:
        raise UserError(f"{name}.params for '{instance}': {'; '.join(problems)}")
    engine.replace_strategy(bot, merged)
    await engine.save_instance(bot)
    return bot.summary()


async def _cancel_order(engine: "TraderEngine", name: str, client_order_id: str) -> dict[str, Any]:
    """撤一张单。"""
    order = engine.orders.orders.get(client_order_id)
    if order is None or not order.is_open:
        raise UserError(f"{name}.client_order_id: no open order with client order id {client_order_id!r}; "
                        f"'tradeterm ctl status' lists the open orders")
    await engine.orders.cancel(order)
    return {"client_order_id": client_order_id, "status": order.status.value}


async def _cancel_all(engine: "TraderEngine", name: str, instance: str | None) -> dict[str, Any]:
    """撤掉全部挂单（或一个实例的）。"""
    if instance is not None:
        _bot(engine, name, instance)
    orders = engine.orders.open_orders(instance)
    for order in orders:
        await engine.orders.cancel(order)
    return {"cancelled": len(orders)}


async def _flatten(engine: "TraderEngine", name: str, instance: str, dry_run: bool | None) -> dict[str, Any]:
    """暂停实例、撤掉它的挂单、市价平掉它的持仓；dry_run 只返回将要平掉的真实数量（确认框用）。"""
    from tradeterm.engine.safety import flatten_instance

    return await flatten_instance(engine, _bot(engine, name, instance), dry_run=bool(dry_run))


def _traded_symbol(engine: "TraderEngine", symbol: str) -> str:
    """手动订单的交易对：须是引擎某个实例在交易的（合约上也接受不带 `:USDT` 的写法）；否则抛 UserError。"""
    symbols = list(dict.fromkeys(b.symbol for b in engine.bots.values()))
    for candidate in (symbol, engine.market_symbol(symbol) if symbol.count("/") == 1 else symbol):
        if candidate in symbols:
            return candidate
    raise UserError(f"manual_order.symbol: unknown symbol {symbol!r} for a manual order; traded symbols: "
                    f"{', '.join(symbols) or 'none'}")


async def _manual_order(engine: "TraderEngine", name: str, symbol: str, side: str, amount: float | None,
                        notional: float | None, type: str | None, price: float | None,
                        dry_run: bool | None) -> dict[str, Any]:
    """手动下单：amount（基础货币）与 notional（计价货币，按限价或最新价折成数量）二选一；dry_run 只预览。

    预览与真正下单经过同一个 check_manual：交易所规则（价格档位、数量步长、最小数量、最小名义金额）与风控。"""
    from tradeterm.engine.execution import order_dict

    symbol = _traded_symbol(engine, symbol)
    order_side, order_type = Side(side), OrderType(type or "market")
    if (amount is None) == (notional is None):
        raise UserError("manual_order: give exactly one of amount (base currency) or notional (quote currency)")
    if order_type is OrderType.LIMIT and price is None:
        raise UserError("manual_order.price: missing; a limit order needs a positive price")
    if order_type is OrderType.MARKET and price is not None:
        raise UserError(f"manual_order.price: {price:.12g} is only for limit orders; leave it out for a market order "
                        f"or set type to limit")
    reference = price or engine.mark_price(symbol)
    if notional is not None:
        if not reference > 0:
            raise UserError(f"manual_order.notional: no price for {symbol} yet to convert {notional:.12g} into an "
                            f"amount; give the amount instead, or wait for the first candle")
        amount = notional / reference
        if not math.isfinite(amount):
            raise UserError(f"manual_order.notional: {notional:.12g} at price {reference:.12g} is too large an amount; "
                            f"give a smaller notional")
    request, decision = engine.check_manual(symbol, order_side, amount, order_type, price)
    preview = {"symbol": symbol, "side": order_side.value, "type": order_type.value, "amount": request.amount,
               "price": price, "reference_price": reference, "notional": request.amount * reference,
               "allowed": decision.allowed, "rule": decision.rule, "reason": decision.reason}
    if dry_run:
        return preview
    order = await engine.submit_manual(symbol, order_side, request.amount, order_type, price)
    return order_dict(order)


async def _kill_switch(engine: "TraderEngine", name: str, reset: bool | None) -> dict[str, Any]:
    """一键停止（顺序见 tradeterm/engine/safety.py）；reset=True 解除（实例保持 stopped）。"""
    from tradeterm.engine.safety import engage_kill_switch, reset_kill_switch

    if reset:
        return await reset_kill_switch(engine)
    return await engage_kill_switch(engine)


async def _shutdown(engine: "TraderEngine", name: str) -> dict[str, Any]:
    """请引擎优雅退出（持仓与挂单保持不动）。"""
    engine.stopped.set()
    return {"stopping": True}


async def _history(engine: "TraderEngine", name: str, events: int | None, bars: int | None) -> dict[str, Any]:
    """近期历史（见 tradeterm/engine/queries.py）。"""
    from tradeterm.engine.queries import history_of

    return await history_of(engine, events, bars)


def _report_instance(engine: "TraderEngine", command: str, instance: str | None) -> str | None:
    """trades / pnl 的实例过滤：None（全部）、manual（手动单）或引擎的实例名；不认识的名字抛 UserError。"""
    if instance is not None and instance != "manual":
        _bot(engine, command, instance)
    return instance


async def _trades(engine: "TraderEngine", name: str, instance: str | None, limit: int | None) -> dict[str, Any]:
    """回合与统计；instance 须是引擎的实例或 manual。"""
    from tradeterm.engine.queries import trades_of

    return await trades_of(engine, _report_instance(engine, name, instance), limit)


async def _pnl(engine: "TraderEngine", name: str, period: str | None, count: int | None,
               instance: str | None) -> dict[str, Any]:
    """按周期、实例、交易对的已实现盈亏；instance 须是引擎的实例或 manual。"""
    from tradeterm.engine.queries import pnl_of

    return await pnl_of(engine, period, count, _report_instance(engine, name, instance))
