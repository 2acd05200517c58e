"""经 ccxt 下单的经纪商：下单、撤单、查单、查成交与余额，以及 websocket 的订单/成交推送。

下单不能盲目重试（DESIGN.md）：网络错误或超时之后，订单可能已经到了交易所。所以重试之前先按客户端订单号
（Binance 的 origClientOrderId）查询；查到就用查到的结果，确实没有才重发，且重发用同一个客户端订单号——
即使两次都到了交易所，交易所也会以“重复的客户端订单号”拒绝第二次，而不是下两张单。
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import ccxt

from tradeterm.execution.fills import MarketRules, market_rules_from_ccxt
from tradeterm.exchange.retry import RetryPolicy, backoff_delay, call_with_retry
from tradeterm.models import Order, OrderType, Side
from tradeterm.orders.state_machine import OrderUpdate

log = logging.getLogger(__name__)

# 账户标识里 API key 摘要（sha256 十六进制）的长度，字符（只用摘要的前缀，密钥本身从不出现）
ACCOUNT_DIGEST_CHARS = 12


class OrderRejected(Exception):
    """交易所明确拒绝了订单（余额不足、不满足过滤器、参数错 ...）；消息为交易所的说明。"""


@dataclass(frozen=True, slots=True)
class TradeReport:
    """交易所报告的一笔成交（ccxt 统一成交结构的子集）。数量为基础货币，价格为计价货币。"""

    trade_id: str            # 交易所成交编号
    exchange_order_id: str   # 所属订单的交易所订单号
    symbol: str              # 交易对
    side: Side               # 买或卖
    price: float             # 成交价，计价货币
    amount: float            # 成交数量，基础货币
    fee: float               # 手续费金额
    fee_currency: str        # 手续费币种
    ts: int                  # 成交时间，UTC 毫秒
    is_maker: bool           # 是否挂单方

    @classmethod
    def from_ccxt(cls, trade: dict[str, Any], order_id: str | None = None) -> "TradeReport":
        """由 ccxt 的成交字典构造；订单响应里的成交没有 order 字段时用 order_id。"""
        fee = trade.get("fee") or {}
        quote = str(trade.get("symbol") or "/").split("/")[1].split(":")[0]
        return cls(str(trade["id"]), str(trade.get("order") or order_id or ""), str(trade["symbol"]),
                   Side(trade["side"]), float(trade["price"]), float(trade["amount"]), float(fee.get("cost") or 0.0),
                   str(fee.get("currency") or quote), int(trade.get("timestamp") or 0),
                   trade.get("takerOrMaker") == "maker")


class CcxtBroker:
    """一个 ccxt.pro 客户端之上的经纪商（REST 下单 + websocket 回报）。"""

    def __init__(self, exchange: Any, *, retry: RetryPolicy = RetryPolicy(), market_type: str | None = None):
        """exchange 为 ccxt.pro 客户端（真实交易所或指向沙盒）；retry 为网络错误的重试策略；
        market_type 为账户标识里的市场类型（缺省取 ccxt 的 options.defaultType，再缺省为 spot）。"""
        # ccxt.pro 客户端
        self.exchange = exchange
        # 网络错误的重试策略
        self.retry = retry
        # 账户标识里的市场类型（ccxt 的叫法：spot / swap / future ...）
        self.market_type = market_type or str(exchange.options.get("defaultType") or "spot")

    @property
    def account_id(self) -> str:
        """交易所账户的稳定标识，不含任何秘密：`交易所:市场类型:sha256(API key) 的前 12 位`。

        成交的身份是 (账户, 交易所订单号, 成交编号)，所以同一个 key 每次启动都得到同一个标识；换了 key（新账户）
        标识就不同。API key 与 secret 本身从不出现在标识里（标识会写进日志库）。"""
        key = str(getattr(self.exchange, "apiKey", "") or "")
        digest = hashlib.sha256(key.encode()).hexdigest()[:ACCOUNT_DIGEST_CHARS]
        return f"{self.exchange.id}:{self.market_type}:{digest}"

    async def load_markets(self) -> dict[str, Any]:
        """加载市场信息（带重试）。"""
        return await call_with_retry(self.exchange.load_markets, policy=self.retry, exchange=self.exchange,
                                     what="load_markets")

    def rules(self, symbol: str) -> MarketRules:
        """交易对的下单规则（价格步长、数量步长、最小数量、最小名义金额）。"""
        return market_rules_from_ccxt(self.exchange.market(symbol), self.exchange.precisionMode)

    # ---- 下单与撤单 ------------------------------------------------------------------------------------

    async def create_order(self, order: Order) -> tuple[OrderUpdate, list[TradeReport]]:
        """下单（幂等）：返回交易所的订单状态与响应里带的成交；交易所拒绝时抛 OrderRejected。

        网络错误之后：429/418（请求被拒收）直接退避重发；超时、断线、5xx（请求可能已被执行）则按客户端订单号
        反复查询，直到原请求的 recvWindow 过期——过期后交易所不会再执行它，此时仍查不到才重发（带新时间戳）。
        """
        params: dict[str, Any] = {"newClientOrderId": order.client_order_id}
        if order.reduce_only:
            params["reduceOnly"] = True
        if order.stop_price is not None:
            params["stopPrice"] = order.stop_price
        for attempt in range(1, self.retry.attempts + 1):
            sent = time.monotonic()
            try:
                raw = await self.exchange.create_order(order.symbol, order.type.value, order.side.value,
                                                       order.amount, order.price, params)
                return self._parse(raw)
            except ccxt.NetworkError as exc:
                if attempt >= self.retry.attempts:
                    found = await self.find_order(order)
                    if found is not None:
                        return found
                    raise
                refused = isinstance(exc, ccxt.DDoSProtection)  # 429/418：交易所明确没有执行
                found = None if refused else await self._await_outcome(order, sent)
                if found is not None:
                    log.warning("order found after network error client_order_id=%s", order.client_order_id)
                    return found
                delay = backoff_delay(self.retry, attempt)
                log.warning("resending order client_order_id=%s attempt=%s delay_s=%.2f error=%s",
                            order.client_order_id, attempt, delay, type(exc).__name__)
                await asyncio.sleep(delay)
            except ccxt.ExchangeError as exc:
                raise OrderRejected(f"{type(exc).__name__}: {exc}") from exc
        raise AssertionError("unreachable: the loop returns or raises")

    def recv_window_s(self) -> float:
        """客户端签名请求的 recvWindow，秒（超过它交易所不再执行该请求）。"""
        return float(self.exchange.options.get("recvWindow", 5000)) / 1000

    async def _await_outcome(self, order: Order, sent: float) -> tuple[OrderUpdate, list[TradeReport]] | None:
        """原请求结果不明：查询直到找到订单，或原请求的 recvWindow（外加 1 秒余量）过期；过期仍没有则返回 None。"""
        deadline = sent + self.recv_window_s() + 1.0
        while True:
            found = await self.find_order(order)
            if found is not None or time.monotonic() >= deadline:
                return found
            await asyncio.sleep(min(self.retry.base_delay_s, max(deadline - time.monotonic(), 0.0)))

    async def find_order(self, order: Order) -> tuple[OrderUpdate, list[TradeReport]] | None:
        """按客户端订单号查询订单；交易所没有这张单时返回 None。"""
        try:
            raw = await call_with_retry(self.exchange.fetch_order, None, order.symbol,
                                        {"origClientOrderId": order.client_order_id}, policy=self.retry,
                                        exchange=self.exchange, what="fetch_order")
        except ccxt.OrderNotFound:
            return None
        return self._parse(raw)

    async def cancel_order(self, order: Order) -> OrderUpdate | None:
        """撤单；订单已经结束（交易所说不存在）时返回 None。"""
        try:
            raw = await call_with_retry(self.exchange.cancel_order, order.exchange_order_id, order.symbol,
                                        {} if order.exchange_order_id else
                                        {"origClientOrderId": order.client_order_id},
                                        policy=self.retry, exchange=self.exchange, what="cancel_order")
        except ccxt.OrderNotFound:
            return None
        return OrderUpdate.from_ccxt(raw)

    def _parse(self, raw: dict[str, Any]) -> tuple[OrderUpdate, list[TradeReport]]:
        """ccxt 订单 -> (状态更新, 响应里带的成交)。"""
        order_id = str(raw.get("id"))
        # Binance 下单响应里的 fills 没有成交时间（ccxt 给 None）：用订单的成交/更新时间（交易所时间）代替，
        # 否则日志库的成交时间是 0，replay-check 无法把成交放到 K 线上
        when = raw.get("lastTradeTimestamp") or raw.get("timestamp")
        trades = [TradeReport.from_ccxt({**t, "symbol": t.get("symbol") or raw["symbol"],
                                         "side": t.get("side") or raw["side"],
                                         "timestamp": t.get("timestamp") or when}, order_id)
                  for t in raw.get("trades") or [] if t.get("id") is not None]
        return OrderUpdate.from_ccxt(raw), trades

    # ---- 查询 ------------------------------------------------------------------------------------------

    async def my_trades(self, symbol: str, since: int | None) -> list[TradeReport]:
        """since（UTC 毫秒）以来本账户在 symbol 上的成交，按时间排序；翻页直到取完。"""
        reports: list[TradeReport] = []
        cursor = since
        while True:
            page = await call_with_retry(self.exchange.fetch_my_trades, symbol, cursor, 1000, policy=self.retry,
                                         exchange=self.exchange, what="fetch_my_trades")
            fresh = [TradeReport.from_ccxt(t) for t in page]
            # 翻页的边界上同一笔成交会出现两次；按 (订单, 成交编号) 认，成交编号相同的另一张订单的成交不是重复
            known = {(r.exchange_order_id, r.trade_id) for r in reports}
            reports += [r for r in fresh if (r.exchange_order_id, r.trade_id) not in known]
            if len(page) < 1000:
                return sorted(reports, key=lambda r: (r.ts, r.trade_id))
            cursor = int(page[-1]["timestamp"])

    async def open_orders(self, symbol: str) -> list[dict[str, Any]]:
        """symbol 上交易所认为仍挂着的订单（ccxt 订单字典）。"""
        return await call_with_retry(self.exchange.fetch_open_orders, symbol, policy=self.retry,
                                     exchange=self.exchange, what="fetch_open_orders")

    async def balances(self) -> dict[str, float]:
        """各币种的总额（可用 + 冻结）。"""
        raw = await call_with_retry(self.exchange.fetch_balance, policy=self.retry, exchange=self.exchange,
                                    what="fetch_balance")
        return {asset: float(total or 0.0) for asset, total in (raw.get("total") or {}).items()}

    # ---- 推送 ------------------------------------------------------------------------------------------

    async def order_updates(self, on_reconnect: Callable[[], Awaitable[None]] | None = None
                            ) -> AsyncIterator[dict[str, Any]]:
        """用户数据流里的订单更新（ccxt 订单字典），断线后退避重连，重连成功后调用 on_reconnect（对账）；
        由调用方取消。"""
        failures = 0
        while True:
            try:
                orders = await self.exchange.watch_orders()
                if failures and on_reconnect is not None:
                    await on_reconnect()
                failures = 0
            except ccxt.NetworkError as exc:
                failures += 1
                delay = backoff_delay(self.retry, failures)
                log.warning("order stream failed, reconnecting failures=%s delay_s=%.2f error=%s", failures, delay,
                            type(exc).__name__)
                await asyncio.sleep(delay)
                continue
            for raw in orders:
                yield raw

    def observe(self, symbol: str, price: float) -> None:
        """引擎的行情更新（交易所自己撮合，这里无事可做；模拟盘经纪商用它撮合挂单）。"""

    def restore(self, orders: list[Order], fills: list, starting_cash: float) -> None:
        """重启时由日志库恢复（真实交易所的状态就在交易所上，无需恢复；对账负责核对）。"""

    async def close(self) -> None:
        """关闭客户端的连接。"""
        await self.exchange.close()


__all__ = ["CcxtBroker", "OrderRejected", "TradeReport", "OrderType"]
