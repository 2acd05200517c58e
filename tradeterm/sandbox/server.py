"""本地沙盒交易所：在 127.0.0.1 上以 Binance 现货（及 USD-M 永续合约）的路径提供 REST 与 websocket，
供原版 ccxt 客户端连接。

进程内使用（测试夹具、应用离线默认）：

    async with SandboxExchange(port=0, speed=60) as sandbox:
        exchange = sandbox.client()            # 指向沙盒、已带演示凭证的 ccxt.async_support.binance
        pro = sandbox.client(pro=True)         # ccxt.pro.binance（websocket）
        perp = sandbox.client(market_types=("spot", "linear"))  # 再加载永续合约市场（BTC/USDT:USDT）
        sandbox.faults.fail_http(429)          # 故障注入
        sandbox.clock.advance(60_000)          # 拨快模拟时间

也可作为独立进程运行：`tradeterm sandbox --port 8765`（见 tradeterm/cli/sandbox.py）。

给出 state_path 时沙盒是持久的（见 state.py）：账户、订单、成交、计数器、模拟时钟与行情锚点都写进那个 SQLite 文件，
重启后从那里接着运行。写入是同步的、先于对外可见：改动状态的 HTTP 请求在返回响应之前提交，节拍在撮合之后、
任何推送发出之前提交。
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from pathlib import Path
from typing import Any

from aiohttp import web

from tradeterm.errors import UserError
from tradeterm.execution.fills import round_amount

from tradeterm.sandbox.accounts import Account
from tradeterm.sandbox.clock import SimClock
from tradeterm.sandbox.faults import FaultInjector
from tradeterm.sandbox.futures import FuturesAccount, FuturesEngine
from tradeterm.sandbox.futures_rest import add_futures_routes
from tradeterm.sandbox.market import SymbolMarket
from tradeterm.sandbox.matching import MatchingEngine, TradingConfig
from tradeterm.sandbox.gateway import SANDBOX_KEY, binance_middleware, sandbox_of
from tradeterm.sandbox.rest import add_routes
from tradeterm.sandbox.defaults import (DEFAULT_API_KEY, DEFAULT_HISTORY_BARS, DEFAULT_HOST, DEFAULT_SECRET,
                                        DEFAULT_SYMBOLS, DEFAULT_TICK_S)
from tradeterm.sandbox.sources import anchor_mismatch, load_markets
from tradeterm.sandbox.state import SandboxStore, reset_state_file
from tradeterm.sandbox.streams import StreamHub

log = logging.getLogger(__name__)

# 请求日志保留的最近请求条数
REQUEST_LOG_LENGTH = 100_000
# 只读的 HTTP 方法：其余方法（POST/PUT/DELETE）的请求处理完后都要把状态落盘
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@web.middleware
async def persist_middleware(request: web.Request, handler) -> web.StreamResponse:
    """改动状态的请求（下单、撤单、杠杆……）处理完、响应发出之前把状态提交到状态文件。

    放在最外层，并且无论处理成功与否都保存：客户端收到的每个响应所反映的状态都已落盘，进程随后被杀也不会丢。
    """
    try:
        return await handler(request)
    finally:
        if request.method not in READ_ONLY_METHODS:
            sandbox_of(request).save()



class SandboxExchange:
    """沙盒交易所：行情回放 + 撮合 + REST/websocket 服务器 + 故障注入。"""

    def __init__(
        self,
        *,
        host: str = DEFAULT_HOST,
        port: int = 0,
        data: list[str] | None = None,
        symbols: tuple[str, ...] = DEFAULT_SYMBOLS,
        speed: float = 1.0,
        seed: int = 7,
        history_bars: int = DEFAULT_HISTORY_BARS,
        api_key: str = DEFAULT_API_KEY,
        secret: str = DEFAULT_SECRET,
        trading: TradingConfig | None = None,
        tick_s: float = DEFAULT_TICK_S,
        state_path: Path | str | None = None,
        reset_state: bool = False,
    ):
        """data 为 CSV 列表（[SYMBOL=]FILE.csv；为空时按 symbols 生成合成行情）；speed 为回放倍速；
        port 为 0 时使用随机空闲端口；api_key/secret 为默认账户的凭证；tick_s 为撮合/推送节拍（秒）。

        state_path 为状态文件（None：只在内存里，进程结束即丢失）：文件已有状态时从中恢复账户、订单、成交、计数器、
        模拟时钟与行情（此时 seed、history_bars 取保存的值）；reset_state=True 时先删除它，从新账户、新行情开始。
        """
        if reset_state and state_path is not None:
            reset_state_file(Path(state_path))
        # 状态文件（state_path 为 None 时没有，沙盒只在内存里）
        self.store = SandboxStore(state_path) if state_path is not None else None
        try:
            saved = self._load(data, symbols, seed, history_bars, trading or TradingConfig())
        except BaseException:
            self.close_state()
            raise
        # 是否从状态文件恢复了已有的账户（False：新的沙盒）
        self.restored = saved is not None
        clock_ts, last_tick_ts = saved or (self._anchor.start_ts, self._anchor.start_ts)
        # 监听地址
        self.host = host
        # 请求的端口（0 为随机）；启动后 self.port 为实际端口
        self.port = port
        # 行情的模拟时钟；恢复时从保存的模拟时间接着走（而不是从墙上时间的此刻）
        self.clock = SimClock(clock_ts, speed)
        # 故障注入
        self.faults = FaultInjector()
        # 最近收到的 HTTP 请求：(方法, 路径, 查询参数)，测试据此数请求；有上限，长时间运行不会占满内存
        self.request_log: deque[tuple[str, str, dict[str, str]]] = deque(maxlen=REQUEST_LOG_LENGTH)
        # 旧式 listenKey -> 账户
        self.listen_keys: dict[str, Account] = {}
        # websocket 连接与推送
        self.hub = StreamHub(self)
        # 撮合/推送节拍，墙上秒
        self.tick_s = tick_s
        # 默认账户的 API key
        self.api_key = api_key
        # 默认账户的签名密钥
        self.secret = secret
        # aiohttp 的运行器（启动后才有）
        self._runner: web.AppRunner | None = None
        # 节拍任务（启动后才有）
        self._pump: asyncio.Task | None = None
        # 上一个节拍的模拟时间，UTC 毫秒
        self._last_tick_ts = last_tick_ts
        if api_key in self.engine.accounts:
            # 恢复的默认账户：凭证以本次参数为准，余额与订单保留
            self.engine.accounts[api_key].secret = self.futures.accounts[api_key].secret = secret
            self.save()
        else:
            self.add_account(api_key, secret)

    def _load(self, data: list[str] | None, symbols: tuple[str, ...], seed: int, history_bars: int,
              trading: TradingConfig) -> tuple[int, int] | None:
        """建行情与撮合引擎（self.engine、self.futures），有状态文件时从中恢复；返回恢复的（模拟时间, 上一个节拍）或 None。"""
        anchor = self.store.market_anchor() if self.store is not None else None
        markets, built = load_markets(data, tuple(symbols), seed, history_bars, anchor)
        problem = anchor_mismatch(anchor, built) if anchor is not None else None
        if problem:
            raise UserError(f"sandbox state {self.store.path}: {problem}; or reset it to start a fresh account "
                            f"and market (tradeterm sandbox --reset --state {self.store.path})")
        # 这段行情的锚点（起点、历史根数、种子），持久化时存进状态文件
        self._anchor = built
        # 现货撮合引擎（持有行情与现货账户）
        self.engine = MatchingEngine(markets, trading)
        # USD-M 永续合约撮合引擎（与现货共用行情序列，账户与钱包独立）
        self.futures = FuturesEngine(markets, trading)
        if self.store is None:
            return None
        self.store.save_anchor(built)
        return self.store.restore(self._books())

    # ---- 生命周期 ----------------------------------------------------------------------------------------

    async def start(self) -> "SandboxExchange":
        """启动 HTTP/websocket 服务器与节拍任务；返回自身。"""
        if self.store is not None and not self.store.is_open:
            raise RuntimeError(f"the state file {self.store.path} was closed by stop(); create a new "
                               f"SandboxExchange(state_path=...) to serve it again")
        app = web.Application(middlewares=[persist_middleware, binance_middleware])
        app[SANDBOX_KEY] = self
        add_routes(app)
        add_futures_routes(app)
        # 现货行情流在 /ws、/stream；ccxt 把合约行情流改写到 /market/ws、/public/ws，合约用户数据在 /private/ws
        for path in ("/ws", "/ws/{name:.*}", "/stream", "/market/ws", "/market/ws/{name:.*}", "/public/ws",
                     "/public/ws/{name:.*}", "/private/ws"):
            app.router.add_get(path, self.hub.market_handler)
        app.router.add_get("/ws-api/v3", self.hub.ws_api_handler)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # 端口 0 时取系统分配的实际端口
        if not self.restored:
            # 新沙盒：构造到启动之间的时间不撮合；恢复的沙盒则从保存的上一个节拍接着撮合，不漏掉那一小段行情
            self._last_tick_ts = self.clock.now()
        self._pump = asyncio.create_task(self._run_pump())
        log.info("sandbox started url=%s symbols=%s speed=%s", self.url, ",".join(self.symbols), self.clock.speed)
        return self

    async def stop(self) -> None:
        """停止节拍任务、关闭全部连接与服务器。"""
        if self._pump is not None:
            self._pump.cancel()
            await asyncio.gather(self._pump, return_exceptions=True)
            self._pump = None
        await self.hub.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.save()
        self.close_state()

    async def __aenter__(self) -> "SandboxExchange":
        """async with 进入：启动。"""
        return await self.start()

    async def __aexit__(self, *exc_info: Any) -> None:
        """async with 退出：停止。"""
        await self.stop()

    # ---- 便利接口 ----------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """REST 基地址，如 http://127.0.0.1:8765。"""
        return f"http://{self.host}:{self.port}"

    @property
    def symbols(self) -> list[str]:
        """沙盒提供的 ccxt 交易对。"""
        return [m.spec.symbol for m in self.engine.markets.values()]

    def market(self, symbol: str) -> SymbolMarket:
        """按 ccxt 交易对（BTC/USDT）取行情。"""
        return self.engine.markets[symbol.replace("/", "")]

    def add_account(self, api_key: str, secret: str, balances: dict[str, float] | None = None) -> Account:
        """新增（或重置）一个账户：现货钱包默认 10,000 USDT，合约钱包另有 10,000 USDT；返回现货账户。"""
        account = Account(api_key, secret, balances)
        self.engine.accounts[api_key] = account
        self.futures.accounts[api_key] = FuturesAccount(api_key, secret)
        self.save()
        return account

    def account(self, api_key: str | None = None) -> Account:
        """取账户（默认为启动时的演示账户）。"""
        return self.engine.accounts[api_key or self.api_key]

    def client(self, *, pro: bool = False, api_key: str | None = None, secret: str | None = None,
               **kwargs: Any) -> Any:
        """返回指向本沙盒、带凭证的原版 ccxt binance 客户端（pro=True 为 ccxt.pro）。用完需 await close()。"""
        from tradeterm.exchange.client import make_client

        return make_client(self.url, api_key=api_key or self.api_key, secret=secret or self.secret, pro=pro,
                           **kwargs)

    def requests_to(self, path: str) -> list[dict[str, str]]:
        """收到的发往 path 的请求的查询参数列表（测试用来数请求）。"""
        return [query for _method, request_path, query in self.request_log if request_path == path]

    # ---- 持久化 ------------------------------------------------------------------------------------------

    def _books(self) -> dict[str, MatchingEngine]:
        """状态文件里的账户簿：book 名 -> 撮合引擎。"""
        return {"spot": self.engine, "futures": self.futures}

    def save(self) -> None:
        """把自上次保存以来的变化同步提交到状态文件（没有状态文件时什么也不做）。"""
        if self.store is not None and self.store.is_open:
            self.store.save(self._books(), self.clock.now(), self._last_tick_ts)

    def close_state(self) -> None:
        """关闭状态文件并释放它的锁（stop() 会调用；之后的 save() 不再写入）。"""
        if self.store is not None:
            self.store.close()

    # ---- 节拍 --------------------------------------------------------------------------------------------

    async def _run_pump(self) -> None:
        """每 tick_s 秒推进一次：撮合挂单、产生公开成交、推送订阅的行情流、执行断线故障。"""
        while True:
            await asyncio.sleep(self.tick_s)
            try:
                await self.tick()
            except Exception:  # 节拍任务不能因一次异常而停止，否则行情与撮合都会冻结
                log.exception("sandbox tick failed")

    async def tick(self) -> None:
        """推进一个节拍（也可在测试里直接调用，使拨快的时钟立即生效）。"""
        now = self.clock.now()
        previous, self._last_tick_ts = self._last_tick_ts, now
        if now > previous:
            self.engine.advance(previous, now)
            self.futures.advance(previous, now)
            tape = [(market, self._trade_tape(market, previous, now)) for market in self.engine.markets.values()]
            # 撮合产生的回报此时只进了各连接的发送队列（发送任务要等下一个 await 才运行）：在任何 await 之前同步提交，
            # 客户端收到的每笔成交就都已落盘
            self.save()
            streams = self.hub.active_streams()
            for market, trade in tape:
                self.hub.push_trade(market, *trade, streams)
            self.hub.push_market(now, streams)
        await self.hub.enforce_drops()

    def _trade_tape(self, market: SymbolMarket, t0: int, t1: int) -> tuple[int, float, float, int, bool]:
        """为 (t0, t1] 记一笔公开成交：价格为 t1 的当前价，数量为这段时间的成交量（至少一个数量步长）。

        返回（编号, 价格, 数量, 时间 UTC 毫秒, 买方是否挂单方），推送由调用方在落盘之后进行。
        """
        volume = sum(segment[5] for segment in market.segments(t0, t1))
        step = market.spec.amount_step
        amount = max(round_amount(volume, step), step)
        price = market.price(t1)
        buyer_maker = price < market.price(t0)
        return market.record_trade(price, amount, t1, buyer_maker), price, amount, t1, buyer_maker
