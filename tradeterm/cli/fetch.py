"""`tradeterm fetch`：经 ccxt 把一段历史 K 线取进本地缓存（只取缓存里没有的部分），带进度条。"""

from __future__ import annotations

import argparse
import asyncio
import sys

import pandas as pd

from tradeterm.cli.common import format_ts
from tradeterm.data.cache import DEFAULT_CACHE_DIR, CandleCache
from tradeterm.errors import UserError

# 进度条宽度，字符
BAR_WIDTH = 30
# 连接沙盒时缓存里使用的交易所名（与真实行情分开存放）
SANDBOX_CACHE_NAME = "sandbox"


def register(subparsers: argparse._SubParsersAction) -> None:
    """注册 fetch 子命令。"""
    parser = subparsers.add_parser(
        "fetch", help="download candles into the local cache (only the missing ranges)",
        description="Download OHLCV candles through ccxt into the local candle cache. Ranges already cached are not "
                    "requested again; gaps are reported.")
    parser.add_argument("symbol", help="symbol, e.g. BTC/USDT or BTCUSDT")
    parser.add_argument("timeframe", help="candle timeframe, e.g. 1m, 5m, 1h, 1d")
    parser.add_argument("--since", required=True, help="first bar (UTC): 2023-03-01, 2023-03-01T12:00 or ms since epoch")
    parser.add_argument("--until", help="end, exclusive (UTC; default: now)")
    parser.add_argument("--exchange", default="binance", help="ccxt exchange id (default: binance)")
    parser.add_argument("--sandbox-url", help="fetch from a running tradeterm sandbox, e.g. http://127.0.0.1:8765 "
                                              f"(cached under exchange name '{SANDBOX_CACHE_NAME}')")
    parser.add_argument("--cache-dir", default=str(DEFAULT_CACHE_DIR),
                        help=f"candle cache directory (default: {DEFAULT_CACHE_DIR}; env TRADETERM_CACHE_DIR)")
    parser.set_defaults(handler=run_fetch)


def parse_date(text: str, flag: str) -> int:
    """把日期参数转成 UTC 毫秒：整数按毫秒，其余按 ISO 8601（无时区视为 UTC）；无法解析抛 UserError。"""
    if text.strip().isdigit():
        return int(text)
    try:
        stamp = pd.Timestamp(text)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        return int(stamp.value // 1_000_000)
    except (ValueError, TypeError):
        raise UserError(f"{flag} {text!r}: not a date; write e.g. 2023-03-01, 2023-03-01T12:00 or ms since epoch") \
            from None


def make_exchange(exchange_id: str, sandbox_url: str | None):
    """创建 ccxt 异步客户端：给了沙盒地址时指向沙盒，否则连真实交易所（只用公开接口）。"""
    import ccxt.async_support as ccxt_async

    from tradeterm.exchange.client import make_client

    if sandbox_url:
        return make_client(sandbox_url)
    if exchange_id == "binance":
        return make_client(None)
    if exchange_id not in ccxt_async.exchanges:
        raise UserError(f"--exchange {exchange_id}: not an exchange id known to ccxt; e.g. binance, okx, bybit")
    return getattr(ccxt_async, exchange_id)({"enableRateLimit": True})


class ProgressBar:
    """命令行进度条（写到 stderr，单行刷新）。"""

    def __init__(self, label: str):
        """label 为进度条前的说明文字。"""
        # 进度条前的说明文字
        self.label = label
        # 是否已经画过（结束时需要换行）
        self.drawn = False

    def update(self, done: int, total: int) -> None:
        """画出当前进度：已取根数 / 预计根数。"""
        share = min(done / total, 1.0) if total else 1.0
        filled = int(share * BAR_WIDTH)
        sys.stderr.write(f"\r{self.label} [{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {share:4.0%} "
                         f"{done:,}/{total:,} bars")
        sys.stderr.flush()
        self.drawn = True

    def finish(self) -> None:
        """结束进度条（换行）。"""
        if self.drawn:
            sys.stderr.write("\n")


def run_fetch(args: argparse.Namespace) -> int:
    """取数据并打印摘要（根数、起止、缺口、缓存文件）。"""
    from tradeterm.data.market_data import MarketData, check_symbol, check_timeframe

    symbol = check_symbol(args.symbol)
    check_timeframe(args.timeframe)
    since = parse_date(args.since, "--since")
    until = parse_date(args.until, "--until") if args.until else None
    if until is not None and until <= since:
        raise UserError(f"--until {args.until}: must be after --since {args.since}")
    cache = CandleCache(args.cache_dir)
    exchange_name = SANDBOX_CACHE_NAME if args.sandbox_url else args.exchange

    async def fetch() -> pd.DataFrame:
        """在一个事件循环里取数据，结束后关闭客户端。"""
        exchange = make_exchange(args.exchange, args.sandbox_url)
        bar = ProgressBar(f"{symbol} {args.timeframe}")
        try:
            market = MarketData(exchange, cache, exchange_id=exchange_name)
            return await market.get_ohlcv(symbol, args.timeframe, since, until, progress=bar.update)
        finally:
            bar.finish()
            await exchange.close()

    import ccxt

    try:
        frame = asyncio.run(fetch())
    except ccxt.BadSymbol:
        raise UserError(f"{symbol}: not listed on {exchange_name}; check the SYMBOL argument") from None
    except ccxt.NetworkError as exc:
        where = args.sandbox_url or args.exchange
        raise UserError(f"could not reach {where} after retries ({type(exc).__name__}); check the network, "
                        f"or start 'tradeterm sandbox' and pass --sandbox-url http://127.0.0.1:8765") from None
    gaps = frame.attrs.get("gaps", [])
    if frame.empty:
        print(f"{symbol} {args.timeframe}: no candles in the requested range")
        return 0
    print(f"{symbol} {args.timeframe}: {len(frame):,} bars from {format_ts(int(frame.timestamp.iloc[0]))} "
          f"to {format_ts(int(frame.timestamp.iloc[-1]))}; {len(gaps)} gap(s)")
    for gap in gaps[:10]:
        print(f"  gap: {gap.missing} bar(s) missing from {format_ts(gap.start)} to {format_ts(gap.end)}")
    print(f"cache: {cache.path(exchange_name, symbol, args.timeframe)}")
    return 0
