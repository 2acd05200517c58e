"""`tradeterm fetch`：经 ccxt 把一段历史 K 线取进本地缓存（只取缓存里没有的部分），带进度条。"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from tradeterm.cli.common import format_ts
from tradeterm.cli.flags import checked_symbol, directory_problem
from tradeterm.data.defaults import DEFAULT_CACHE_DIR
from tradeterm.errors import UserError
from tradeterm.sandbox.defaults import DEFAULT_HOST, DEFAULT_PORT

if TYPE_CHECKING:
    import pandas as pd

# 进度条宽度，字符
BAR_WIDTH = 30
# 连接沙盒时缓存里使用的交易所名（与真实行情分开存放）；--exchange 取这个值即表示用沙盒
SANDBOX_CACHE_NAME = "sandbox"
# --exchange sandbox 且没给 --sandbox-url 时先找的沙盒地址（tradeterm sandbox 的默认监听地址）
DEFAULT_SANDBOX_URL = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"
# 探测默认沙盒地址是否有服务在监听的超时，秒
PROBE_TIMEOUT_S = 0.5
# --since/--until 接受的最晚时间（不含），UTC 毫秒：2100-01-01
LATEST_DATE_MS = 4_102_444_800_000


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
    parser.add_argument("--exchange", default="binance",
                        help="ccxt exchange id, or 'sandbox' for the local sandbox exchange: the one listening on "
                             f"{DEFAULT_SANDBOX_URL} (see 'tradeterm sandbox'), else an in-process one "
                             "(default: binance)")
    parser.add_argument("--sandbox-url", help="fetch from a running tradeterm sandbox at this URL, e.g. "
                                              f"{DEFAULT_SANDBOX_URL} (implies --exchange sandbox; cached under "
                                              f"exchange name '{SANDBOX_CACHE_NAME}')")
    parser.add_argument("--cache-dir", default=str(DEFAULT_CACHE_DIR),
                        help=f"candle cache directory (default: {DEFAULT_CACHE_DIR}; env TRADETERM_CACHE_DIR)")
    parser.set_defaults(handler=run_fetch)


def parse_date(text: str, flag: str) -> int:
    """把日期参数转成 UTC 毫秒：整数按毫秒，其余按 ISO 8601（无时区视为 UTC）；无法解析或不在
    1970-01-01 .. 2100-01-01 之内时抛 UserError。"""
    # 按需导入：日期解析用 pandas 的 Timestamp，--help 不需要加载 pandas
    import pandas as pd

    hint = "write e.g. 2023-03-01, 2023-03-01T12:00 or ms since epoch"
    if text.strip().isdecimal():  # isdigit 也收 "²"，int() 却不收
        ms = int(text)
    else:
        try:
            stamp = pd.Timestamp(text)
            if pd.isna(stamp):  # 'nan'、'NaT' 之类会被解析成“没有时间”
                raise ValueError(text)
            stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
            # 公元前 1 年（'-1'）、9999 年之类超出纳秒时间戳范围的日期在这里溢出
            ms = int(stamp.value // 1_000_000)
        except (OverflowError, pd.errors.OutOfBoundsDatetime):
            ms = -1  # 超出范围：下面按范围报错
        except (ValueError, TypeError):
            raise UserError(f"{flag} {text!r}: not a date; {hint}") from None
    if not 0 <= ms < LATEST_DATE_MS:
        raise UserError(f"{flag} {text!r}: outside 1970-01-01 .. 2100-01-01 UTC; {hint}")
    return ms


def make_exchange(exchange_id: str, sandbox_url: str | None):
    """创建 ccxt 异步客户端：给了沙盒地址时指向沙盒，否则连真实交易所（只用公开接口）。"""
    import ccxt.async_support as ccxt_async

    from tradeterm.exchange.client import make_client

    if sandbox_url:
        return make_client(sandbox_url)
    if exchange_id == "binance":
        return make_client(None)
    if exchange_id not in ccxt_async.exchanges:
        raise UserError(f"--exchange {exchange_id}: not an exchange id known to ccxt; e.g. binance, okx, bybit, "
                        f"or '{SANDBOX_CACHE_NAME}' for the local sandbox")
    return getattr(ccxt_async, exchange_id)({"enableRateLimit": True})


async def is_listening(url: str, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """url（http://HOST:PORT）上是否有服务在监听（只试 TCP 连接，不发请求）。"""
    import asyncio
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(parts.hostname, parts.port or 80),
                                                 timeout_s)
    except (OSError, asyncio.TimeoutError):
        return False
    writer.close()
    return True


async def sandbox_endpoint(sandbox_url: str | None):
    """--exchange sandbox 连哪个沙盒：给了 --sandbox-url 就用它；否则默认地址有服务就用它，
    没有就在本进程里启动一个（合成行情，随命令结束而停止）。返回（REST 地址, 进程内沙盒或 None）。"""
    if sandbox_url:
        return sandbox_url, None
    if await is_listening(DEFAULT_SANDBOX_URL):
        return DEFAULT_SANDBOX_URL, None
    from tradeterm.sandbox.server import SandboxExchange

    embedded = await SandboxExchange(port=0).start()
    print(f"no sandbox listening on {DEFAULT_SANDBOX_URL}; using an in-process sandbox "
          f"({', '.join(embedded.symbols)}, synthetic market, seed 7)", file=sys.stderr)
    return embedded.url, embedded


