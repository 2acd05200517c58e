"""`tradeterm attach`：打开终端控制台，连到 `tradeterm run --headless` 启动的引擎（经日志库旁的控制套接字）。

退出控制台只断开，引擎与机器人照常运行；连接断了横幅会显示，并每 2 秒重连。
"""

from __future__ import annotations

import argparse
import logging


def register(subparsers: argparse._SubParsersAction) -> None:
    """注册 attach 子命令。"""
    parser = subparsers.add_parser("attach", help="open the terminal console on a headless engine "
                                                  "('tradeterm run --headless'); quitting leaves the engine running")
    parser.add_argument("--config", default="config.yml", help="config file of the engine (default: ./config.yml)")
    parser.set_defaults(handler=run_attach)


def run_attach(args: argparse.Namespace) -> int:
    """连接引擎（第一次连不上就报错退出），然后运行控制台直到用户退出。"""
    # 按需导入：配置校验要加载 pydantic 与 pandas，--help 不需要它们；asyncio 也只在运行时才要
    import asyncio

    from tradeterm.config import load_config

    config = load_config(args.config)
    return asyncio.run(attach(config))


async def attach(config) -> int:
    """连上 headless 引擎并运行控制台。"""
    from tradeterm.cli.ctl import require_engine
    from tradeterm.engine.control import SocketClient, control_paths, read_token_file
    from tradeterm.engine.reconnect import ReconnectingClient
    from tradeterm.tui.app import TradetermApp

    socket_path, token_path = control_paths(config.journal_path())
    require_engine(socket_path)

    async def connect() -> SocketClient:
        """建立一个新连接（每次重读令牌：引擎重启后令牌会换）。"""
        return await SocketClient.connect(socket_path, read_token_file(token_path))

    client = ReconnectingClient(connect)
    await client.snapshot()  # 第一次就连不上：直接报错（附启动方法），不打开界面
    log_to_file(config.journal_path().with_suffix(".attach.log"))
    try:
        await TradetermApp(client, attached=True, journal_path=config.journal_path()).run_async()
    finally:
        await client.close()
    print("detached; the engine keeps running (stop it with 'tradeterm ctl shutdown')")
    return 0


def log_to_file(path) -> None:
    """界面运行时日志写到 path（写到终端会弄乱界面）；run 的界面模式也用它。"""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root.addHandler(handler)
