"""`tradeterm ctl`：从命令行操作一个 headless 引擎（`tradeterm run --headless`）——查看状态、暂停/恢复实例、撤单、平仓、一键停止。

它经日志库旁的控制套接字连接，用完就断开；引擎与机器人不受影响（除非发 shutdown）。
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from tradeterm.cli.common import parse_params
from tradeterm.config import load_config

# 需要实例名的命令
INSTANCE_COMMANDS = ("pause", "resume", "stop", "start", "flatten", "set_params")
# 全部子动作：status 之外的与引擎命令同名（kill-switch 等用连字符）
ACTIONS = ("status", *INSTANCE_COMMANDS, "cancel-order", "cancel-all", "kill-switch", "shutdown")


def register(subparsers: argparse._SubParsersAction) -> None:
    """注册 ctl 子命令。"""
    parser = subparsers.add_parser("ctl", help="steer a headless engine: status, pause/resume/stop/start, flatten, "
                                               "cancel orders, kill switch, shutdown")
    parser.add_argument("action", choices=ACTIONS, help="what to do")
    parser.add_argument("target", nargs="?", help="instance name (or client order id for cancel-order)")
    parser.add_argument("--param", action="append", metavar="KEY=VALUE", help="parameter for set_params")
    parser.add_argument("--config", default="config.yml", help="config file of the engine (default: ./config.yml)")
    parser.add_argument("--json", action="store_true", help="print the raw JSON result")
    parser.set_defaults(handler=run_ctl)


def run_ctl(args: argparse.Namespace) -> int:
    """连接引擎、执行一个动作、打印结果。"""
    config = load_config(args.config)
    result = asyncio.run(_call(config, args))
    if args.json or args.action != "status":
        print(json.dumps(result, indent=1, default=str))
    else:
        print(format_status(result))
    return 0


async def _call(config, args: argparse.Namespace) -> Any:
    """发一个请求并返回结果。"""
    from tradeterm.engine.control import ControlError, SocketClient, control_paths, read_token_file
    from tradeterm.errors import UserError

    socket_path, token_path = control_paths(config.journal_path())
    if not socket_path.exists():
        # 没有套接字文件就没有引擎在听：先说这一点，而不是抱怨（从未有过的）令牌文件
        raise ControlError(f"no engine is listening on {socket_path}; start one with 'tradeterm run --headless'")
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
        if name == "cancel_order":
            return await client.command(name, client_order_id=args.target)
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
             + ("  KILL SWITCH" if account["killed"] else ""),
             f"{'instance':<24}{'symbol':<14}{'tf':<5}{'status':<9}{'position':>12}{'pnl':>12}  last signal"]
    for row in snapshot["instances"]:
        pnl = row["realized_pnl"] + row["unrealized_pnl"]
        lines.append(f"{row['name']:<24}{row['symbol']:<14}{row['interval']:<5}{row['status']:<9}"
                     f"{row['position']:>12.6g}{pnl:>12,.2f}  {row['last_signal']}")
    lines.append(f"open orders: {len(snapshot['orders'])}")
    lines += [f"problem: {p}" for p in snapshot.get("problems", [])]
    return "\n".join(lines)
