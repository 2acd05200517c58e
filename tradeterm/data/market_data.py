"""行情数据层：经 ccxt 取历史 K 线（分页、限流、重试、增量缓存、去重、报告缺口）与实时订阅（ccxt.pro，断线重连）。

    market = MarketData(exchange, CandleCache())           # exchange：ccxt 异步或 pro 客户端
    frame = await market.get_ohlcv("BTC/USDT", "1m", since=ts0, until=ts1)
    frame.attrs["gaps"]                                     # 缺口列表（Gap）
    async for update in market.subscribe("BTC/USDT", "1m"): # CandleUpdate，closed=True 表示这根已收盘
        ...

历史：先问交易所时间（fetch_time），只取此前已收盘的 K 线；只请求缓存里还没有的时间段；每页最多 1000 根，
按 startTime 向后翻页；ccxt 的限流器（enableRateLimit）控制请求间隔；网络错误、超时、429/418、5xx 按
RetryPolicy 退避重试。一段区间取完即记为“已取过”，其中交易所没有的 K 线作为缺口报告，不会被反复请求。
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import ccxt
import numpy as np
import pandas as pd

from tradeterm.config.markets import TIMEFRAME_MS, normalize_symbol
from tradeterm.data.cache import Candles, CandleCache, find_gaps, merge_candles, missing_ranges
from tradeterm.errors import UserError
from tradeterm.exchange.retry import RetryPolicy, backoff_delay, call_with_retry
from tradeterm.models.bar import OHLCV_COLUMNS

log = logging.getLogger(__name__)

# 每页请求的 K 线根数（Binance 上限 1000）
PAGE_LIMIT = 1_000
# 没有 since 且缓存为空时，默认取最近多少根
DEFAULT_RECENT_BARS = 1_000
# 取历史时每取多少页写一次缓存（长区间中途被杀也不会全部重取）
FLUSH_EVERY_PAGES = 50
# 进度回调：(已取根数, 预计总根数)
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class CandleUpdate:
    """实时 K 线的一次更新。价格为计价货币，量为基础货币。"""

    symbol: str      # ccxt 交易对
    timeframe: str   # K 线周期
    ts: int          # 开盘时间，UTC 毫秒
    open: float      # 开盘价
    high: float      # 最高价（到此刻为止）
    low: float       # 最低价（到此刻为止）
    close: float     # 最新价（已收盘时为收盘价）
    volume: float    # 成交量（到此刻为止），基础货币
    closed: bool     # 这根 K 线是否已收盘（收盘后不再变化）


@dataclass(frozen=True)
class Quote:
    """实时行情的一次更新（来自 watch_ticker）。"""

    symbol: str          # ccxt 交易对
    ts: int              # 行情时间，UTC 毫秒
    last: float          # 最新成交价，计价货币
    bid: float | None    # 买一价，计价货币；流里没有时为 None
    ask: float | None    # 卖一价，计价货币；流里没有时为 None


def check_timeframe(timeframe: str) -> int:
    """校验 K 线周期并返回其毫秒数；未知周期抛 UserError。"""
    if timeframe not in TIMEFRAME_MS:
        raise UserError(f"timeframe '{timeframe}' is not supported; use one of {', '.join(TIMEFRAME_MS)}")
    return TIMEFRAME_MS[timeframe]


def check_symbol(symbol: str) -> str:
    """规范交易对写法；无法识别时抛 UserError。"""
    normalized = normalize_symbol(symbol)
    if not normalized:
        raise UserError(f"symbol '{symbol}' is not recognised; write it like BTC/USDT or BTCUSDT")
    return normalized


def rows_to_frame(rows: list[list]) -> pd.DataFrame:
    """ccxt 的 [[ts, o, h, l, c, v], ...] 转成标准 OHLCV 表。"""
    array = np.asarray(rows, dtype=np.float64).reshape(-1, 6)
    frame = pd.DataFrame(array[:, 1:], columns=list(OHLCV_COLUMNS[1:]))
    frame.insert(0, "timestamp", array[:, 0].astype(np.int64))
    return frame


class MarketData:
    """一个交易所的行情数据：历史 K 线（带本地缓存）与实时订阅。"""

    def __init__(self, exchange: Any, cache: CandleCache | None = None, *, exchange_id: str | None = None,
                 retry: RetryPolicy = RetryPolicy()):
        """exchange 为 ccxt 异步（或 pro）客户端；cache 为 None 时不缓存；exchange_id 为缓存里的交易所名
        （默认取 exchange.id，连沙盒时建议传 "sandbox" 以免与真实行情混在一起）。"""
        # ccxt 客户端
        self.exchange = exchange
        # K 线缓存；None 表示不缓存
        self.cache = cache
        # 缓存目录里的交易所名
        self.exchange_id = exchange_id or exchange.id
        # 网络错误的重试策略
        self.retry = retry

    # ---- 历史 ---------------------------------------------------------------------------------------------

    async def get_ohlcv(self, symbol: str, timeframe: str, since: int | None = None, until: int | None = None,
                        progress: Progress | None = None) -> pd.DataFrame:
        """开盘时间在 [since, until)（UTC 毫秒）内的已收盘 K 线；缺的部分向交易所补取并写入缓存。

        since 为 None：缓存有数据时从缓存的第一根开始，否则取最近 1000 根；until 为 None 或晚于交易所时间
        （fetch_time）时截到交易所当前时间。正在走的 K 线既不返回也不缓存。
        返回的表按时间排序、无重复；`frame.attrs["gaps"]` 为其中的缺口（Gap 列表），有缺口时记一条警告日志。
        """
        symbol = check_symbol(symbol)
        step = check_timeframe(timeframe)
        now = await self._exchange_now()
        # 只要已收盘的 K 线：开盘时间早于当前这根的开盘时间
        until = min(now // step * step, now if until is None else int(until))
        candles = self._load(symbol, timeframe)
        if since is None:
            since = int(candles.ts[0]) if len(candles) else until - DEFAULT_RECENT_BARS * step
        since = -(-int(since) // step) * step  # 向上对齐到周期边界
        todo = missing_ranges(candles.ranges, since, until)
        expected = sum(-(-(hi - lo) // step) for lo, hi in todo)
        done = 0
        for lo, hi in todo:
            candles, fetched = await self._fetch_range(symbol, timeframe, lo, hi, step, candles,
                                                       lambda n: progress and progress(done + n, expected))
            done += fetched
        if progress and todo:
            progress(expected, expected)  # 交易所在部分区间没有数据时，取完也要显示 100%
        frame = candles.to_frame(since, until)
        gaps = find_gaps(frame["timestamp"].to_numpy(), step)
        frame.attrs["gaps"] = gaps
        if gaps:
            log.warning("gaps in candles symbol=%s timeframe=%s gaps=%s missing_bars=%s", symbol, timeframe,
                        len(gaps), sum(g.missing for g in gaps))
        return frame

    async def _exchange_now(self) -> int:
        """交易所的当前时间（UTC 毫秒）：支持 fetch_time 的交易所以它为准（沙盒倍速回放时不同于本机时间），
        否则用本机时间。"""
        if not (getattr(self.exchange, "has", {}) or {}).get("fetchTime"):
            return int(time.time() * 1000)
        return int(await call_with_retry(self.exchange.fetch_time, policy=self.retry, exchange=self.exchange,
                                         what="fetch_time"))

    def _load(self, symbol: str, timeframe: str) -> Candles:
        """读缓存（没有缓存时为空）。"""
        return self.cache.load(self.exchange_id, symbol, timeframe) if self.cache else Candles.empty()

    async def _page(self, symbol: str, timeframe: str, since: int | None, until: int) -> list[list]:
        """取一页 K 线（带重试）：开盘时间 >= since 且 < until，最多 PAGE_LIMIT 根。"""
        return await call_with_retry(self.exchange.fetch_ohlcv, symbol, timeframe, since, PAGE_LIMIT,
                                     {"until": until - 1}, policy=self.retry, exchange=self.exchange,
                                     what=f"fetch_ohlcv {symbol} {timeframe}")

    async def _fetch_range(self, symbol: str, timeframe: str, lo: int, hi: int, step: int, candles: Candles,
                           progress: Callable[[int], Any]) -> tuple[Candles, int]:
        """向后翻页取 [lo, hi)（hi 不晚于当前这根的开盘时间），每 FLUSH_EVERY_PAGES 页及结束时并入缓存；
        返回（合并后的内容, 取到的根数）。"""
        cursor, pending, fetched, pages = lo, [], 0, 0
        flushed_to = lo
        while cursor < hi:
            rows = await self._page(symbol, timeframe, cursor, hi)
            rows = [r for r in rows if cursor <= r[0] < hi]
            pages += 1
            pending += rows
            fetched += len(rows)
            progress(fetched)
            if len(rows) < PAGE_LIMIT:
                # 不足一页：这一段交易所的数据已取完（其中没有的 K 线就是缺口），整段记为已取过
                cursor = hi
                break
            cursor = int(rows[-1][0]) + step
            if pages % FLUSH_EVERY_PAGES == 0:
                candles = self._store(symbol, timeframe, candles, pending, (flushed_to, cursor))
                pending, flushed_to = [], cursor
        return self._store(symbol, timeframe, candles, pending, (flushed_to, max(cursor, flushed_to))), fetched

    def _store(self, symbol: str, timeframe: str, candles: Candles, rows: list[list],
               fetched: tuple[int, int] | None) -> Candles:
        """把取到的行并入（有缓存时写盘），fetched 为完整取过的区间。"""
        frame = rows_to_frame(rows)
        if self.cache is not None:
            return self.cache.add(self.exchange_id, symbol, timeframe, frame, fetched)
        return merge_candles(candles, frame["timestamp"].to_numpy(), frame.iloc[:, 1:].to_numpy(), fetched)

    # ---- 实时 ---------------------------------------------------------------------------------------------

    async def subscribe(self, symbol: str, timeframe: str = "1m", *, max_failures: int | None = None
                        ) -> AsyncIterator[CandleUpdate]:
        """实时 K 线（ccxt.pro watch_ohlcv）：每次更新产出一个 CandleUpdate；换根时先产出上一根的收盘值。

        断线、超时等网络错误后退避重连；重连后、或流里跳过了整根 K 线时，用 REST 补上中间收盘的 K 线，
        所以每根已收盘的 K 线都按顺序恰好产出一次 closed=True。重复与倒序到达的更新被丢弃。
        连续失败超过 max_failures 次（None 表示不限）时抛出最后一个错误。
        """
        symbol = check_symbol(symbol)
        step = check_timeframe(timeframe)
        last: list | None = None
        failures = 0
        while True:
            try:
                bars = await self.exchange.watch_ohlcv(symbol, timeframe)
            except ccxt.NetworkError as exc:
                failures = await self._after_failure(failures, max_failures, exc, f"watch_ohlcv {symbol}")
                continue
            if failures and last is not None:
                # 刚重连：断线期间收盘的 K 线用 REST 补上
                missed = await self._page(symbol, timeframe, last[0], int(bars[-1][0]))
                bars = [*missed, *bars]
            failures = 0
            for bar in sorted(bars, key=lambda b: b[0]):
                if last is not None and (bar[0] < last[0] or list(bar) == list(last)):
                    continue  # 倒序到达的旧 K 线或重复消息
                if last is not None and bar[0] > last[0]:
                    yield CandleUpdate(symbol, timeframe, int(last[0]), *map(float, last[1:6]), closed=True)
                    if bar[0] > last[0] + step:
                        # 流里跳过了整根 K 线（消息丢失或行情推进太快）：用 REST 补上中间已收盘的
                        for row in await self._page(symbol, timeframe, int(last[0]) + step, int(bar[0])):
                            yield CandleUpdate(symbol, timeframe, int(row[0]), *map(float, row[1:6]), closed=True)
                last = list(bar)
                yield CandleUpdate(symbol, timeframe, int(bar[0]), *map(float, bar[1:6]), closed=False)

    async def quotes(self, symbol: str, *, max_failures: int | None = None) -> AsyncIterator[Quote]:
        """实时行情（ccxt.pro watch_ticker）：每次更新产出一个 Quote；网络错误后退避重连。"""
        symbol = check_symbol(symbol)
        failures, last_ts = 0, -1
        while True:
            try:
                ticker = await self.exchange.watch_ticker(symbol)
            except ccxt.NetworkError as exc:
                failures = await self._after_failure(failures, max_failures, exc, f"watch_ticker {symbol}")
                continue
            failures = 0
            ts = int(ticker.get("timestamp") or time.time() * 1000)
            if ts < last_ts:
                continue  # 倒序到达的旧行情
            last_ts = ts
            yield Quote(symbol, ts, float(ticker["last"]), ticker.get("bid"), ticker.get("ask"))

    async def _after_failure(self, failures: int, max_failures: int | None, exc: Exception, what: str) -> int:
        """一次订阅失败后的处理：超过上限则抛出，否则记日志、退避等待；返回新的连续失败次数。"""
        failures += 1
        if max_failures is not None and failures > max_failures:
            raise exc
        delay = backoff_delay(self.retry, failures)
        log.warning("stream failed, reconnecting call=%s failures=%s delay_s=%.2f error=%s", what, failures, delay,
                    type(exc).__name__)
        await asyncio.sleep(delay)
        return failures