class ProgressBar:
    """命令行进度条（写到 stderr，单行刷新）。"""

    def __init__(self, label: str):
        """label 为进度条前的说明文字。"""
        # 进度条前的说明文字
        self.label = label
        # 是否已经画过（结束时需要换行）
        self.drawn = False
        # 这次向交易所取到的根数（全部来自缓存时为 0）
        self.fetched = 0

    def update(self, fetched: int, covered: int, total: int) -> None:
        """画出当前进度：请求区间已覆盖的比例（按时间），以及已取到的根数。"""
        share = min(covered / total, 1.0) if total else 1.0
        filled = int(share * BAR_WIDTH)
        self.fetched = fetched
        # 百分比向下取整：没取完时不显示 100%
        sys.stderr.write(f"\r{self.label} [{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {int(share * 100):3d}% "
                         f"{fetched:,} bars fetched")
        sys.stderr.flush()
        self.drawn = True

    def finish(self) -> None:
        """结束进度条（换行）。"""
        if self.drawn:
            sys.stderr.write("\n")


def run_fetch(args: argparse.Namespace) -> int:
    """取数据并打印摘要（根数、起止、缺口、缓存文件）。"""
    # 按需导入：缓存与行情要加载 pandas、numpy 与 ccxt，--help 不需要它们；asyncio 也只在运行时才要
    import asyncio

    from tradeterm.config.values import url_problem
    from tradeterm.data.cache import CandleCache
    from tradeterm.data.market_data import MarketData, check_timeframe

    symbol = checked_symbol(args.symbol, "SYMBOL")
    check_timeframe(args.timeframe)
    if args.sandbox_url is not None and url_problem(args.sandbox_url):
        raise UserError(f"--sandbox-url {args.sandbox_url!r} {url_problem(args.sandbox_url)}, "
                        f"e.g. {DEFAULT_SANDBOX_URL}")
    if directory_problem(args.cache_dir):
        raise UserError(f"--cache-dir {args.cache_dir!r} {directory_problem(args.cache_dir)}")
    since = parse_date(args.since, "--since")
    until = parse_date(args.until, "--until") if args.until else None
    if until is not None and until <= since:
        raise UserError(f"--until {args.until}: must be after --since {args.since}")
    cache = CandleCache(args.cache_dir)
    use_sandbox = bool(args.sandbox_url) or args.exchange == SANDBOX_CACHE_NAME
    exchange_name = SANDBOX_CACHE_NAME if use_sandbox else args.exchange
    bar = ProgressBar(f"{symbol} {args.timeframe}")

    async def fetch() -> pd.DataFrame:
        """在一个事件循环里取数据，结束后关闭客户端（与进程内沙盒）。"""
        embedded = exchange = None
        try:
            if use_sandbox:
                url, embedded = await sandbox_endpoint(args.sandbox_url)
                exchange = make_exchange(SANDBOX_CACHE_NAME, url)
            else:
                exchange = make_exchange(args.exchange, None)
            market = MarketData(exchange, cache, exchange_id=exchange_name)
            return await market.get_ohlcv(symbol, args.timeframe, since, until, progress=bar.update)
        finally:
            # 客户端建不起来（未知交易所 id）时也要停掉已启动的进程内沙盒
            bar.finish()
            if exchange is not None:
                await exchange.close()
            if embedded is not None:
                await embedded.stop()

    import ccxt

    from tradeterm.exchange.client import failed_url, network_failure

    try:
        frame = asyncio.run(fetch())
    except ccxt.BadSymbol:
        raise UserError(f"{symbol}: not listed on {exchange_name}; check the SYMBOL argument") from None
    except ccxt.NetworkError as exc:
        reason = network_failure(exc)
        if args.sandbox_url:
            raise UserError(f"--sandbox-url {args.sandbox_url}: could not reach the sandbox after retries "
                            f"({reason}); start it with 'tradeterm sandbox', or use "
                            f"--exchange {SANDBOX_CACHE_NAME} without --sandbox-url for an in-process one") from None
        where = failed_url(exc) or "its API"
        raise UserError(f"--exchange {args.exchange}: could not reach {where} after retries ({reason}); check the "
                        f"network connection, DNS, proxy and firewall, or use the local sandbox with "
                        f"--exchange {SANDBOX_CACHE_NAME}") from None
    gaps = frame.attrs.get("gaps", [])
    if frame.empty:
        print(f"{symbol} {args.timeframe}: no candles in the requested range")
        return 0
    print(f"{symbol} {args.timeframe}: {len(frame):,} bars from {format_ts(int(frame.timestamp.iloc[0]))} "
          f"to {format_ts(int(frame.timestamp.iloc[-1]))}; {len(gaps)} gap(s); {bar.fetched:,} newly fetched")
    for gap in gaps[:10]:
        print(f"  gap: {gap.missing} bar(s) missing from {format_ts(gap.start)} to {format_ts(gap.end)}")
    print(f"cache: {cache.path(exchange_name, symbol, args.timeframe)}")
    return 0
