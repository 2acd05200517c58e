"""沙盒的行情：每个交易对的规则（过滤器）与回放中的 K 线序列，以及由它们推出的当前价、K 线、24 小时行情与盘口。

当前价：在一根 K 线的时长内沿 开 -> 低/高 -> 高/低 -> 收 的折线移动（收涨先探低、收跌先探高），
三段各占三分之一，所以行情在一根 K 线之内也会动；正在走的 K 线的高低点与成交量随之累积。
K 线序列走完后，从头再接一遍（价格按比例缩放，使接上的第一根开在上一根的收盘价），行情不会停。

最优买卖价（报价的价差规则，撮合也用它）：买一 = 最新价，卖一 = 买一 + 一个价格步长，所以 买一 <= 最新价 < 卖一。
可立即成交的限价单在买一/卖一成交；市价单仍按共享成交模型在最新价加滑点成交（不因报价改变），报价的价差对市价单
只是参考。买一/卖一的挂单量是合成盘口第一档的量（与 /api/v3/depth 的第一档一致）。

24 小时统计（ticker）按滚动窗口 (now - 24h, now]（模拟时间）计算：窗口两端落在 K 线中间时，按成交量在 K 线内均匀
累积的假设只计入窗口内的那一部分（与正在走的 K 线的部分成交量同一规则），所以
成交量 = 第一根 × (1 - 窗口起点在该根内走过的比例) + 中间各根之和 + 正在走的这根到此刻为止的量。
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tradeterm.execution.fills import MarketRules, round_price, round_prices
from tradeterm.sandbox import errors
from tradeterm.sandbox.errors import BinanceError

# 以美元计价的稳定币/法币：这些计价货币的最小名义金额为 5，价格步长为 0.01
USD_QUOTES = frozenset({"USDT", "USDC", "FDUSD", "BUSD", "TUSD", "USD", "DAI"})
# 已知基础货币的数量步长（基础货币单位），与 Binance 现货一致
AMOUNT_STEPS = {"BTC": 0.00001, "ETH": 0.0001, "BNB": 0.001, "SOL": 0.001}
# 美元计价交易对的最小名义金额，计价货币
USD_MIN_NOTIONAL = 5.0
# 非美元计价交易对的最小名义金额，计价货币（如 ETH/BTC 为 0.0001 BTC）
OTHER_MIN_NOTIONAL = 0.0001
# 折线上四个点（开、第一个极值、第二个极值、收）在一根 K 线内的时间比例
PATH_FRACTIONS = (0.0, 1 / 3, 2 / 3, 1.0)
# 盘口每档的基准挂单量相对于每根 K 线平均成交量的比例
BOOK_DEPTH_SHARE = 0.05
# 保留的最近公开成交笔数（/api/v3/trades 的上限）
TAPE_LENGTH = 1_000
# 24 小时统计的滚动窗口长度，毫秒
TICKER_WINDOW_MS = 86_400_000


@dataclass(frozen=True)
class MarketSpec:
    """一个交易对的规则：标识与 Binance 式过滤器。"""

    symbol: str          # ccxt 交易对，如 BTC/USDT
    market_id: str       # Binance 交易对 id，如 BTCUSDT
    base: str            # 基础货币，如 BTC
    quote: str           # 计价货币，如 USDT
    price_tick: float    # 价格步长（PRICE_FILTER tickSize），计价货币
    amount_step: float   # 数量步长（LOT_SIZE stepSize），基础货币
    min_amount: float    # 最小数量（LOT_SIZE minQty），基础货币
    min_notional: float  # 最小名义金额（NOTIONAL minNotional），计价货币

    @property
    def rules(self) -> MarketRules:
        """共享成交模型使用的下单规则。"""
        return MarketRules(self.price_tick, self.amount_step, self.min_amount, self.min_notional)


def default_spec(symbol: str, ref_price: float) -> MarketSpec:
    """按交易对与参考价给出与 Binance 相近的规则：BTC/USDT 为 0.01 / 0.00001 / 5 USDT 等。"""
    base, quote = symbol.split("/")
    if quote in USD_QUOTES:
        tick = 0.01 if ref_price >= 1 else 10.0 ** (math.floor(math.log10(ref_price)) - 4)
        min_notional = USD_MIN_NOTIONAL
    else:
        # 非美元计价（如 ETH/BTC，价格约 0.05）：步长取价格量级的万分之一
        tick = 10.0 ** (math.floor(math.log10(ref_price)) - 4)
        min_notional = OTHER_MIN_NOTIONAL
    step = AMOUNT_STEPS.get(base, 0.001 if ref_price >= 10 else 1.0)
    return MarketSpec(symbol, base + quote, base, quote, tick, step, step, min_notional)


def decimals(step: float) -> int:
    """步长对应的小数位数：0.01 -> 2，0.00001 -> 5，1 -> 0。"""
    return max(0, -int(math.floor(math.log10(step) + 1e-9)))


class CandleSeries:
    """一个交易对正在回放的 K 线序列（基础周期，如 1m），可按需无限延长。价格为计价货币，量为基础货币。"""

    def __init__(self, frame: pd.DataFrame, timeframe_ms: int, price_tick: float):
        """frame 为 OHLCV 表（timestamp 为 UTC 毫秒）；timeframe_ms 为其周期（毫秒）；价格会对齐到 price_tick。"""
        # 基础周期，毫秒
        self.timeframe_ms = int(timeframe_ms)
        # 价格步长，计价货币（价格都落在这个网格上）
        self.price_tick = float(price_tick)
        # 原始序列（用于走完后循环延长），列同 OHLCV
        self._source = {c: frame[c].to_numpy(dtype=np.float64) for c in ("open", "high", "low", "close", "volume")}
        # 首根 K 线的开盘时间，UTC 毫秒
        self.start_ts = int(frame["timestamp"].iloc[0])
        # 开、高、低、收（计价货币）与量（基础货币）数组，长度随延长增加
        self.open, self.high, self.low, self.close, self.volume = (self._on_grid(self._source[c]) if c != "volume"
                                                                   else self._source[c].copy()
                                                                   for c in ("open", "high", "low", "close", "volume"))

    def _on_grid(self, prices: np.ndarray) -> np.ndarray:
        """把价格放到价格步长的网格上（合成行情是任意小数，真实行情本来就在网格上）。

        用共享成交模型的数组形式 round_prices（numpy 逐元素，与 round_price 逐位相同）：启动时不必为此加载 numba。"""
        return round_prices(prices, self.price_tick)

    def __len__(self) -> int:
        """当前已生成的 K 线根数。"""
        return len(self.open)

    def index_at(self, ts: int) -> int:
        """时间 ts（UTC 毫秒）所在 K 线的下标（可能为负或超出已生成部分）。"""
        return (int(ts) - self.start_ts) // self.timeframe_ms

    def bar_ts(self, index: int) -> int:
        """第 index 根 K 线的开盘时间，UTC 毫秒。"""
        return self.start_ts + index * self.timeframe_ms

    def ensure(self, index: int) -> None:
        """保证序列至少有 index+1 根：不够时把原始序列按比例缩放后接在后面。"""
        while len(self) <= index:
            scale = self.close[-1] / self._source["open"][0]
            parts = [self._on_grid(self._source[c] * scale) for c in ("open", "high", "low", "close")]
            self.open, self.high, self.low, self.close = (np.concatenate([old, new]) for old, new in
                                                          zip((self.open, self.high, self.low, self.close), parts))
            self.volume = np.concatenate([self.volume, self._source["volume"]])

    def _path(self, index: int) -> tuple[float, float, float, float]:
        """第 index 根 K 线内价格折线的四个点：开、第一个极值、第二个极值、收。"""
        o, h, l, c = self.open[index], self.high[index], self.low[index], self.close[index]
        return (o, l, h, c) if c >= o else (o, h, l, c)

    def price_at(self, index: int, fraction: float) -> float:
        """第 index 根 K 线走过 fraction（0..1）时的价格，计价货币，落在价格网格上。"""
        points = self._path(index)
        raw = float(np.interp(fraction, PATH_FRACTIONS, points))
        return round_price(raw, self.price_tick)

    def extremes(self, index: int, f0: float, f1: float) -> tuple[float, float]:
        """第 index 根 K 线在 [f0, f1] 这段时间内的（最高价, 最低价），计价货币。"""
        prices = [self.price_at(index, f0), self.price_at(index, f1)]
        points = self._path(index)
        prices += [p for f, p in zip(PATH_FRACTIONS, points) if f0 < f < f1]
        return max(prices), min(prices)

    def partial(self, index: int, fraction: float) -> tuple[float, float, float, float, float]:
        """正在走的 K 线到 fraction 为止的（开, 高, 低, 收=当前价, 量）。"""
        high, low = self.extremes(index, 0.0, fraction)
        return self.open[index], high, low, self.price_at(index, fraction), self.volume[index] * fraction

    def position(self, ts: int) -> tuple[int, float]:
        """时间 ts 落在哪根 K 线、走过了多少比例（0..1）。"""
        index = self.index_at(ts)
        fraction = ((int(ts) - self.start_ts) % self.timeframe_ms) / self.timeframe_ms
        self.ensure(index)
        return index, fraction


def bucket_start(ts: int | np.ndarray, timeframe_ms: int):
    """K 线周期的开盘时间：按 UTC 对齐；周线按周一 00:00 对齐（1970-01-01 是周四，偏移 4 天）。"""
    offset = 4 * 86_400_000 if timeframe_ms == 604_800_000 else 0
    return (ts - offset) // timeframe_ms * timeframe_ms + offset


class SymbolMarket:
    """一个交易对的回放行情：规则 + K 线序列 + 由模拟时间推出的当前价、K 线、24 小时统计与盘口。"""

    def __init__(self, spec: MarketSpec, series: CandleSeries):
        """spec 为规则，series 为回放的 K 线序列。"""
        # 交易对规则（过滤器）
        self.spec = spec
        # 回放的 K 线序列
        self.series = series
        # 最近的公开成交（Binance /api/v3/trades 的形状），最新的在最后
        self.tape: deque[dict] = deque(maxlen=TAPE_LENGTH)
        # 下一笔公开成交的编号
        self.next_trade_id = 1

    def record_trade(self, price: float, amount: float, now: int, buyer_maker: bool) -> int:
        """记下一笔公开成交（价格为计价货币，数量为基础货币），返回其编号。"""
        trade_id = self.next_trade_id
        self.next_trade_id += 1
        self.tape.append({"id": trade_id, "price": f"{price:.8f}", "qty": f"{amount:.8f}",
                          "quoteQty": f"{price * amount:.8f}", "time": now, "isBuyerMaker": buyer_maker,
                          "isBestMatch": True})
        return trade_id

    def price(self, now: int) -> float:
        """模拟时间 now 的最新成交价，计价货币。"""
        index, fraction = self.series.position(now)
        return self.series.price_at(index, fraction)

    def segments(self, t0: int, t1: int):
        """把模拟时间 (t0, t1] 切成按 K 线划分的小段，逐段产出 (K 线下标, 段开盘价, 段最高, 段最低, 段收盘价, 段内成交量)。

        撮合逐段套用共享成交模型（把每一小段当成一根 K 线），时间跳过多根 K 线时也不漏掉中间的高低点。
        """
        series = self.series
        i0, f0 = series.position(t0)
        i1, f1 = series.position(t1)
        for index in range(i0, i1 + 1):
            start = f0 if index == i0 else 0.0
            end = f1 if index == i1 else 1.0
            if end <= start and index == i1 and i0 != i1:
                continue
            high, low = series.extremes(index, start, end)
            yield (index, series.price_at(index, start), high, low, series.price_at(index, end),
                   series.volume[index] * (end - start))

    def klines(self, now: int, timeframe_ms: int, start: int | None, end: int | None, limit: int) -> list[list]:
        """Binance /api/v3/klines 的行：开盘时间 >= start、<= end，最多 limit 根，含正在走的那根。"""
        series = self.series
        base = series.timeframe_ms
        if timeframe_ms < base or timeframe_ms % base:
            raise BinanceError(errors.BAD_INTERVAL)
        last = bucket_start(now, timeframe_ms)
        first_available = bucket_start(series.start_ts, timeframe_ms)
        if end is not None:
            last = min(last, bucket_start(end, timeframe_ms))
        if start is not None:
            first = bucket_start(start, timeframe_ms)
            first = first if first >= start else first + timeframe_ms
            first = max(first, first_available)
            last = min(last, first + (limit - 1) * timeframe_ms)
        else:
            first = max(first_available, last - (limit - 1) * timeframe_ms)
        if last < first:
            return []
        current, fraction = series.position(now)
        i0 = max(series.index_at(first), 0)
        i1 = min(current, series.index_at(last + timeframe_ms - 1))
        if i1 < i0:
            return []
        columns = [arr[i0:i1 + 1].copy() for arr in (series.open, series.high, series.low, series.close,
                                                     series.volume)]
        if i1 == current:
            # 最后一根是正在走的 K 线：用到此刻为止的开高低收量代替整根
            for column, value in zip(columns, series.partial(current, fraction)):
                column[-1] = value
        ts = series.start_ts + base * np.arange(i0, i1 + 1, dtype=np.int64)
        return _aggregate_rows(ts, *columns, timeframe_ms, base)

    def rolling_stats(self, now: int, window_ms: int = TICKER_WINDOW_MS) -> dict[str, float | int]:
        """滚动窗口 (now - window_ms, now]（模拟时间，UTC 毫秒）内的统计：开、高、低、最新价（计价货币），成交量
        （基础货币）、成交额（计价货币），窗口起点（UTC 毫秒）与窗口覆盖的 K 线根数。

        窗口起点早于行情的第一根时从第一根开始。落在 K 线中间的两端只计入窗口内的部分（见模块说明）；
        成交额按每段成交量 × 该根的收盘价（正在走的这根用当前价）估算，与 klines 的成交额列同一规则。"""
        series = self.series
        start = max(int(now) - int(window_ms), series.start_ts)
        i0, f0 = series.position(start)
        i1, f1 = series.position(now)
        current = series.partial(i1, f1)  # 正在走的这根到此刻为止的 (开, 高, 低, 收, 量)
        if i0 == i1:
            # 窗口不足一根 K 线（行情刚开始）：只有这一根里 [f0, f1] 的一段
            high, low = series.extremes(i1, f0, f1)
            volume = series.volume[i1] * (f1 - f0)
            return {"open": series.price_at(i1, f0), "high": high, "low": low, "last": current[3],
                    "volume": volume, "quote_volume": volume * current[3], "open_ts": start, "bars": 1}
        first_high, first_low = series.extremes(i0, f0, 1.0)
        first_volume = series.volume[i0] * (1.0 - f0)
        middle = slice(i0 + 1, i1)
        middle_volume = series.volume[middle]
        volume = first_volume + float(middle_volume.sum()) + current[4]
        quote_volume = (first_volume * series.close[i0] + float(np.dot(middle_volume, series.close[middle]))
                        + current[4] * current[3])
        highs = [first_high, current[1]] + ([float(series.high[middle].max())] if i1 > i0 + 1 else [])
        lows = [first_low, current[2]] + ([float(series.low[middle].min())] if i1 > i0 + 1 else [])
        return {"open": series.price_at(i0, f0), "high": max(highs), "low": min(lows), "last": current[3],
                "volume": volume, "quote_volume": quote_volume, "open_ts": start, "bars": i1 - i0 + 1}

    def ticker(self, now: int) -> dict:
        """Binance /api/v3/ticker/24hr 的一项：滚动 24 小时（模拟时间）的统计与最优买卖价、挂单量。"""
        spec = self.spec
        stats = self.rolling_stats(now)
        digits = max(decimals(spec.price_tick), 2)

        def fmt(x: float) -> str:
            """价格按步长的小数位输出为文本。"""
            return f"{x:.{digits}f}"

        bid, bid_qty, ask, ask_qty = self.book_top(now)
        first, last, volume = stats["open"], stats["last"], stats["volume"]
        current, _ = self.series.position(now)
        return {
            "symbol": spec.market_id, "priceChange": fmt(last - first),
            "priceChangePercent": f"{(last / first - 1) * 100:.3f}",
            "weightedAvgPrice": fmt(stats["quote_volume"] / volume if volume > 0 else last),
            # 窗口开始前的最后一笔成交价：价格沿折线连续移动，就是窗口起点的价格
            "prevClosePrice": fmt(first), "lastPrice": fmt(last),
            "lastQty": f"{spec.amount_step:.8f}", "bidPrice": fmt(bid), "bidQty": f"{bid_qty:.8f}",
            "askPrice": fmt(ask), "askQty": f"{ask_qty:.8f}", "openPrice": fmt(first),
            "highPrice": fmt(stats["high"]), "lowPrice": fmt(stats["low"]), "volume": f"{volume:.8f}",
            "quoteVolume": f"{stats['quote_volume']:.8f}", "openTime": int(stats["open_ts"]), "closeTime": int(now),
            "firstId": 0, "lastId": int(current), "count": int(stats["bars"]),
        }

    def best_bid_ask(self, now: int) -> tuple[float, float]:
        """最优买价与卖价（计价货币）：买一为最新价，卖一高一个价格步长（见模块说明的价差规则）。"""
        last = self.price(now)
        return last, last + self.spec.price_tick

    def book_top(self, now: int) -> tuple[float, float, float, float]:
        """最优买卖价与其挂单量：(买一价, 买一量, 卖一价, 卖一量)，价为计价货币、量为基础货币；与合成盘口第一档一致。"""
        bid, ask = self.best_bid_ask(now)
        sizes = self._level_sizes(now, 1)
        return bid, float(sizes[0, 0]), ask, float(sizes[1, 0])

    def _level_sizes(self, now: int, depth: int) -> np.ndarray:
        """合成盘口前 depth 档的挂单量（基础货币），形状 (2, depth)：第 0 行买盘、第 1 行卖盘。

        随机数按 (档, 买/卖) 的顺序逐档抽取，所以第 k 档的量与要了几档无关（盘口第一档 = ticker 的买一/卖一量）。"""
        index, _ = self.series.position(now)
        rng = np.random.default_rng(index)
        typical = float(np.mean(self.series.volume[max(0, index - 60):index + 1])) * BOOK_DEPTH_SHARE
        return (typical * rng.uniform(0.2, 2.0, (depth, 2)) + self.spec.amount_step).T

    def order_book(self, now: int, depth: int) -> dict:
        """Binance /api/v3/depth：以最新价为中心、每档一个价格步长的合成盘口；挂单量由 K 线成交量推出。"""
        bid, ask = self.best_bid_ask(now)
        tick = self.spec.price_tick
        sizes = self._level_sizes(now, depth)
        price_digits = max(decimals(tick), 2)
        bids = [[f"{bid - k * tick:.{price_digits}f}", f"{sizes[0, k]:.8f}"] for k in range(depth)
                if bid - k * tick > 0]
        asks = [[f"{ask + k * tick:.{price_digits}f}", f"{sizes[1, k]:.8f}"] for k in range(depth)]
        return {"lastUpdateId": int(now), "bids": bids, "asks": asks}


def _aggregate_rows(ts: np.ndarray, o: np.ndarray, h: np.ndarray, l: np.ndarray, c: np.ndarray, v: np.ndarray,
                    timeframe_ms: int, base_ms: int) -> list[list]:
    """把基础周期的 K 线聚合成 timeframe_ms 周期，输出 Binance klines 的行格式（数字为文本）。"""
    buckets = bucket_start(ts, timeframe_ms)
    starts = np.flatnonzero(np.concatenate([[True], buckets[1:] != buckets[:-1]]))
    ends = np.concatenate([starts[1:], [len(ts)]]) - 1
    opens, closes = o[starts], c[ends]
    highs, lows = np.maximum.reduceat(h, starts), np.minimum.reduceat(l, starts)
    volumes = np.add.reduceat(v, starts)
    quote = np.add.reduceat(v * c, starts)
    rows = []
    for k, start in enumerate(starts):
        open_ts = int(buckets[start])
        rows.append([open_ts, f"{opens[k]:.8f}", f"{highs[k]:.8f}", f"{lows[k]:.8f}", f"{closes[k]:.8f}",
                     f"{volumes[k]:.8f}", open_ts + timeframe_ms - 1, f"{quote[k]:.8f}", int(ends[k] - start + 1),
                     f"{volumes[k] / 2:.8f}", f"{quote[k] / 2:.8f}", "0"])
    return rows
