"""`tradeterm check STRATEGY`：前视检查，证明整段计算的信号等于截断历史上算出的信号。"""

from __future__ import annotations

import argparse

from tradeterm.cli.common import format_ts, load_bars, parse_params
from tradeterm.cli.flags import plugin_dirs, whole_number
from tradeterm.errors import UserError
from tradeterm.models import MarketType


def register(subparsers: argparse._SubParsersAction) -> None:
    """注册 check 子命令。"""
    parser = subparsers.add_parser(
        "check", help="prove a strategy does not look ahead (full-history signals == truncated-history signals)",
        description="Compute indicators and signals on the full history and on the history truncated at sampled "
                    "bars; report the first bar where they differ. Exit code 0 = pass, 1 = look-ahead found.")
    parser.add_argument("strategy", help="strategy class name in strategies/ (e.g. MACross) or package.module:Class")
    parser.add_argument("--data", help="OHLCV CSV (timestamp,open,high,low,close,volume); default: synthetic market")
    parser.add_argument("--param", action="append", metavar="KEY=VALUE", help="override a strategy parameter")
    parser.add_argument("--samples", type=whole_number("--samples 60"), default=60,
                        help="number of bars to check (default 60)")
    parser.add_argument("--dir", action="append", default=[], metavar="DIR",
                        help="extra plugin directory to search (the built-in strategies/ is always searched)")
    parser.add_argument("--futures", action="store_true", help="check long/short signals as on a futures market")
    parser.set_defaults(handler=run_check)


def run_check(args: argparse.Namespace) -> int:
    """执行前视检查并打印结果；通过返回 0，发现前视返回 1。"""
    # 按需导入：策略加载与前视检查要加载 pandas 与 numba，--help 不需要它们
    from tradeterm.strategy.loader import build_strategy, load_strategy_class
    from tradeterm.strategy.lookahead import check_lookahead

    if args.samples < 1:
        raise UserError(f"--samples {args.samples}: check at least 1 bar, e.g. --samples 60")
    cls = load_strategy_class(args.strategy, plugin_dirs(args.dir))
    market = MarketType.FUTURES if args.futures else MarketType.SPOT
    strategy = build_strategy(cls, parse_params(args.param), market_type=market)
    bars, source = load_bars(args.data)
    report = check_lookahead(strategy, bars, samples=args.samples)
    print(f"{report.strategy} on {source}: checked {len(report.checked)} of {report.bars} bars")
    if report.passed:
        print("PASS: no look-ahead (signals on truncated history equal signals on full history)")
        return 0
    print(f"FAIL: look-ahead at bar {report.first_bad_row} ({format_ts(report.first_bad_ts)}): "
          f"column(s) {', '.join(report.bad_columns)} change when later bars are removed")
    return 1
