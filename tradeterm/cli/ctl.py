"""`tradeterm ctl`：从命令行操作一个 headless 引擎（`tradeterm run --headless`）——查看状态、暂停/恢复实例、撤单、平仓、
手动下单（`ctl order`，与控制台相同的预览与风控）、一键停止及其解除（`ctl kill-switch --reset`），以及已平仓交易与
按周期的已实现盈亏（`ctl trades`、`ctl pnl`，与控制台的交易屏同一份数据；格式见 tradeterm/cli/ctl_reports.py）。

它经日志库旁的控制套接字连接，用完就断开；引擎与机器人不受影响（除非发 shutdown）。
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from tradeterm.cli.common import parse_params
from tradeterm.cli.flags import finite_number

# 需要实例名的命令
INSTANCE_COMMANDS = ("pause", "resume", "stop", "start", "flatten", "set_params")
# 全部子动作：status 之外的与引擎命令同名（kill-switch 等用连字符）
ACTIONS = ("status", *INSTANCE_COMMANDS, "order", "cancel-order", "cancel-all", "kill-switch", "shutdown", "trades",
           "pnl")


def register(subparsers: argparse._SubParsersAction) -> None:
    """注册 ctl 子命令。"""
    parser = subparsers.add_parser(
        "ctl", help="steer a headless engine: status, pause/resume/stop/start, flatten, manual orders, "
                    "cancel orders, kill switch, shutdown",
        description="pause = no new entries (exits and stops still run); stop = nothing runs, the position is kept; "
                    "flatten = pause, cancel the instance's orders, close its position. "
                    "order SYMBOL buy|sell (--amount A | --notional N) [--price P]: a manual order with the same "
                    "preview and risk checks as the console. kill-switch: block new orders, stop every instance, "
                    "cancel every order, close every position; --reset clears it. "
                    "trades [INSTANCE] [--limit N]: closed trades from the journal; "
                    "pnl [INSTANCE] [--daily N | --weekly N | --monthly N]: realized P&L by period, instance, symbol.")
    parser.add_argument("action", choices=ACTIONS, help="what to do")
    parser.add_argument("target", nargs="?", help="instance name (client order id for cancel-order, symbol for order)")
    parser.add_argument("side", nargs="?", choices=("buy", "sell"), help="order: buy or sell")
    parser.add_argument("--amount", type=finite_number("--amount 0.01"),
                        help="order: amount in the base currency, e.g. 0.01 BTC")
    parser.add_argument("--notional", type=finite_number("--notional 100"),
                        help="order: amount in the quote currency, e.g. 100 USDT")
    parser.add_argument("--price", type=finite_number("--price 25000"),
                        help="order: limit price (omit for a market order)")
    parser.add_argument("--yes", action="store_true", help="order/kill-switch: do not ask for confirmation")
    parser.add_argument("--reset", action="store_true", help="kill-switch: clear an engaged kill switch")
    parser.add_argument("--param", action="append", metavar="KEY=VALUE", help="parameter for set_params")
    parser.add_argument("--limit", type=int, help="trades: how many recent closed trades to list (default 100)")
    period = parser.add_mutually_exclusive_group()
    for flag, unit in (("--daily", "days"), ("--weekly", "weeks"), ("--monthly", "months")):
        period.add_argument(flag, type=int, metavar="N", help=f"pnl: realized P&L of the last N {unit} "
                                                              f"(default: --daily 7)")
    parser.add_argument("--config", default="config.yml", help="config file of the engine (default: ./config.yml)")
    parser.add_argument("--json", action="store_true", help="print the raw JSON result")
    parser.set_defaults(handler=run_ctl)


def run_ctl(args: argparse.Namespace) -> int:
    """连接引擎、执行一个动作、打印结果。被风控拒绝的订单与一键停止后仍有剩余时退出码为 1。"""
    # 按需导入：配置校验要加载 pydantic 与 pandas，--help 不需要它们；asyncio 也只在运行时才要
    import asyncio

    from tradeterm.config import load_config

    config = load_config(args.config)
    result = asyncio.run(_call(config, args))
    if args.json:
        print(json.dumps(result, indent=1, default=str))
    elif args.action == "status":
        print(format_status(result))
    elif args.action in ("trades", "pnl"):
        from tradeterm.cli.ctl_reports import format_pnl, format_trades

        print(format_trades(result) if args.action == "trades" else format_pnl(result))
    elif isinstance(result, dict) and "message" in result:
        print(result["message"])
        for item in result.get("remaining") or []:
            print(f"  remaining: {item}")
    else:
        print(json.dumps(result, indent=1, default=str))
    if isinstance(result, dict) and (result.get("refused") or result.get("remaining")):
        return 1
    return 0


def check_order_args(args: argparse.Namespace) -> None:
    """ctl order 的参数检查：交易对、方向、数量二选一；不合法时抛 UserError（写明参数与修正方法）。"""
    from tradeterm.errors import UserError

    if not args.target or not args.side:
        raise UserError("usage: tradeterm ctl order SYMBOL buy|sell (--amount A | --notional N) [--price P]")
    if (args.amount is None) == (args.notional is None):
        raise UserError("tradeterm ctl order: give exactly one of --amount (base currency) or --notional "
                        "(quote currency)")
    for flag, value in (("--amount", args.amount), ("--notional", args.notional), ("--price", args.price)):
        if value is not None and not value > 0:
            raise UserError(f"{flag} {value}: must be a positive number")


def format_preview(preview: dict[str, Any]) -> str:
    """下单预览 -> 一行：方向、数量、交易对、参考价、名义金额与风控结论。"""
    verdict = "risk checks pass" if preview["allowed"] else f"REFUSED by {preview['rule']}: {preview['reason']}"
    price = f"limit {preview['price']:,.2f}" if preview.get("price") else f"market (last {preview['reference_price']:,.2f})"
    return (f"{preview['side']} {preview['amount']:.8g} {preview['symbol']} {price}  notional "
            f"{preview['notional']:,.2f}  -> {verdict}")


def confirm(question: str, assume_yes: bool) -> bool:
    """问一句 y/N；--yes 时直接同意；没有终端（脚本、CI）又没给 --yes 时拒绝并说明。"""
    import sys

    from tradeterm.errors import UserError

    if assume_yes:
        return True
    if not sys.stdin.isatty():
        raise UserError(f"{question} needs confirmation: run it in a terminal, or add --yes")
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


async def _order(client, args: argparse.Namespace) -> dict[str, Any]:
    """ctl order：先预览（与控制台下单框相同的规则与风控），确认后下单。"""
    check_order_args(args)
    from tradeterm.config.markets import normalize_symbol

    fields = {"symbol": normalize_symbol(args.target) or args.target, "side": args.side,
              "amount": args.amount, "notional": args.notional,
              "type": "limit" if args.price is not None else "market", "price": args.price}
    preview = await client.command("manual_order", **fields, dry_run=True)
    print(format_preview(preview))
    if not preview["allowed"]:
        return {**preview, "refused": True, "message": f"order not sent: {preview['reason']}"}
    if not confirm("Send this order?", args.yes):
        return {**preview, "refused": True, "message": "order not sent"}
    order = await client.command("manual_order", **fields)
    return {**order, "message": f"order {order['client_order_id']}: {order['side']} {order['amount']:.8g} "
                                f"{order['symbol']} {order['type']} -> {order['status']}"}


def require_engine(socket_path) -> None:
    """没有套接字文件就没有引擎在听：先说这一点（抛 ControlError），而不是抱怨（从未有过的）令牌文件。"""
    from tradeterm.engine.control import ControlError

    if not socket_path.exists():
        raise ControlError(f"no engine is listening on {socket_path}; start one with 'tradeterm run --headless'")


async def _call(config, args: argparse.Namespace) -> Any:
    """发一个请求并返回结果。"""
    from tradeterm.engine.control import SocketClient, control_paths, read_token_file
    from tradeterm.errors import UserError

    socket_path, token_path = control_paths(config.journal_path())
    require_engine(socket_path)
    client = await SocketClient.connect(socket_path, read_token_file(token_path))
    try:
        if args.action == "status":
            return await client.snapshot()
        name = args.action.replace("-", "_")
        if name in INSTANCE_COMMANDS and not args.target:
            raise UserError(f"'tradeterm ctl {args.action}' needs an instance name")
        if name == "set_params":
            return await client.command(name, instance=args.target, params=parse_params(args.param))
        if name in INSTANCE_COMMANDS:
            return await client.command(name, instance=args.target)
        if name == "order":
            return await _order(client, args)
        if name == "kill_switch":
            if args.reset:
                return await client.command(name, reset=True)
            if not confirm("Engage the kill switch (stop every instance, close every position)?", args.yes):
                return {"message": "kill switch not engaged"}
            return await client.command(name)
        if name == "cancel_order":
            return await client.command(name, client_order_id=args.target)
        if name in ("trades", "pnl"):
            from tradeterm.cli.ctl_reports import report_args

            return await client.command(name, **report_args(args))
        if name == "cancel_all" and args.target:
            return await client.command(name, instance=args.target)
        return await client.command(name)
    finally:
        await client.close()


def format_status(snapshot: dict[str, Any]) -> str:
    """快照 -> 人读的几行：账户、实例表、挂单数。"""
    account = snapshot["account"]
    lines = [f"mode {snapshot['mode']}  exchange {snapshot['exchange']}  equity {account['equity']:,.2f} "
             f"{account['quote']}  cash {account['cash']:,.2f}  drawdown {account['drawdown']:.2%}"
             + (f"  breaker {account['breaker']}" if account["breaker"] else "")
             + ("  KILL SWITCH ENGAGED (reset: tradeterm ctl kill-switch --reset)" if account["killed"] else ""),
             f"{'instance':<24}{'symbol':<14}{'tf':<5}{'status':<9}{'position':>12}{'pnl':>12}  last signal"]
    for row in snapshot["instances"]:
        pnl = row["realized_pnl"] + row["unrealized_pnl"]
        lines.append(f"{row['name']:<24}{row['symbol']:<14}{row['interval']:<5}{row['status']:<9}"
                     f"{row['position']:>12.6g}{pnl:>12,.2f}  {row['last_signal']}")
    lines.append(f"open orders: {len(snapshot['orders'])}")
    lines += [f"stale feed: {f['symbol']} {f['timeframe']} {f['lag_bars']} bar(s) behind the exchange"
              for f in snapshot.get("feeds", []) if f.get("stale")]
    lines += [f"problem: {p}" for p in snapshot.get("problems", [])]
    lines += [f"notify {c['channel']}: sent {c['sent']}, failed {c['failed']}, dropped {c['dropped']}, "
              f"queued {c['queued']}" + (f" (last error: {c['last_error']})" if c["last_error"] else "")
              for c in snapshot.get("notify", [])]
    return "\n".join(lines)
