"""`tradeterm run`（也是不带子命令时的默认）：按 config.yml 启动交易引擎，默认离线模拟盘（进程内沙盒交易所）。

- 前台（默认）：引擎在本进程运行。标准输入与输出都是终端时打开终端控制台（tradeterm/tui，InProcessClient；
  退出控制台即停止引擎）；否则（管道、CI、测试）或给了 `--no-tui` 时，事件逐行打印到标准输出；Ctrl-C 停止。
- `--headless`：同样运行引擎但不打印事件，另在日志库旁的 Unix 套接字上提供控制接口（令牌在 0600 的 .token 文件里），
  `tradeterm ctl ...`（以及之后的界面）可以随时连上、断开，机器人照常运行；SIGTERM / `ctl shutdown` 优雅退出。
- `--headless --supervise`：守护进程（tradeterm/supervisor）把 headless 引擎当子进程运行，崩溃后按退避重启并通知；
  实盘确认由守护进程做一次，再经环境变量交给子进程。
- `mode: live` 需要 `--live` 与终端上的确认短语（见 tradeterm/cli/live_guard.py）。

启动速度（首批报价上屏，bench/startup.py 测量）：重库在处理函数里才导入；从导入到引擎启动完成之间暂停自动垃圾回收
（见 run_app）。
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys

from tradeterm.cli.flags import finite_number
from tradeterm.cli.live_guard import confirm_live
from tradeterm.engine.events import Event, EventKind
from tradeterm.errors import UserError
from tradeterm.models import Mode

# 前台控制台不打印的事件种类（太频繁）
QUIET_KINDS = frozenset({EventKind.QUOTE, EventKind.EQUITY, EventKind.BAR})


def register(subparsers: argparse._SubParsersAction) -> None:
    """注册 run 子命令。"""
    parser = subparsers.add_parser("run", help="start the trading engine with config.yml (default: offline paper "
                                               "trading against the built-in sandbox exchange)")
    add_run_arguments(parser)
    parser.set_defaults(handler=run_app)


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """run 的参数（不带子命令时也用它们）。"""
    parser.add_argument("--config", default="config.yml", help="config file (default: ./config.yml)")
    parser.add_argument("--headless", action="store_true",
                        help="run without a console and serve the control socket next to the journal "
                             "(steer it with 'tradeterm ctl')")
    parser.add_argument("--supervise", action="store_true",
                        help="with --headless: run the engine as a child process, restart it after a crash and "
                             "notify crashes, restarts and lost heartbeats (settings: 'supervisor:' in config.yml)")
    parser.add_argument("--no-tui", action="store_true",
                        help="print events line by line instead of opening the terminal console "
                             "(the default when stdin/stdout are not terminals)")
    parser.add_argument("--live", action="store_true",
                        help="allow real-money trading when config mode is 'live' (asks for a typed confirmation)")
    parser.add_argument("--duration", type=finite_number("--duration 60"), default=None, metavar="SECONDS",
                        help="stop by itself after this many seconds (default: run until stopped)")


def format_event(event: Event) -> str:
    """一行事件：时间、种类与 key=value 字段。"""
    from tradeterm.cli.common import format_ts

    fields = " ".join(f"{k}={v}" for k, v in event.data.items())
    return f"{format_ts(event.ts)}  {event.kind.value:<9} {fields}"


def run_app(args: argparse.Namespace) -> int:
    """校验配置、实盘确认，然后运行引擎直到停止。"""
    duration = getattr(args, "duration", None)
    if duration is not None and not duration > 0:
        raise UserError(f"--duration {duration:g}: must be above 0 seconds, e.g. --duration 60 "
                        f"(leave it out to run until stopped)")
    supervised = getattr(args, "supervise", False)
    if supervised and not args.headless:
        raise UserError("--supervise: only works together with --headless (the supervisor runs a headless engine "
                        "as its child process); use 'tradeterm run --headless --supervise --config ...'")
    # 启动期间暂停自动垃圾回收：导入 pandas、numba、ccxt、textual 与启动引擎时建立几十万个长寿对象，Python 随之一遍遍
    # 扫描不断长大的堆，这占了启动 CPU 时间的约四分之一（约 1 秒），而期间产生的垃圾只有约 2500 个对象。引擎启动完成时
    # （TraderEngine.start 末尾的 gc.freeze 已把启动期的对象移出扫描范围）serve / serve_tui 恢复回收；启动失败时由这里恢复
    gc.disable()
    try:
        # 按需导入：配置校验要加载 pydantic 与 pandas，--help 不需要它们；asyncio 也只在运行时才要（约 30 毫秒）
        import asyncio

        from tradeterm.config import load_config

        config = load_config(args.config)
        if config.mode is Mode.LIVE:
            confirm_live(config.exchange.id, args.live, sys.stdin, sys.stdout)
        elif config.mode is Mode.BACKTEST:
            print("config mode is 'backtest': run 'tradeterm backtest --config ...' for a backtest; "
                  "starting paper trading instead")
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
        if supervised:
            from tradeterm.supervisor import supervise

            gc.enable()  # 守护进程长期运行、自己不建引擎：立刻恢复自动回收
            return supervise(args.config, config, live=args.live, duration=duration)
        if wants_tui(args):
            return asyncio.run(serve_tui(config, duration=duration))
        return asyncio.run(serve(config, headless=args.headless, duration=duration))
    finally:
        gc.enable()


def wants_tui(args: argparse.Namespace) -> bool:
    """是否打开终端控制台：不是 headless、没给 --no-tui，且标准输入与输出都是终端。"""
    if args.headless or getattr(args, "no_tui", False):
        return False
    return sys.stdin.isatty() and sys.stdout.isatty()


async def serve_tui(config, *, duration: float | None) -> int:
    """引擎在本进程运行，终端控制台经 InProcessClient 操控它；控制台退出（或 duration 秒、shutdown 命令）即停止引擎。"""
    import asyncio

    from tradeterm.cli.attach import log_to_file
    from tradeterm.engine.client import InProcessClient
    from tradeterm.engine.factory import open_engine
    from tradeterm.tui.app import TradetermApp

    log_to_file(config.journal_path().with_suffix(".log"))
    handle = await open_engine(config)
    gc.enable()  # 引擎已启动（见 run_app）
    app = TradetermApp(InProcessClient(handle.engine), journal_path=config.journal_path())
    loop = asyncio.get_running_loop()
    # 引擎自己停了（shutdown 命令）或到了 duration：关掉界面
    watcher = asyncio.create_task(_exit_when_stopped(handle.engine, app))
    timer = loop.call_later(duration, app.exit) if duration else None
    try:
        await app.run_async()
    finally:
        watcher.cancel()
        if timer is not None:
            timer.cancel()
        await handle.close()
    print("engine stopped; positions and open orders were left as they are", flush=True)
    return 0


async def _exit_when_stopped(engine, app) -> None:
    """引擎停止时让界面退出。"""
    await engine.stopped.wait()
    app.exit()


async def serve(config, *, headless: bool, duration: float | None) -> int:
    """运行引擎（headless 时加控制套接字），直到 shutdown 命令、SIGINT/SIGTERM 或 duration 秒。"""
    import asyncio
    import signal

    from tradeterm.engine.client import InProcessClient
    from tradeterm.engine.control import ControlServer, control_paths, write_token_file
    from tradeterm.engine.factory import open_engine

    handle = await open_engine(config)
    gc.enable()  # 引擎已启动（见 run_app）
    engine = handle.engine
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, engine.stopped.set)
    server = None
    # 前台把事件逐行打印；headless 只打印启动信息（事件经控制套接字给连上来的客户端）
    printer = None if headless else asyncio.create_task(_print_events(InProcessClient(engine)))
    try:
        print(f"tradeterm engine running: mode={engine.mode} exchange={engine.exchange_label} "
              f"instances={len(engine.bots)} journal={config.journal_path()}", flush=True)
        for problem in engine.problems:
            print(f"reconcile problem: {problem}", flush=True)
        if headless:
            socket_path, token_path = control_paths(config.journal_path())
            server = ControlServer(InProcessClient(engine), socket_path, write_token_file(token_path))
            await server.start()
            print(f"control socket: {socket_path} (token in {token_path}); try 'tradeterm ctl status'", flush=True)
        try:
            await asyncio.wait_for(engine.stopped.wait(), duration)
        except asyncio.TimeoutError:
            pass
    finally:
        if printer is not None:
            printer.cancel()
        if server is not None:
            await server.stop()
        await handle.close()
    print("engine stopped; positions and open orders were left as they are", flush=True)
    return 0


async def _print_events(client) -> None:
    """把事件逐行打印到标准输出（跳过报价与权益这类高频事件）。"""
    async for event in client.events():
        if event.kind not in QUIET_KINDS:
            print(format_event(event), flush=True)
