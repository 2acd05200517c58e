"""`tradeterm data`：列出本地 K 线缓存（交易对、周期、首末根、根数、缺口），以及 CSV 导入/导出。"""

from __future__ import annotations

import argparse

from tradeterm.cli.common import format_ts
from typing import TYPE_CHECKING

from tradeterm.cli.flags import checked_symbol, directory_problem, output_file_problem
from tradeterm.data.defaults import DEFAULT_CACHE_DIR
from tradeterm.errors import UserError

if TYPE_CHECKING:
    from tradeterm.data.cache import CandleCache


def register(subparsers: argparse._SubParsersAction) -> None:
    """注册 data 子命令（list / import / export）。"""
    parser = subparsers.add_parser("data", help="list the candle cache; import or export CSV",
                                   description="Without an action, list what is cached. 'import' merges a candle "
                                               "CSV into the cache, 'export' writes a cached series as CSV.")
    parser.add_argument("--cache-dir", default=str(DEFAULT_CACHE_DIR),
                        help=f"candle cache directory (default: {DEFAULT_CACHE_DIR}; env TRADETERM_CACHE_DIR)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.add_parser("list", help="list cached series (default)")
    importer = actions.add_parser("import", help="merge a CSV (timestamp,open,high,low,close,volume) into the cache")
    importer.add_argument("file", help="CSV file")
    importer.add_argument("symbol", help="symbol, e.g. BTC/USDT")
    importer.add_argument("timeframe", help="timeframe of the file, e.g. 1m")
    importer.add_argument("--exchange", default="binance", help="exchange name in the cache (default: binance)")
    exporter = actions.add_parser("export", help="write a cached series to CSV")
    exporter.add_argument("symbol", help="symbol, e.g. BTC/USDT")
    exporter.add_argument("timeframe", help="timeframe, e.g. 1m")
    exporter.add_argument("file", help="CSV file to write")
    exporter.add_argument("--exchange", default="binance", help="exchange name in the cache (default: binance)")
    parser.set_defaults(handler=run_data)


def run_data(args: argparse.Namespace) -> int:
    """按 action 列表、导入或导出。"""
    # 按需导入：K 线缓存要加载 pandas 与 numpy，周期检查会加载 ccxt；--help 不需要它们
    from tradeterm.data.cache import CandleCache
    from tradeterm.data.market_data import check_timeframe

    problem = directory_problem(args.cache_dir)
    if problem:
        raise UserError(f"--cache-dir {args.cache_dir!r} {problem}")
    cache = CandleCache(args.cache_dir)
    if args.action == "import":
        symbol, timeframe = checked_symbol(args.symbol, "SYMBOL"), args.timeframe
        check_timeframe(timeframe)
        candles = cache.import_csv(args.file, args.exchange, symbol, timeframe)
        print(f"imported {args.file} into {cache.path(args.exchange, symbol, timeframe)} ({len(candles):,} bars)")
        return 0
    if args.action == "export":
        symbol, timeframe = checked_symbol(args.symbol, "SYMBOL"), args.timeframe
        check_timeframe(timeframe)
        problem = output_file_problem(args.file, "candles.csv")
        if problem:
            raise UserError(f"FILE {args.file!r}: {problem}")
        if not len(cache.load(args.exchange, symbol, timeframe)):
            # 没缓存的序列不写出一个空文件再报“wrote 0 bars”（退出码 0 会让脚本以为导出成功了）
            raise UserError(f"no cached candles for {args.exchange} {symbol} {timeframe} in {args.cache_dir}; "
                            f"fetch them first (tradeterm fetch {symbol} {timeframe} --since YYYY-MM-DD) or list "
                            f"what is cached (tradeterm data --cache-dir {args.cache_dir})")
        rows = cache.export_csv(args.exchange, symbol, timeframe, args.file)
        print(f"wrote {rows:,} bars to {args.file}")
        return 0
    print(format_listing(cache))
    return 0


def format_listing(cache: CandleCache) -> str:
    """缓存内容的表格：交易所、交易对、周期、首末根（UTC）、根数、缺口数与缺失根数。"""
    entries = cache.entries()
    if not entries:
        return f"no cached candles in {cache.root}; fill it with 'tradeterm fetch SYMBOL TIMEFRAME --since DATE'"
    header = f"{'exchange':<10} {'symbol':<12} {'tf':<4} {'first bar':<21} {'last bar':<21} {'bars':>10} {'gaps':>6} " \
             f"{'missing':>8}"
    lines = [f"cache: {cache.root}", header, "-" * len(header)]
    for e in entries:
        first = format_ts(e.first) if e.first is not None else "-"
        last = format_ts(e.last) if e.last is not None else "-"
        lines.append(f"{e.exchange:<10} {e.symbol:<12} {e.timeframe:<4} {first:<21} {last:<21} {e.bars:>10,} "
                     f"{len(e.gaps):>6} {sum(g.missing for g in e.gaps):>8,}")
    return "\n".join(lines)
