"""引擎的报价：每个交易的交易对一个 ticker 订阅，发出带买一/卖一与 24 小时统计的 QUOTE 事件。

与 K 线订阅（feeds.py）分开运行：自己的任务、自己的重连，不碰 K 线的数据路径（不改标记价、不触发止损、不算陈旧），
报价断了、慢了，K 线收盘与下单照常。
- 流：ccxt.pro 的 watch_ticker。Binance 要显式订阅 24hrTicker 流（ccxt 4.5 的 binance 默认订阅 miniTicker，那里
  没有买卖价，见 STREAM_PARAMS）。ticker 里没有买卖价时（Binance USD-M 合约的 24hrTicker 就没有），再订阅
  watch_bids_asks（bookTicker 流）补上买一/卖一。
- 回退：流出错（网络错误、断线）或交易所不支持 websocket 报价时，每 POLL_S 秒用 REST（fetch_ticker /
  fetch_bids_asks）取一次；流按 RetryPolicy 指数退避重连，连上后停止轮询。流静默 SILENCE_S 秒没有更新时也用 REST
  取一次（不断开、不算故障）。
- 日志：一条流断开时记一条警告、恢复时记一条信息；中间的每次失败只在 debug 级别，断线期间不刷屏。
- 发布：每个交易对的最新状态合并后发出，同一交易对最多每 PUBLISH_S 秒一个 QUOTE（bookTicker 流每秒可达数百条）。

本模块发出的 QUOTE 负载：symbol、last、bid、ask（计价货币；交易所没给时为 None）、bid_volume、ask_volume（买一/卖一
挂单量，基础货币）、volume_24h（24 小时成交量，基础货币）、quote_volume_24h（24 小时成交额，计价货币）、
change_24h（24 小时涨跌幅，小数，0.01 = 1%）、ts（这份报价的交易所时间，UTC 毫秒）、source（"stream" 或 "rest"）。
K 线订阅发出的 QUOTE 只有 symbol、last、ts_bar，两种并存；消费者按键取值，缺的键就是这份报价没有。
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import ccxt

from tradeterm.engine.events import EventKind
from tradeterm.exchange.retry import RetryPolicy, backoff_delay

if TYPE_CHECKING:  # 只为类型标注
    from tradeterm.engine.trader import TraderEngine

log = logging.getLogger(__name__)

# 流出错期间 REST 轮询的间隔，墙上秒
POLL_S = 2.0
# 流静默多久（墙上秒）用 REST 补取一次：真实 Binance 的 ticker 流每秒一条，静默这么久说明流卡住了
SILENCE_S = 10.0
# 同一交易对两个 QUOTE 之间的最短间隔，墙上秒（之间到达的更新合并成一个）
PUBLISH_S = 0.1
# 各交易所 watch_ticker 的额外参数（按 ccxt 的交易所 id）：ccxt 4.5 的 binance watch_ticker 默认订阅 miniTicker 流，
# 它没有买一/卖一；name=ticker 改订 <symbol>@ticker（24hrTicker，现货带买卖价与挂单量）
STREAM_PARAMS: dict[str, dict[str, Any]] = {"binance": {"name": "ticker"}}


@dataclass(frozen=True)
class Channel:
    """一种报价来源：websocket 的 watch 方法与 REST 回退的 fetch 方法（ccxt 的能力名，即 exchange.has 的键）。"""

    name: str     # 日志里的名字：ticker 或 bids_asks
    watch: str    # ccxt.pro 的 watch 能力名，如 watchTicker
    fetch: str    # REST 回退的能力名，如 fetchTicker
    batch: bool   # 方法是否按交易对列表调用、返回 {交易对: ticker}（bids_asks 是，ticker 不是）


# 24 小时 ticker：最新价、买卖价（交易所给的话）、24 小时统计
TICKER = Channel("ticker", "watchTicker", "fetchTicker", False)
# 最优买卖价（bookTicker）：ticker 没有买卖价时补上
BIDS_ASKS = Channel("bids_asks", "watchBidsAsks", "fetchBidsAsks", True)


def _number(value: Any) -> float | None:
    """ccxt 的数字字段 -> float；None 或无法转换时为 None。"""
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


@dataclass
class TickerState:
    """一个交易对合并后的最新报价（各来源缺的字段保留上一次的值）。价格为计价货币，量见各字段。"""

    symbol: str                              # ccxt 交易对
    last: float | None = None                # 最新成交价
    bid: float | None = None                 # 买一价
    ask: float | None = None                 # 卖一价
    bid_volume: float | None = None          # 买一挂单量，基础货币
    ask_volume: float | None = None          # 卖一挂单量，基础货币
    volume_24h: float | None = None          # 24 小时成交量，基础货币
    quote_volume_24h: float | None = None    # 24 小时成交额，计价货币
    change_24h: float | None = None          # 24 小时涨跌幅，小数（0.01 = 1%）
    ts: int = 0                              # 最新一份报价的交易所时间，UTC 毫秒；0 表示还没有
    source: str = ""                         # 最新一份报价的来源：stream（websocket）或 rest（REST 回退）

    def merge(self, ticker: dict[str, Any], source: str) -> bool:
        """并入一个 ccxt ticker（ticker 或 bids_asks 的结构）；ticker 里为 None 的字段不覆盖。返回是否有字段变了。"""
        percentage = _number(ticker.get("percentage"))
        fields = {"last": _number(ticker.get("last")), "bid": _number(ticker.get("bid")),
                  "ask": _number(ticker.get("ask")), "bid_volume": _number(ticker.get("bidVolume")),
                  "ask_volume": _number(ticker.get("askVolume")), "volume_24h": _number(ticker.get("baseVolume")),
                  "quote_volume_24h": _number(ticker.get("quoteVolume")),
                  # ccxt 的 percentage 是百分数（1.5 即 1.5%），事件里统一用小数
                  "change_24h": None if percentage is None else percentage / 100.0}
        changed = False
        for name, value in fields.items():
            if value is not None and value != getattr(self, name):
                setattr(self, name, value)
                changed = True
        ts = ticker.get("timestamp")
        if ts is not None and int(ts) > self.ts:
            self.ts = int(ts)
            changed = True
        self.source = source
        return changed

    @property
    def has_book(self) -> bool:
        """是否已有买一与卖一。"""
        return self.bid is not None and self.ask is not None

    def payload(self) -> dict[str, Any]:
        """QUOTE 事件的负载（键见模块说明）。"""
        return asdict(self)


class TickerWatcher:
    """全部交易对的报价订阅：每个交易对一个 ticker 任务（需要时再加一个 bids_asks 任务），外加一个合并发布的任务。"""

    def __init__(self, engine: "TraderEngine", retry: RetryPolicy = RetryPolicy()):
        """engine 为所属引擎（交易对取自它的实例，事件经它发布）；retry 为流重连的退避策略。"""
        # 所属引擎
        self.engine = engine
        # 流重连的退避策略（次数不限，只用它的等待时间）
        self.retry = retry
        # 交易对 -> 合并后的最新报价
        self.states: dict[str, TickerState] = {}
        # 有了新内容、还没发布的交易对
        self._dirty: set[str] = set()
        # 有新内容时置位，唤醒发布任务
        self._wake = asyncio.Event()
        # 已经为之启动了 bids_asks 任务的交易对
        self._book_symbols: set[str] = set()
        # 运行中的任务组（run 期间才有；ticker 没有买卖价时往里加 bids_asks 任务）
        self._group: asyncio.TaskGroup | None = None

    @property
    def exchange(self) -> Any:
        """引擎的 ccxt.pro 客户端（与 K 线订阅共用）。"""
        return self.engine.market.exchange

    def symbols(self) -> list[str]:
        """要报价的交易对：各实例交易的交易对（去重，按配置顺序）。"""
        return list(dict.fromkeys(bot.symbol for bot in self.engine.bots.values()))

    async def run(self) -> None:
        """运行到被取消（引擎停止）：每个交易对一个 ticker 任务，加一个发布任务。没有交易对时立即返回。"""
        symbols = self.symbols()
        if not symbols:
            return
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                group.create_task(self._publish_loop())
                for symbol in symbols:
                    self.states.setdefault(symbol, TickerState(symbol))
                    group.create_task(self._follow(symbol, TICKER))
        finally:
            self._group = None
            self._book_symbols.clear()

    # ---- 一条订阅 ----------------------------------------------------------------------------------

    async def _follow(self, symbol: str, channel: Channel) -> None:
        """一个交易对的一种报价：流优先；流出错时按退避重连，其间每 POLL_S 秒用 REST 取一次。"""
        has = getattr(self.exchange, "has", {}) or {}
        streaming = bool(has.get(channel.watch))
        polling = bool(has.get(channel.fetch))
        if not streaming and not polling:
            log.info("no quotes from the exchange symbol=%s channel=%s", symbol, channel.name)
            return
        failures, retry_at, down = 0, 0.0, False
        pending: asyncio.Future | None = None
        try:
            while True:
                if streaming and pending is None and time.monotonic() >= retry_at:
                    pending = asyncio.ensure_future(self._fetch(channel, symbol, stream=True))
                if pending is not None:
                    done, _ = await asyncio.wait({pending}, timeout=SILENCE_S)
                    if not done:
                        # 流静默（没断）：用 REST 补一份报价，继续等同一个订阅
                        log.debug("quote stream silent symbol=%s channel=%s", symbol, channel.name)
                        await self._poll(channel, symbol, polling)
                        continue
                    future, pending = pending, None
                    try:
                        ticker = future.result()
                    except ccxt.NotSupported:
                        streaming = False
                        log.info("quote stream not supported, polling REST symbol=%s channel=%s", symbol,
                                 channel.name)
                    except ccxt.BaseError as exc:
                        failures += 1
                        retry_at = time.monotonic() + backoff_delay(self.retry, failures)
                        if not down:
                            down = True
                            log.warning("quote stream failed, polling REST until it reconnects symbol=%s "
                                        "channel=%s error=%s", symbol, channel.name, type(exc).__name__)
                        else:
                            log.debug("quote stream still failing symbol=%s failures=%s error=%s", symbol,
                                      failures, type(exc).__name__)
                    else:
                        if down:
                            down = False
                            log.info("quote stream restored symbol=%s channel=%s failures=%s", symbol,
                                     channel.name, failures)
                        failures = 0
                        self._apply(symbol, ticker, "stream", channel)
                        continue
                await self._poll(channel, symbol, polling)
                wait = POLL_S if not streaming else min(POLL_S, max(retry_at - time.monotonic(), 0.0))
                await asyncio.sleep(wait)
        finally:
            if pending is not None and not pending.done():
                pending.cancel()

    async def _fetch(self, channel: Channel, symbol: str, *, stream: bool) -> dict[str, Any]:
        """取一份报价：stream=True 走 websocket（watch_*），否则走 REST（fetch_*）；返回这个交易对的 ccxt ticker。"""
        exchange = self.exchange
        if channel.batch:
            method = exchange.watch_bids_asks if stream else exchange.fetch_bids_asks
            return (await method([symbol])).get(symbol) or {}
        if stream:
            return await exchange.watch_ticker(symbol, dict(STREAM_PARAMS.get(exchange.id, {})))
        return await exchange.fetch_ticker(symbol)

    async def _poll(self, channel: Channel, symbol: str, polling: bool) -> None:
        """REST 回退取一次（交易所不支持时什么也不做）；失败只记 debug 日志，下一轮再试。"""
        if not polling:
            return
        try:
            ticker = await self._fetch(channel, symbol, stream=False)
        except ccxt.BaseError as exc:
            log.debug("quote poll failed symbol=%s channel=%s error=%s", symbol, channel.name, type(exc).__name__)
            return
        self._apply(symbol, ticker, "rest", channel)

    def _apply(self, symbol: str, ticker: dict[str, Any], source: str, channel: Channel) -> None:
        """并入一份报价，有变化时排进发布；ticker 没有买卖价时（如 Binance 合约）为这个交易对加开 bids_asks 任务。"""
        state = self.states.setdefault(symbol, TickerState(symbol))
        if state.merge(ticker, source):
            self._dirty.add(symbol)
            self._wake.set()
        if channel is TICKER and not state.has_book and symbol not in self._book_symbols \
                and self._group is not None:
            has = getattr(self.exchange, "has", {}) or {}
            if has.get(BIDS_ASKS.watch) or has.get(BIDS_ASKS.fetch):
                self._book_symbols.add(symbol)
                self._group.create_task(self._follow(symbol, BIDS_ASKS))

    # ---- 发布 --------------------------------------------------------------------------------------

    async def _publish_loop(self) -> None:
        """有新内容就把变了的交易对各发一个 QUOTE，然后至少隔 PUBLISH_S 秒再发下一批（之间的更新合并）。"""
        while True:
            await self._wake.wait()
            self._wake.clear()
            dirty, self._dirty = self._dirty, set()
            for symbol in dirty:
                self.engine.publish(EventKind.QUOTE, **self.states[symbol].payload())
            await asyncio.sleep(PUBLISH_S)
