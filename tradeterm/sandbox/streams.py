"""沙盒的 websocket：行情流（/ws、/ws/<名字>、/stream?streams=...）与 websocket API（/ws-api/v3，用户数据流）。

行情流支持 Binance 的 SUBSCRIBE/UNSUBSCRIBE/LIST_SUBSCRIPTIONS 请求，流名：
`<symbol>@kline_<interval>`、`@trade`、`@aggTrade`、`@ticker`、`@miniTicker`、`@bookTicker`、`@depth<5|10|20>`。
/stream 上的消息包成 {"stream": 名字, "data": 事件}（组合流）；/ws 上直接是事件。
websocket API 支持 `userDataStream.subscribe.signature`（ccxt.pro 现货用户数据的做法）、
`userDataStream.unsubscribe`、`ping`、`time`；订阅后账户事件以 {"subscriptionId": N, "event": 事件} 推送。
旧式 listenKey：连接 /ws/<listenKey>（现货）或 /private/ws?listenKey=<key>（合约）即收到该账户的事件。
ccxt.pro 把合约的行情流地址改写为 /market/ws、/public/ws，它们与 /ws 由同一个处理函数服务；这些路径上的连接是
合约连接，ticker 类流按 Binance 合约的字段形状推送（@ticker 不带买卖价，@bookTicker 多 e/E/T，见 payloads）。

每个连接一个发送队列和一个发送任务；故障注入（静默、重复、乱序、断开）在发送时套用。
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import WSMsgType, web

from tradeterm.config.markets import TIMEFRAME_MS
from tradeterm.sandbox import auth, errors, payloads
from tradeterm.sandbox.accounts import Account
from tradeterm.sandbox.errors import BinanceError
from tradeterm.sandbox.market import SymbolMarket, bucket_start

if TYPE_CHECKING:
    from tradeterm.sandbox.server import SandboxExchange

log = logging.getLogger(__name__)

# 行情流名的格式：交易对 id（小写）@ 频道
# 盘口只提供定档快照流（depth5/10/20）；增量流（<symbol>@depth）需要与 REST 快照对齐更新编号，沙盒不提供
STREAM_NAME = re.compile(r"^([a-z0-9]+)@(kline_[0-9a-zA-Z]+|trade|aggTrade|ticker|miniTicker|bookTicker|"
                         r"depth(?:5|10|20)(?:@100ms|@1000ms)?)$")
# 一个节拍里最多补发多少根已收盘的 K 线（时钟被大幅拨快时不一次推送成千上万条）
MAX_CLOSED_PER_TICK = 100
# 每个连接发送队列的最大长度（超过时丢弃最旧的行情消息，避免慢客户端拖住服务器）
SEND_QUEUE_LIMIT = 10_000
# 合约连接的路径前缀（ccxt.pro 改写后的 USD-M 行情流与用户数据流地址）
FUTURES_PATHS = ("/market/", "/public/", "/private/")
# ticker 类行情流的频道（每个节拍由 24hr ticker 生成，现货与合约形状不同）
TICKER_CHANNELS = ("ticker", "miniTicker", "bookTicker")


@dataclass(eq=False)
class Connection:
    """一个 websocket 连接：订阅的流、发送队列与故障状态。"""

    ws: web.WebSocketResponse          # aiohttp 的 websocket 响应对象
    combined: bool                     # 是否为组合流（/stream），消息需包成 {"stream","data"}
    generation: int                    # 连接建立时的断开代次（故障注入 drop_websockets 用）
    futures: bool = False              # 是否为 USD-M 合约连接（/market/ws、/public/ws、/private/ws）
    streams: set[str] = field(default_factory=set)  # 订阅的行情流名
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(SEND_QUEUE_LIMIT))  # 待发送的文本消息
    held: str | None = None            # 乱序故障：被扣住、要在下一条之后发送的消息
    listeners: list[tuple[Account, object]] = field(default_factory=list)  # 挂在账户上的用户数据回调
    sender: asyncio.Task | None = None  # 发送任务（逐条发出 queue 里的消息）

    def enqueue(self, text: str) -> None:
        """把一条消息放进发送队列；队列满时丢弃最旧的一条。"""
        if self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(text)


class StreamHub:
    """全部 websocket 连接：握手、请求处理、按节拍推送行情、转发用户数据事件。"""

    def __init__(self, sandbox: "SandboxExchange"):
        """sandbox 提供时钟、撮合引擎（行情与账户）与故障注入。"""
        # 所属沙盒
        self.sandbox = sandbox
        # 当前全部连接
        self.connections: set[Connection] = set()
        # K 线流 -> 上次推送的 K 线开盘时间（UTC 毫秒），用于在换根时补发已收盘的那根（x=true）
        self._kline_bucket: dict[str, int] = {}
        # websocket API 订阅编号计数
        self._next_subscription = 0

    # ---- 握手与收消息 -----------------------------------------------------------------------------------

    async def market_handler(self, request: web.Request) -> web.StreamResponse:
        """行情流的握手与收消息循环（/ws、/ws/<名字>、/stream）。"""
        conn = await self._accept(request, combined=request.path.startswith("/stream"),
                                  futures=request.path.startswith(FUTURES_PATHS))
        if conn is None:
            return web.Response(status=503, text="Service Unavailable")
        name = request.match_info.get("name", "")
        # 旧式现货流是 /ws/<listenKey>，合约流是 /private/ws?listenKey=<key>
        listen_account = self.sandbox.listen_keys.get(name or request.query.get("listenKey", ""))
        if listen_account is not None:
            self._attach(conn, listen_account, lambda event: conn.enqueue(json.dumps(event)))
        elif name:
            conn.streams.update(n for n in name.split("/") if STREAM_NAME.match(n))
        conn.streams.update(n for n in request.query.get("streams", "").split("/") if STREAM_NAME.match(n))
        await self._receive(conn, self._market_request)
        return conn.ws

    async def ws_api_handler(self, request: web.Request) -> web.StreamResponse:
        """websocket API（/ws-api/v3）的握手与收消息循环。"""
        conn = await self._accept(request, combined=False)
        if conn is None:
            return web.Response(status=503, text="Service Unavailable")
        await self._receive(conn, self._api_request)
        return conn.ws

    async def _accept(self, request: web.Request, combined: bool, futures: bool = False) -> Connection | None:
        """完成握手并登记连接（futures：合约连接）、启动发送任务；故障注入要求拒绝时返回 None。"""
        if self.sandbox.faults.take_refusal():
            return None
        ws = web.WebSocketResponse(autoping=False, heartbeat=None)
        await ws.prepare(request)
        conn = Connection(ws, combined, self.sandbox.faults.drop_generation, futures)
        self.connections.add(conn)
        conn.sender = asyncio.create_task(self._send_loop(conn))
        return conn

    async def _receive(self, conn: Connection, handle) -> None:
        """收消息直到连接关闭：文本交给 handle，ping 在不静默时回 pong；结束时清理。"""
        try:
            async for msg in conn.ws:
                if msg.type == WSMsgType.TEXT:
                    reply = await handle(conn, msg.data)
                    if reply is not None:
                        conn.enqueue(json.dumps(reply))
                elif msg.type == WSMsgType.PING and not self.sandbox.faults.websockets_silent():
                    await conn.ws.pong(msg.data)
                elif msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                    break
        finally:
            self._forget(conn)

    def _forget(self, conn: Connection) -> None:
        """连接结束：停止发送任务、摘掉用户数据回调。"""
        self.connections.discard(conn)
        if conn.sender is not None:
            conn.sender.cancel()
        for account, listener in conn.listeners:
            account.listeners.discard(listener)
        conn.listeners.clear()

    def _attach(self, conn: Connection, account: Account, listener) -> None:
        """把用户数据回调挂到账户上，连接结束时自动摘掉。"""
        account.listeners.add(listener)
        conn.listeners.append((account, listener))

    async def _market_request(self, conn: Connection, text: str) -> dict | None:
        """处理行情流上的请求：SUBSCRIBE、UNSUBSCRIBE、LIST_SUBSCRIPTIONS。"""
        try:
            request = json.loads(text)
            method, params, request_id = request.get("method"), request.get("params") or [], request.get("id")
        except (json.JSONDecodeError, AttributeError):
            return {"error": {"code": 3, "msg": "Invalid JSON: expected value at line 1 column 1"}, "id": None}
        if method == "LIST_SUBSCRIPTIONS":
            return {"result": sorted(conn.streams), "id": request_id}
        if method not in ("SUBSCRIBE", "UNSUBSCRIBE"):
            return {"error": {"code": 2, "msg": f"Invalid request: unknown method '{method}'"}, "id": request_id}
        names = [str(p) for p in params]
        if any(not STREAM_NAME.match(n) or n.split("@")[0].upper() not in self.sandbox.engine.markets
               for n in names):
            return {"error": {"code": 2, "msg": "Invalid request: invalid stream"}, "id": request_id}
        if method == "SUBSCRIBE":
            conn.streams.update(names)
        else:
            conn.streams.difference_update(names)
        return {"result": None, "id": request_id}

    async def _api_request(self, conn: Connection, text: str) -> dict:
        """处理 websocket API 请求；错误以 {"status": 4xx, "error": {"code","msg"}} 返回。"""
        try:
            request = json.loads(text)
            method, params, request_id = request.get("method"), request.get("params") or {}, request.get("id")
        except (json.JSONDecodeError, AttributeError):
            return {"id": None, "status": 400, "error": {"code": -1102, "msg": "Malformed request."}}
        try:
            result = self._api_call(conn, method, params)
        except BinanceError as exc:
            return {"id": request_id, "status": exc.status, "error": exc.body()}
        return {"id": request_id, "status": 200, "result": result, "rateLimits": []}

    def _api_call(self, conn: Connection, method: str, params: dict) -> dict:
        """执行一条 websocket API 方法，返回 result。"""
        if method == "ping":
            return {}
        if method == "time":
            return {"serverTime": self.sandbox.clock.now()}
        if method == "userDataStream.subscribe.signature":
            account = self.sandbox.engine.accounts.get(str(params.get("apiKey", "")))
            if account is None:
                raise BinanceError(errors.REJECTED_API_KEY, status=401)
            auth.verify_ws(params, account.secret)
            auth.check_timestamp({k: str(v) for k, v in params.items()}, (self.sandbox.clock.now(),))
            subscription = self._next_subscription
            self._next_subscription += 1

            def forward(event: dict) -> None:
                """把账户事件包上订阅编号放进这个连接的发送队列。"""
                conn.enqueue(json.dumps({"subscriptionId": subscription, "event": event}))

            self._attach(conn, account, forward)
            log.info("user data subscribed subscription=%s", subscription)
            return {"subscriptionId": subscription}
        if method == "userDataStream.unsubscribe":
            for account, listener in conn.listeners:
                account.listeners.discard(listener)
            conn.listeners.clear()
            return {}
        raise BinanceError((-1100, f"Unknown method '{method}'."))

    # ---- 发送 --------------------------------------------------------------------------------------------

    async def _send_loop(self, conn: Connection) -> None:
        """逐条发送队列里的消息，并在发送时套用故障：静默（丢弃）、重复、乱序。"""
        faults = self.sandbox.faults
        try:
            while True:
                text = await conn.queue.get()
                if faults.websockets_silent():
                    continue
                if faults.take_reorder() and conn.held is None:
                    conn.held = text
                    continue
                copies = 2 if faults.take_duplicate() else 1
                for _ in range(copies):
                    await conn.ws.send_str(text)
                if conn.held is not None:
                    held, conn.held = conn.held, None
                    await conn.ws.send_str(held)
        except (ConnectionError, RuntimeError):
            pass  # 对方已断开：由收消息循环负责清理

    def publish(self, stream: str, event: dict, futures_event: dict | None = None) -> None:
        """把一条行情事件放进订阅了 stream 的每个连接的队列；给出 futures_event 时合约连接收到的是它。"""
        # (是否合约形状, 是否组合流) -> 编码好的文本：每种形状只编码一次
        texts: dict[tuple[bool, bool], str] = {}
        for conn in self.connections:
            if stream in conn.streams:
                shaped = conn.futures and futures_event is not None
                key = (shaped, conn.combined)
                if key not in texts:
                    data = futures_event if shaped else event
                    texts[key] = json.dumps({"stream": stream, "data": data} if conn.combined else data)
                conn.enqueue(texts[key])

    def active_streams(self) -> set[str]:
        """当前至少有一个连接订阅的行情流名。"""
        names: set[str] = set()
        for conn in self.connections:
            names |= conn.streams
        return names

    async def enforce_drops(self) -> None:
        """关闭在最近一次 drop_websockets() 之前建立的连接（模拟断线）。"""
        generation = self.sandbox.faults.drop_generation
        for conn in [c for c in self.connections if c.generation < generation]:
            log.info("websocket dropped by fault injection")
            self._forget(conn)
            await conn.ws.close(code=1011, message=b"dropped by fault injection")

    async def close_all(self) -> None:
        """关闭全部连接（服务器停止时）。"""
        for conn in list(self.connections):
            self._forget(conn)
            await conn.ws.close(code=1001, message=b"server shutdown")

    # ---- 行情推送 ----------------------------------------------------------------------------------------

    def push_market(self, now: int, streams: Iterable[str]) -> None:
        """为当前被订阅的每个行情流生成此刻的事件并推送。"""
        tickers: dict[str, dict] = {}
        for stream in sorted(streams):
            market_id, channel = stream.split("@", 1)
            market = self.sandbox.engine.markets.get(market_id.upper())
            if market is None:
                continue
            if channel.startswith("kline_"):
                # 注入的流滞后（faults.lag_stream）：这个流推送的是更早的行情
                lagged = now - self.sandbox.faults.stream_lag(market.spec.market_id)
                self._push_kline(stream, market, channel[len("kline_"):], lagged)
            elif channel in TICKER_CHANNELS:
                ticker = tickers.get(market_id) or tickers.setdefault(market_id, market.ticker(now))
                self.publish(stream, *payloads.ticker_stream_events(channel, ticker, now))
            elif channel.startswith("depth"):
                levels = int(re.match(r"depth(\d+)", channel).group(1))
                self.publish(stream, market.order_book(now, levels))

    def _push_kline(self, stream: str, market: SymbolMarket, interval: str, now: int) -> None:
        """推送一个 K 线流：换根时先补发上一根的最终值（x=true），再发正在走的这根（x=false）。"""
        timeframe = TIMEFRAME_MS.get(interval)
        if timeframe is None or timeframe % market.series.timeframe_ms:
            return
        current = bucket_start(now, timeframe)
        previous = self._kline_bucket.get(stream)
        if previous is not None and previous < current:
            # 倍速回放时一个节拍可能走过好几根：每根收盘的 K 线都补发最终值（最多 MAX_CLOSED_PER_TICK 根）
            count = min((current - previous) // timeframe, MAX_CLOSED_PER_TICK)
            for row in market.klines(now, timeframe, current - count * timeframe, current - 1, count):
                self.publish(stream, payloads.kline_event(market.spec, interval, row, now, True))
        self._kline_bucket[stream] = current
        rows = market.klines(now, timeframe, None, None, 1)
        if rows:
            self.publish(stream, payloads.kline_event(market.spec, interval, rows[-1], now, False))

    def push_trade(self, market: SymbolMarket, trade_id: int, price: float, amount: float, now: int,
                   buyer_maker: bool, streams: set[str]) -> None:
        """推送一笔公开成交到 @trade 与 @aggTrade 流。"""
        prefix = market.spec.market_id.lower()
        if f"{prefix}@trade" in streams:
            self.publish(f"{prefix}@trade", payloads.trade_event(market.spec, trade_id, price, amount, now,
                                                                 buyer_maker))
        if f"{prefix}@aggTrade" in streams:
            self.publish(f"{prefix}@aggTrade", payloads.agg_trade_event(market.spec, trade_id, price, amount, now,
                                                                        buyer_maker))
