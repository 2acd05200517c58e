"""模拟盘经纪商：行情与市场规则来自真实交易所（只用公开接口，不需要密钥），成交在本地按回测的成交模型模拟。

与 CcxtBroker 接口相同，引擎分不出两者。成交规则（tradeterm/execution/fills.py，同一份代码）：
- 市价单：在引擎最近看到的价格（没有时取一次 ticker）成交，按滑点向不利方向移动，收 taker 费；
- 限价单：挂着，之后的价格穿过限价时成交于限价（价格已越过限价时按更优的当前价），收 maker 费；
- 现货：买入花费（名义金额 + 手续费）不能超过可用现金，卖出数量不能超过持有量，否则拒单（与交易所一样）。
模拟账户不单独保存：重启时由日志库里的订单与成交重建（`restore`），日志库是模拟盘唯一的事实来源。
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from tradeterm.execution.fills import MarketRules, apply_slippage, fee_amount, market_rules_from_ccxt
from tradeterm.broker.ccxt_broker import OrderRejected, TradeReport
from tradeterm.exchange.retry import RetryPolicy, call_with_retry
from tradeterm.models import Fill, Order, OrderStatus, OrderType, Side
from tradeterm.orders.state_machine import OrderUpdate

# 模拟订单的 recvWindow，秒（本地下单没有网络不确定性，引擎的轮询据此判断“从未发出”）
PAPER_RECV_WINDOW_S = 1.0


class PaperBroker:
    """本地模拟成交；行情与市场信息经一个（不带密钥的）ccxt 客户端取自真实交易所。"""

    def __init__(self, exchange: Any, *, cash: float, quote: str, maker_fee: float, taker_fee: float,
                 slippage_bps: float = 0.0, retry: RetryPolicy = RetryPolicy()):
        """cash 为模拟账户的初始资金（quote 币种）；费率为小数；slippage_bps 为市价成交滑点（基点）。"""
        # ccxt 客户端（公开接口：市场信息、ticker）
        self.exchange = exchange
        # 网络错误的重试策略
        self.retry = retry
        # 计价货币，如 USDT
        self.quote = quote
        # 挂单费率，小数
        self.maker_fee = maker_fee
        # 吃单费率，小数
        self.taker_fee = taker_fee
        # 市价成交的不利滑点，基点
        self.slippage_bps = slippage_bps
        # 模拟账户余额：币种 -> 数量
        self.balances_by_asset: dict[str, float] = {quote: float(cash)}
        # 客户端订单号 -> 模拟订单（本地记录，含状态与成交）
        self.orders: dict[str, dict[str, Any]] = {}
        # 全部模拟成交
        self.trades: list[TradeReport] = []
        # 交易对 -> 最近价格，计价货币（引擎的行情更新通过 observe 告诉经纪商）
        self.last_price: dict[str, float] = {}
        # 订单更新的推送队列（限价单成交时放入）
        self._updates: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        # 本地订单号计数器
        self._next_id = 1

    # ---- 与 CcxtBroker 相同的接口 -------------------------------------------------------------------

    @property
    def account_id(self) -> str:
        """模拟账户的标识：`paper:<交易所>`（模拟账户只存在于日志库里，同一交易所上重启仍是同一个账户）。"""
        return f"paper:{getattr(self.exchange, 'id', None) or 'local'}"

    async def load_markets(self) -> dict[str, Any]:
        """加载真实交易所的市场信息（公开接口）。"""
        return await call_with_retry(self.exchange.load_markets, policy=self.retry, exchange=self.exchange,
                                     what="load_markets")

    def rules(self, symbol: str) -> MarketRules:
        """交易对的下单规则（取自真实交易所的市场信息）。"""
        return market_rules_from_ccxt(self.exchange.market(symbol), self.exchange.precisionMode)

    def recv_window_s(self) -> float:
        """见 CcxtBroker.recv_window_s。"""
        return PAPER_RECV_WINDOW_S

    async def create_order(self, order: Order) -> tuple[OrderUpdate, list[TradeReport]]:
        """模拟下单：市价单立即按当前价成交，限价单挂起；余额不足时抛 OrderRejected。"""
        record = self._new_record(order)
        if order.type is OrderType.MARKET:
            price = await self._price(order.symbol)
            self._fill(record, apply_slippage(price, order.side.sign, self.slippage_bps), self.taker_fee, False)
        elif order.type is OrderType.LIMIT:
            self._check_funds(order.symbol, order.side, order.amount, order.price or 0.0, self.maker_fee)
            self._try_limit(record, self.last_price.get(order.symbol))
        else:
            raise OrderRejected(f"InvalidOrder: the paper broker supports market and limit orders, not {order.type.value}")
        return self._parse(record)

    async def find_order(self, order: Order) -> tuple[OrderUpdate, list[TradeReport]] | None:
        """按客户端订单号查模拟订单；不存在时返回 None。"""
        record = self.orders.get(order.client_order_id)
        return self._parse(record) if record is not None else None

    async def cancel_order(self, order: Order) -> OrderUpdate | None:
        """撤销挂着的模拟订单；已结束或不存在时返回 None。"""
        record = self.orders.get(order.client_order_id)
        if record is None or record["status"] != "open":
            return None
        record["status"] = "canceled"
        return self._parse(record)[0]

    async def my_trades(self, symbol: str, since: int | None) -> list[TradeReport]:
        """since 以来 symbol 上的模拟成交。"""
        return [t for t in self.trades if t.symbol == symbol and (since is None or t.ts >= since)]

    async def open_orders(self, symbol: str) -> list[dict[str, Any]]:
        """symbol 上仍挂着的模拟订单（ccxt 订单字典，与 CcxtBroker.open_orders 相同的形状；一键停止据此核对）。"""
        return [self._ccxt_order(r) for r in self.orders.values() if r["symbol"] == symbol and r["status"] == "open"]

    async def balances(self) -> dict[str, float]:
        """模拟账户各币种余额。"""
        return dict(self.balances_by_asset)

    async def order_updates(self, on_reconnect: Callable[[], Awaitable[None]] | None = None
                            ) -> AsyncIterator[dict[str, Any]]:
        """挂单成交时的订单更新（本地队列，不会断线）。"""
        while True:
            yield await self._updates.get()

    async def close(self) -> None:
        """关闭 ccxt 客户端。"""
        await self.exchange.close()

    # ---- 行情与恢复 -------------------------------------------------------------------------------

    def observe(self, symbol: str, price: float) -> None:
        """引擎的每次行情更新：记下最新价，并撮合穿过限价的挂单。"""
        self.last_price[symbol] = price
        for record in list(self.orders.values()):
            if record["symbol"] == symbol and record["status"] == "open":
                if self._try_limit(record, price):
                    self._updates.put_nowait(self._ccxt_order(record))

    def restore(self, orders: list[Order], fills: list[Fill], starting_cash: float) -> None:
        """由日志库的订单与成交重建模拟账户（重启时调用）：余额、成交、挂着的限价单。"""
        self.balances_by_asset = {self.quote: float(starting_cash)}
        fills_by_order: dict[str, list[Fill]] = {}
        for fill in fills:
            fills_by_order.setdefault(fill.client_order_id, []).append(fill)
        for order in orders:
            booked = fills_by_order.get(order.client_order_id, [])
            if order.status is OrderStatus.NEW and not booked:
                continue  # 进程在“发出”之前就死了：模拟交易所从未见过它
            record = self._new_record(order, order.exchange_order_id)
            for fill in booked:
                self._book(record, fill.price, fill.amount, fill.fee, fill.ts, fill.trade_id, fill.is_maker)
            if order.status.is_final or record["filled"] >= order.amount:
                record["status"] = "closed" if record["filled"] >= order.amount else "canceled"

    # ---- 内部 --------------------------------------------------------------------------------------

    def _new_record(self, order: Order, exchange_id: str | None = None) -> dict[str, Any]:
        """登记一张模拟订单。"""
        if exchange_id is None:
            exchange_id = f"paper-{int(time.time() * 1000)}-{self._next_id}"
            self._next_id += 1
        record = {"id": exchange_id, "clientOrderId": order.client_order_id, "symbol": order.symbol,
                  "side": order.side, "type": order.type, "amount": order.amount, "price": order.price,
                  "filled": 0.0, "cost": 0.0, "status": "open", "trades": [], "timestamp": int(time.time() * 1000)}
        self.orders[order.client_order_id] = record
        return record

    async def _price(self, symbol: str) -> float:
        """最新价：引擎告诉过的，否则取一次 ticker。"""
        if symbol not in self.last_price:
            ticker = await call_with_retry(self.exchange.fetch_ticker, symbol, policy=self.retry,
                                           exchange=self.exchange, what="fetch_ticker")
            self.last_price[symbol] = float(ticker["last"])
        return self.last_price[symbol]

    def _check_funds(self, symbol: str, side: Side, amount: float, price: float, fee_rate: float) -> None:
        """现货余额检查：买入要有现金（含手续费），卖出要有持有量；不够时抛 OrderRejected（同交易所的 -2010）。"""
        base, quote = symbol.split("/")[0], symbol.split("/")[1].split(":")[0]
        if side is Side.BUY:
            need = price * amount + fee_amount(price * amount, fee_rate)
            if need > self.balances_by_asset.get(quote, 0.0) + 1e-9:
                raise OrderRejected(f"InsufficientFunds: paper account has "
                                    f"{self.balances_by_asset.get(quote, 0.0):.8g} {quote}, needs {need:.8g}")
        elif amount > self.balances_by_asset.get(base, 0.0) + 1e-12:
            raise OrderRejected(f"InsufficientFunds: paper account has {self.balances_by_asset.get(base, 0.0):.8g} "
                                f"{base}, needs {amount:.8g}")

    def _try_limit(self, record: dict[str, Any], price: float | None) -> bool:
        """限价单：价格穿过限价时成交（成交价取限价与当前价中对交易者更优的那个），返回是否成交。"""
        if price is None or record["status"] != "open":
            return False
        limit = float(record["price"])
        buy = record["side"] is Side.BUY
        if (buy and price > limit) or (not buy and price < limit):
            return False
        fill_price = min(price, limit) if buy else max(price, limit)
        try:
            self._fill(record, fill_price, self.maker_fee, True)
        except OrderRejected:
            record["status"] = "canceled"  # 成交时余额已不够：像交易所一样让它过期
        return True

    def _fill(self, record: dict[str, Any], price: float, fee_rate: float, is_maker: bool) -> None:
        """整单按 price 成交：检查余额、记成交。"""
        amount = float(record["amount"]) - record["filled"]
        self._check_funds(record["symbol"], record["side"], amount, price, fee_rate)
        trade_id = f"{record['clientOrderId']}-{len(record['trades']) + 1}"
        self._book(record, price, amount, fee_amount(price * amount, fee_rate), int(time.time() * 1000), trade_id,
                   is_maker)

    def _book(self, record: dict[str, Any], price: float, amount: float, fee: float, ts: int, trade_id: str,
              is_maker: bool) -> None:
        """记一笔成交：更新余额、订单与成交表（手续费以计价货币扣）。"""
        symbol = record["symbol"]
        base, quote = symbol.split("/")[0], symbol.split("/")[1].split(":")[0]
        sign = record["side"].sign
        self.balances_by_asset[base] = self.balances_by_asset.get(base, 0.0) + sign * amount
        self.balances_by_asset[quote] = self.balances_by_asset.get(quote, 0.0) - sign * price * amount - fee
        report = TradeReport(trade_id, record["id"], symbol, record["side"], price, amount, fee, quote, ts, is_maker)
        self.trades.append(report)
        record["trades"].append(report)
        record["filled"] += amount
        record["cost"] += price * amount
        if record["filled"] >= float(record["amount"]) - 1e-12:
            record["status"] = "closed"

    def _ccxt_order(self, record: dict[str, Any]) -> dict[str, Any]:
        """模拟订单 -> ccxt 统一订单字典（推送用）。"""
        average = record["cost"] / record["filled"] if record["filled"] else None
        return {"id": record["id"], "clientOrderId": record["clientOrderId"], "symbol": record["symbol"],
                "status": record["status"], "filled": record["filled"], "average": average,
                "timestamp": record["timestamp"], "side": record["side"].value,
                "trades": [{"id": t.trade_id, "order": t.exchange_order_id, "symbol": t.symbol, "side": t.side.value,
                            "price": t.price, "amount": t.amount, "timestamp": t.ts,
                            "fee": {"cost": t.fee, "currency": t.fee_currency},
                            "takerOrMaker": "maker" if t.is_maker else "taker"} for t in record["trades"]]}

    def _parse(self, record: dict[str, Any]) -> tuple[OrderUpdate, list[TradeReport]]:
        """模拟订单 -> (状态更新, 成交)。"""
        return OrderUpdate.from_ccxt(self._ccxt_order(record)), list(record["trades"])
