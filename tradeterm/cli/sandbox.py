"""`tradeterm sandbox`：以独立进程运行本地沙盒交易所（Binance 现货协议，供 ccxt 连接），Ctrl-C 停止。

`--state FILE` 让它持久（账户、订单、成交、模拟时钟与行情写进 FILE，重启后接着运行）；`--reset` 清掉 FILE 重新开始。
`--reset --config config.yml` 只清掉那份配置的进程内沙盒状态文件（exchange.sandbox_state）然后退出，不启动服务。
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tradeterm.cli.flags import finite_number, whole_number
from tradeterm.errors import UserError
from tradeterm.journal.paths import journal_path_problem
from tradeterm.sandbox.defaults import (DEFAULT_API_KEY, DEFAULT_HISTORY_BARS, DEFAULT_HOST, DEFAULT_PORT,
                                        DEFAULT_SECRET, DEFAULT_SYMBOLS)

# --speed 的上限（与 exchange.sandbox_speed 相同）：回放倍速
MAX_SPEED = 100_000
# --seed 的上限：numpy 的随机数种子须是非负整数，这里限在 64 位有符号整数之内
MAX_SEED = 2 ** 63 - 1
# --history 的上限，根（每个交易对启动时可用的历史 K 线）：再多只是占内存与启动时间
MAX_HISTORY_BARS = 1_000_000


def register(subparsers: argparse._SubParsersAction) -> None:
    """注册 sandbox 子命令。"""
    parser = subparsers.add_parser(
        "sandbox", help="run the local Binance-compatible sandbox exchange",
        description="Serve Binance spot REST (/api/v3/...) and websocket (/ws, /stream, /ws-api/v3) paths, and "
                    "USD-M perpetual futures (/fapi/..., /market/ws, /public/ws, /private/ws), on a local port, "
                    "replaying candles from CSV files or a seeded synthetic market. Point a stock ccxt binance "
                    "client at it (see tradeterm.exchange.make_client).")
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default: {DEFAULT_HOST})")
    parser.add_argument("--port", type=whole_number("--port 8765"), default=DEFAULT_PORT,
                        help=f"port (default: {DEFAULT_PORT}; 0 = any free)")
    parser.add_argument("--data", nargs="+", metavar="[SYMBOL=]FILE.csv",
                        help="candle CSV file(s) to replay, one per symbol; the symbol is read from the file name "
                             "(binanceus_BTCUSDT_1m_2023-03.csv -> BTC/USDT) unless given as SYMBOL=FILE "
                             "(default: seeded synthetic market)")
    parser.add_argument("--symbols", nargs="+", default=list(DEFAULT_SYMBOLS),
                        help=f"symbols of the synthetic market (default: {' '.join(DEFAULT_SYMBOLS)})")
    parser.add_argument("--seed", type=whole_number("--seed 7"), default=7,
                        help="random seed of the synthetic market (default: 7)")
    parser.add_argument("--speed", type=finite_number("--speed 60"), default=1.0,
                        help="replay speed: 60 plays one 1m bar per second (default: 1 = real time)")
    parser.add_argument("--history", type=whole_number("--history 2000"), default=DEFAULT_HISTORY_BARS,
                        help=f"bars of history available at start (default: {DEFAULT_HISTORY_BARS})")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY, help=f"API key accepted (default: {DEFAULT_API_KEY})")
    parser.add_argument("--secret", default=DEFAULT_SECRET, help=f"API secret accepted (default: {DEFAULT_SECRET})")
    parser.add_argument("--maker-fee", type=finite_number("--maker-fee 0.001"), default=0.001,
                        help="maker fee rate (default: 0.001 = 0.1%%)")
    parser.add_argument("--taker-fee", type=finite_number("--taker-fee 0.001"), default=0.001,
                        help="taker fee rate (default: 0.001 = 0.1%%)")
    parser.add_argument("--slippage-bps", type=finite_number("--slippage-bps 1"), default=1.0,
                        help="slippage of market fills in basis points (default: 1)")
    parser.add_argument("--volume-share", type=finite_number("--volume-share 0.25"), default=0.25,
                        help="max share of a bar's volume a resting limit order can fill (default: 0.25)")
    parser.add_argument("--state", metavar="FILE",
                        help="keep accounts, orders, trades, the clock and the market in this SQLite file and "
                             "resume from it on restart, like a real exchange (default: in memory only); when "
                             "resuming, the saved market (--seed, --history, start time) wins over the flags")
    parser.add_argument("--reset", action="store_true",
                        help="with --state: delete FILE first and start a fresh account and market; with "
                             "--config: delete that config's in-process sandbox state (exchange.sandbox_state) "
                             "and exit without serving")
    parser.add_argument("--config", metavar="FILE",
                        help="only with --reset: the config whose in-process sandbox state to reset")
    parser.set_defaults(handler=run_sandbox)


def check_args(args: argparse.Namespace) -> None:
    """检查取值范围；不合法时抛 UserError（写明参数、值与修正方法）。"""
    if args.speed <= 0:
        raise UserError(f"--speed {args.speed}: must be > 0, e.g. --speed 60 for one 1m bar per second")
    if args.speed > MAX_SPEED:
        raise UserError(f"--speed {args.speed:g}: must be at most {MAX_SPEED:,}, e.g. --speed 60")
    if not 0 <= args.port <= 65535:
        raise UserError(f"--port {args.port}: must be between 0 and 65535")
    if not 0 <= args.seed <= MAX_SEED:
        raise UserError(f"--seed {args.seed}: must be a whole number from 0 to {MAX_SEED}, e.g. --seed 7")
    if args.history < 10:
        raise UserError(f"--history {args.history}: must be at least 10 bars")
    if args.history > MAX_HISTORY_BARS:
        raise UserError(f"--history {args.history}: must be at most {MAX_HISTORY_BARS:,} bars, e.g. --history 5000")
    if not 0 <= args.slippage_bps <= 1000:
        raise UserError(f"--slippage-bps {args.slippage_bps:g}: slippage is in basis points within [0, 1000], "
                        f"e.g. 1")
    if not 0 < args.volume_share <= 1:
        raise UserError(f"--volume-share {args.volume_share}: must be in (0, 1], e.g. 0.25")
    for flag, value in (("--maker-fee", args.maker_fee), ("--taker-fee", args.taker_fee)):
        if not 0 <= value < 0.1:
            raise UserError(f"{flag} {value}: must be a fraction in [0, 0.1), e.g. 0.001 for 0.1%")
    if args.config and not args.reset:
        raise UserError(f"--config {args.config}: only used with --reset (to reset that config's in-process "
                        f"sandbox); to serve a persistent sandbox give --state FILE")
    if args.config and args.state:
        raise UserError(f"--state {args.state} --config {args.config}: give one of them with --reset, not both")
    if args.reset and not (args.state or args.config):
        raise UserError("--reset: nothing to reset; add --state FILE (a standalone sandbox's state) or "
                        "--config config.yml (the in-process sandbox of that config)")
    if args.state and Path(args.state).is_dir():
        raise UserError(f"--state {args.state}: is a directory; give a file, e.g. --state sandbox.db")
    problem = journal_path_problem(args.state) if args.state else None
    if problem:
        raise UserError(f"--state {problem}")


def run_sandbox(args: argparse.Namespace) -> int:
    """启动沙盒并一直运行，直到 Ctrl-C。"""
    # 按需导入：撮合与服务器要加载 numba、pandas 与 aiohttp，--help 不需要它们；asyncio 也只在运行时才要
    import asyncio

    from tradeterm.sandbox.matching import TradingConfig
    from tradeterm.sandbox.server import SandboxExchange

    check_args(args)
    if args.config:
        return reset_config_state(args.config)
    if args.reset:
        print(describe_reset(Path(args.state)))
    trading = TradingConfig(args.maker_fee, args.taker_fee, args.slippage_bps, args.volume_share)
    sandbox = SandboxExchange(host=args.host, port=args.port, data=args.data, symbols=tuple(args.symbols),
                              speed=args.speed, seed=args.seed, history_bars=args.history, api_key=args.api_key,
                              secret=args.secret, trading=trading, state_path=args.state)
    asyncio.run(_serve(sandbox))
    return 0


def describe_reset(path: Path) -> str:
    """删除状态文件 path，返回一行英文说明删了什么（文件本来就不存在时也如实说明）。"""
    from tradeterm.sandbox.state import reset_state_file

    summary = reset_state_file(path)
    if summary is None:
        return f"reset: {path} does not exist; nothing to reset"
    return f"reset sandbox state {path.resolve()}: deleted {summary.describe()}"


def reset_config_state(config_file: str) -> int:
    """`--reset --config`：删除该配置的进程内沙盒状态文件并提示日志库仍留着旧的持仓与成交；不启动服务。"""
    from tradeterm.config import load_config
    from tradeterm.engine.factory import sandbox_state_path

    # 只需要路径：不检查策略插件，策略写错的配置也能重置
    config = load_config(config_file, check_strategies=False)
    print(describe_reset(sandbox_state_path(config)))
    if not config.exchange.sandbox or config.exchange.sandbox_url:
        print("note: this config does not start an in-process sandbox (exchange.sandbox is false or "
              "exchange.sandbox_url is set), so the file above is not used by it")
    print(f"hint: the journal {config.journal_path()} still holds the old positions and fills; point journal.path "
          f"at a new file or delete it before the next run")
    return 0


async def _serve(sandbox) -> None:
    """启动、打印连接信息与演示凭证，然后挂起直到被取消。"""
    import asyncio

    await sandbox.start()
    print(f"tradeterm sandbox exchange listening on {sandbox.url}  (websocket ws://{sandbox.host}:{sandbox.port})")
    print(f"symbols: {', '.join(sandbox.symbols)}   speed: x{sandbox.clock.speed:g}   "
          f"each account starts with 10,000 USDT")
    if sandbox.store is not None:
        state = "resumed" if sandbox.restored else "new"
        print(f"state: {sandbox.store.path.resolve()} ({state}; survives restarts, --reset starts fresh)")
    print(f"accepted credentials (sandbox demo only): api key = {sandbox.api_key}   secret = {sandbox.secret}")
    print("spot: /api/v3/..., streams /ws and /stream, user data /ws-api/v3   "
          "USD-M perpetuals: /fapi/v1|v2|v3/..., streams /market/ws and /public/ws, user data /private/ws   "
          "(Ctrl-C to stop)", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await sandbox.stop()
