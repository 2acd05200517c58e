"""行情数据层：经 ccxt 取历史 K 线（分页、限流、重试、增量缓存、去重、报告缺口）与实时订阅（ccxt.pro，断线重连）。

    market = MarketData(exchange, CandleCache())           # exchange：ccxt 异步或 pro 客户端
    frame = await market.get_ohlcv("BTC/USDT", "1m", since=ts0, until=ts1)
    frame.attrs["gaps"]                                     # 缺口列表（Gap）
    async for update in market.subscribe("BTC/USDT", "1m", stale_after_s=30):
        ...                                                 # CandleUpdate：closed=True 已收盘，stale=True 行情陈旧

历史：先问交易所时间（fetch_time），只取此前已收盘的 K 线；只请求缓存里还没有的时间段；每页最多 1000 根，
按 startTime 向后翻页；ccxt 的限流器（enableRateLimit）控制请求间隔；网络错误、超时、429/418、5xx 按
RetryPolicy 退避重试。一段区间取完即记为“已取过”，其中交易所没有的 K 线作为缺口报告，不会被反复请求。
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
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
# 进度回调：(已取到的根数, 已覆盖的时间相当于多少根, 请求区间相当于多少根)；后两者之比即完成比例
# （按时间覆盖算进度：交易所在区间前段没有数据时，第一页就跳过那一段，进度随之跳前）
Progress = Callable[[int, int, int], None]


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
    stale: bool = False  # 行情已陈旧：超过 stale_after_s 秒没有新更新，本条是重发的最近状态


@dataclass(frozen=True)
class Quote:
    """实时行情的一次更新（来自 watch_ticker）。"""

    symbol: str          # ccxt 交易对
    ts: int              # 行情时间，UTC 毫秒
    last: float          # 最新成交价，计价货币
    bid: float | None    # 买一价，计价货币；流里没有时为 None
    ask: float | None    # 卖一价，计价货币；流里没有时为 None
    stale: bool = False  # 行情已陈旧：超过 stale_after_s 秒没有新更新，本条是重发的最近报价


def _candle(symbol: str, timeframe: str, bar: list, *, closed: bool, stale: bool = False) -> CandleUpdate:
    """ccxt 的一行 [ts, o, h, l, c, v] 转成 CandleUpdate。"""
    return CandleUpdate(symbol, timeframe, int(bar[0]), *map(float, bar[1:6]), closed=closed, stale=stale)


class StaleWatch:
    """实时流的静默计时：超过 stale_after_s 秒没有更新即为陈旧，每段静默只报告一次。"""

    def __init__(self, stale_after_s: float | None):
        """stale_after_s 为判定陈旧的静默秒数；None 表示不检查。"""
        if stale_after_s is not None and stale_after_s <= 0:
            raise UserError(f"stale_after_s {stale_after_s}: must be > 0 seconds (or None to disable)")
        # 静默多少秒算陈旧；None 表示不检查
        self.stale_after_s = stale_after_s
        # 最近一次收到更新（或开始订阅）的时刻，time.monotonic() 秒
        self.last_seen = time.monotonic()
        # 本段静默是否已经报告过
        self.flagged = False

    def seen(self) -> None:
        """收到一条更新：重新计时，陈旧状态解除。"""
        self.last_seen = time.monotonic()
        self.flagged = False

    def silent_s(self) -> float:
        """距最近一次更新的秒数。"""
        return time.monotonic() - self.last_seen

    async def wait(self, pending: asyncio.Future) -> bool:
        """等 pending 完成（不取消它）：完成返回 True；先到了陈旧时限返回 False（并记为本段已报告）。"""
        if self.stale_after_s is None or self.flagged:
            await asyncio.wait({pending})
            return True
        done, _ = await asyncio.wait({pending}, timeout=max(self.stale_after_s - self.silent_s(), 0.0))
        if done:
            return True
        self.flagged = True
        return False


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
        now = await self.exchange_now()
        # 只要已收盘的 K 线：开盘时间早于当前这根的开盘时间
        until = min(now // step * step, now if until is None else int(until))
        candles = self._load(symbol, timeframe)
        if since is None:
            since = int(candles.ts[0]) if len(candles) else until - DEFAULT_RECENT_BARS * step
        since = -(-int(since) // step) * step  # 向上对齐到周期边界
        todo = missing_ranges(candles.ranges, since, until)
        expected = sum(-(-(hi - lo) // step) for lo, hi in todo)
        fetched_total, covered_total = 0, 0
        for lo, hi in todo:
            candles, fetched = await self._fetch_range(
                symbol, timeframe, lo, hi, step, candles,
                lambda n, covered: progress and progress(fetched_total + n, covered_total + covered, expected))
            fetched_total += fetched
            covered_total += -(-(hi - lo) // step)
        if progress and todo:
            progress(fetched_total, expected, expected)
        frame = candles.to_frame(since, until)
        gaps = find_gaps(frame["timestamp"].to_numpy(), step)
        frame.attrs["gaps"] = gaps
        if gaps:
            log.warning("gaps in candles symbol=%s timeframe=%s gaps=%s missing_bars=%s", symbol, timeframe,
                        len(gaps), sum(g.missing for g in gaps))
        return frame

    async def exchange_now(self) -> int:
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
                           progress: Callable[[int, int], Any]) -> tuple[Candles, int]:
        """向后翻页取 [lo, hi)（hi 不晚于当前这根的开盘时间），每 FLUSH_EVERY_PAGES 页及结束时并入缓存；
        每页后调用 progress(已取根数, 已覆盖的时间相当于多少根)；返回（合并后的内容, 取到的根数）。"""
        cursor, pending, fetched, pages = lo, [], 0, 0
        flushed_to = lo
        while cursor < hi:
            rows = await self._page(symbol, timeframe, cursor, hi)
            rows = [r for r in rows if cursor <= r[0] < hi]
            pages += 1
            pending += rows
            fetched += len(rows)
            if len(rows) < PAGE_LIMIT:
                # 不足一页：这一段交易所的数据已取完（其中没有的 K 线就是缺口），整段记为已取过
                cursor = hi
                progress(fetched, -(-(hi - lo) // step))
                break
            cursor = int(rows[-1][0]) + step
            progress(fetched, (cursor - lo) // step)
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

    async def _closed_between(self, symbol: str, timeframe: str, start: int, end: int) -> list[list]:
        """REST 补取开盘时间在 [start, end) 内的 K 线（按页向后翻，断线很久也不漏），按时间排序。"""
        step = TIMEFRAME_MS[timeframe]
        rows: list[list] = []
        cursor = int(start)
        while cursor < end:
            page = [r for r in await self._page(symbol, timeframe, cursor, int(end)) if cursor <= r[0] < end]
            rows += page
            if len(page) < PAGE_LIMIT:
                break
            cursor = int(page[-1][0]) + step
        return rows

    async def subscribe(self, symbol: str, timeframe: str = "1m", *, max_failures: int | None = None,
                        stale_after_s: float | None = None) -> AsyncIterator[CandleUpdate]:
        """实时 K 线（ccxt.pro watch_ohlcv）：每次更新产出一个 CandleUpdate；换根时先产出上一根的收盘值。

        - closed=False 是正在走的 K 线（close 即最新价，可当报价用）；closed=True 是已收盘、不再变化的 K 线。
        - 断线、超时等网络错误后退避重连；重连后、或流里跳过了整根 K 线时，用 REST 补上中间收盘的 K 线
          （按页补取，断线再久也不漏），所以每根已收盘的 K 线都按顺序恰好产出一次 closed=True。
          重复与倒序到达的更新被丢弃。
        - stale_after_s 给出时：超过这么多秒没有任何更新，就再产出一次最近的状态并标 stale=True
          （每段静默只标一次）；下一条真实更新的 stale 为 False，即恢复。还没收到过任何更新时只记警告日志。
        - 连续失败超过 max_failures 次（None 表示不限）时抛出最后一个错误。
        """
        symbol = check_symbol(symbol)
        step = check_timeframe(timeframe)
        last: list | None = None  # 最近产出的正在走的 K 线 [ts, o, h, l, c, v]
        failures = 0
        pending: asyncio.Future | None = None
        watch = StaleWatch(stale_after_s)
        try:
            while True:
                if pending is None:
                    pending = asyncio.ensure_future(self.exchange.watch_ohlcv(symbol, timeframe))
                if not await watch.wait(pending):
                    log.warning("stale market data symbol=%s timeframe=%s silent_s=%.1f", symbol, timeframe,
                                watch.silent_s())
                    if last is not None:
                        yield _candle(symbol, timeframe, last, closed=False, stale=True)
                    continue
                try:
                    bars = pending.result()
                except ccxt.NetworkError as exc:
                    pending = None
                    failures = await self._after_failure(failures, max_failures, exc, f"watch_ohlcv {symbol}")
                    continue
                pending = None
                try:
                    if failures and last is not None and bars:
                        # 刚重连：断线期间收盘的 K 线用 REST 补上
                        bars = [*await self._closed_between(symbol, timeframe, last[0], int(bars[-1][0])), *bars]
                    events, newest = await self._candle_events(symbol, timeframe, step, bars, last)
                except ccxt.NetworkError as exc:
                    # 补取失败：本批更新作废（last 不变），重连后从 last 再补
                    failures = await self._after_failure(failures, max_failures, exc, f"backfill {symbol}")
                    continue
                failures = 0
                watch.seen()
                last = newest
                for event in events:
                    yield event
        finally:
            if pending is not None and not pending.done():
                pending.cancel()

    async def _candle_events(self, symbol: str, timeframe: str, step: int, bars: list[list], last: list | None
                             ) -> tuple[list[CandleUpdate], list | None]:
        """把一批 watch_ohlcv 的 K 线变成要产出的更新（去重、丢弃倒序、换根时先收盘、跳根时 REST 补）；
        返回（更新列表, 新的“最近正在走的 K 线”）。不修改 last，补取失败时调用方可整批重来。"""
        events: list[CandleUpdate] = []
        for bar in sorted(bars, key=lambda b: b[0]):
            if last is not None and (bar[0] < last[0] or list(bar) == list(last)):
                continue  # 倒序到达的旧 K 线或重复消息
            if last is not None and bar[0] > last[0]:
                events.append(_candle(symbol, timeframe, last, closed=True))
                if bar[0] > last[0] + step:
                    # 流里跳过了整根 K 线（消息丢失或行情推进太快）：用 REST 补上中间已收盘的
                    for row in await self._closed_between(symbol, timeframe, int(last[0]) + step, int(bar[0])):
                        events.append(_candle(symbol, timeframe, row, closed=True))
            last = list(bar)
            events.append(_candle(symbol, timeframe, last, closed=False))
        return events, last

    async def quotes(self, symbol: str, *, max_failures: int | None = None, stale_after_s: float | None = None
                     ) -> AsyncIterator[Quote]:
        """实时行情（ccxt.pro watch_ticker）：每次更新产出一个 Quote；网络错误后退避重连。

        stale_after_s 的含义同 subscribe：静默超时后再产出一次最近的报价并标 stale=True。
        """
        symbol = check_symbol(symbol)
        failures, last_ts = 0, -1
        latest: Quote | None = None
        pending: asyncio.Future | None = None
        watch = StaleWatch(stale_after_s)
        try:
            while True:
                if pending is None:
                    pending = asyncio.ensure_future(self.exchange.watch_ticker(symbol))
                if not await watch.wait(pending):
                    log.warning("stale quotes symbol=%s silent_s=%.1f", symbol, watch.silent_s())
                    if latest is not None:
                        yield replace(latest, stale=True)
                    continue
                try:
                    ticker = pending.result()
                except ccxt.NetworkError as exc:
                    pending = None
                    failures = await self._after_failure(failures, max_failures, exc, f"watch_ticker {symbol}")
                    continue
                pending = None
                failures = 0
                watch.seen()
                ts = int(ticker.get("timestamp") or time.time() * 1000)
                if ts < last_ts:
                    continue  # 倒序到达的旧行情
                last_ts = ts
                latest = Quote(symbol, ts, float(ticker["last"]), ticker.get("bid"), ticker.get("ask"))
                yield latest
        finally:
            if pending is not None and not pending.done():
                pending.cancel()

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
