"""沙盒的撮合：下单校验（过滤器、余额）、冻结资金、立即成交与挂单在行情推进时的成交，全部套用共享成交模型。

成交规则来自 `tradeterm.execution.fills`（与回测、模拟盘同一份代码）：
- 市价单在当前价成交，按 `market_fill_price` 加滑点，收 taker 费；
- 可立即成交的限价单（买价 >= 卖一、卖价 <= 买一）以 taker 身份在当前价成交；LIMIT_MAKER 此时被拒；
- 挂着的限价单在行情推进的每一小段（见 `SymbolMarket.segments`）上用 `limit_fill_price` 检查，收 maker 费；
  每根 K 线最多成交该 K 线成交量的 `max_volume_share`，大单因此分多次部分成交；
- STOP_LOSS/TAKE_PROFIT（触发后按市价）用 `stop_fill_price`/`take_profit_fill_price`，收 taker 费；
  STOP_LOSS_LIMIT/TAKE_PROFIT_LIMIT 触发后变成普通限价单，从下一小段开始按限价单撮合；
- 手续费一律以计价货币收取（`fee_amount`），与共享成交模型一致（Binance 真实规则是买入时从所得币中扣）。
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from tradeterm.execution.fills import (REJECT_MIN_AMOUNT, REJECT_MIN_NOTIONAL, REJECT_ZERO_AMOUNT, affordable_amount,
                                      fee_amount, limit_fill_price, market_fill_price, order_reject_reason,
                                      round_amount, round_price, stop_fill_price, take_profit_fill_price)
from tradeterm.sandbox import errors, payloads
from tradeterm.sandbox.accounts import Account, SandboxOrder, SandboxTrade
from tradeterm.sandbox.errors import BinanceError
from tradeterm.sandbox.market import MarketSpec, SymbolMarket

log = logging.getLogger(__name__)

# 条件单里的止损类（触发条件：卖出时价格跌到触发价，买入时涨到触发价）
STOP_TYPES = ("STOP_LOSS", "STOP_LOSS_LIMIT")
# 条件单里的止盈类（触发条件：卖出时价格涨到触发价，买入时跌到触发价）
TAKE_PROFIT_TYPES = ("TAKE_PROFIT", "TAKE_PROFIT_LIMIT")
# 判断“是否在网格上”时容忍的浮点误差（步长的倍数）
GRID_TOLERANCE = 1e-6
# 网格上能精确表示的最大格数（2**53：再大的浮点数已不能区分相邻两格，取整也会溢出 64 位整数）
MAX_GRID_UNITS = 2.0**53


@dataclass(frozen=True)
class TradingConfig:
    """撮合参数：费率、滑点与部分成交的成交量上限。"""

    maker_fee: float = 0.001        # 挂单费率，小数（0.001 = 0.1%），按成交额（计价货币）收取
    taker_fee: float = 0.001        # 吃单费率，小数，按成交额（计价货币）收取
    slippage_bps: float = 1.0       # 市价成交（含止损触发）的滑点，基点（1 bp = 0.01%）
    max_volume_share: float = 0.25  # 挂着的限价单每根 K 线最多成交该 K 线成交量的比例（0..1）


@dataclass(frozen=True)
class OrderRequest:
    """一张新订单请求（已从 HTTP 参数解析、尚未校验过滤器与余额）。"""

    market_id: str        # Binance 交易对 id，如 BTCUSDT
    side: str             # BUY 或 SELL
    type: str             # 订单类型，见 payloads.ORDER_TYPES
    amount: float         # 下单数量，基础货币；按金额下市价单时为 0
    price: float          # 限价，计价货币；无则 0
    stop_price: float     # 触发价，计价货币；无则 0
    quote_amount: float   # 按金额下的市价单（quoteOrderQty），计价货币；无则 0
    time_in_force: str    # GTC、IOC、FOK
    client_order_id: str  # 客户端订单号
    reduce_only: bool = False  # 合约：只减仓


def on_grid(value: float, step: float, rounded: float) -> bool:
    """value 是否恰好在步长网格上：与共享规则取整后的值 rounded 相差不到步长的百万分之一。"""
    return abs(value - rounded) <= step * GRID_TOLERANCE


def fits_grid(value: float, step: float) -> bool:
    """value 是否是能放上步长网格的有限非负数：不是 NaN/inf，且不超过 MAX_GRID_UNITS 格（否则取整会溢出）。"""
    return math.isfinite(value) and value >= 0 and (step <= 0 or value / step < MAX_GRID_UNITS)


class MatchingEngine:
    """全部账户的订单簿与撮合（现货）。markets 以 Binance 交易对 id 为键；合约撮合见 futures.py 的子类。"""

    # 条件单的触发价已被当前价越过时返回的错误
    trigger_error = errors.STOP_WOULD_TRIGGER

    def __init__(self, markets: dict[str, SymbolMarket], config: TradingConfig):
        """markets 为 交易对 id -> 行情；config 为费率、滑点等撮合参数。"""
        # 交易对 id -> 行情（规则与价格）
        self.markets = markets
        # 撮合参数
        self.config = config
        # API key -> 账户
        self.accounts: dict[str, Account] = {}
        # 挂单索引：交易对 id -> {订单号: (账户, 订单)}
        self.open_orders: dict[str, dict[int, tuple[Account, SandboxOrder]]] = {m: {} for m in markets}
        # 下一个订单号
        self.next_order_id = 1
        # 下一个成交编号
        self.next_trade_id = 1

    def market(self, market_id: str) -> SymbolMarket:
        """按交易对 id 取行情；不存在时抛 -1121。"""
        market = self.markets.get(market_id)
        if market is None:
            raise BinanceError(errors.BAD_SYMBOL)
        return market

    # ---- 下单 -------------------------------------------------------------------------------------

    def place(self, account: Account, request: OrderRequest, now: int) -> SandboxOrder:
        """校验并接受一张订单：冻结资金、发出 NEW 回报，能立即成交的立即成交；返回订单。"""
        market = self.market(request.market_id)
        spec = market.spec
        last = market.price(now)
        bid, ask = market.best_bid_ask(now)
        side = 1 if request.side == "BUY" else -1
        amount = request.amount
        if request.type == "MARKET" and request.quote_amount > 0:
            # 按金额下的市价单：买入按可负担数量（含手续费）取整，卖出按金额折算数量
            price = market_fill_price(last, side, self.config.slippage_bps)
            if not fits_grid(request.quote_amount / price, spec.amount_step):
                raise BinanceError(errors.filter_failure("LOT_SIZE"))
            amount = (affordable_amount(request.quote_amount, price, self.config.taker_fee, spec.amount_step)
                      if side > 0 else round_amount(request.quote_amount / price, spec.amount_step))
        self._check_filters(market, request, amount, last)
        self._check_trigger(request, last, bid, ask)
        order = SandboxOrder(
            order_id=self.next_order_id, client_order_id=request.client_order_id, symbol=spec.symbol,
            market_id=spec.market_id, side=request.side, type=request.type, time_in_force=request.time_in_force,
            amount=amount, price=request.price, stop_price=request.stop_price, created_ts=now,
            quote_amount=request.quote_amount, updated_ts=now, working_ts=now, reduce_only=request.reduce_only)
        self._reserve(account, order, market, last)
        self.next_order_id += 1
        account.orders[order.order_id] = order
        self._publish_order(account, order, "NEW", now)
        log.info("order accepted id=%s symbol=%s side=%s type=%s amount=%s price=%s stop=%s", order.order_id,
                 spec.symbol, order.side, order.type, amount, order.price, order.stop_price)
        self._execute_on_arrival(account, order, market, now, last, bid, ask)
        if order.is_open:
            self.open_orders[spec.market_id][order.order_id] = (account, order)
        return order

    def _check_filters(self, market: SymbolMarket, request: OrderRequest, amount: float, last: float) -> None:
        """Binance 的过滤器：限价（带限价的类型）与触发价（条件单）不低于一个价格步长（minPrice）且在价格网格上
        （PRICE_FILTER），数量为正、在步长网格上且不小于最小值（LOT_SIZE），名义金额不低于最小值（NOTIONAL）。
        违反时抛 -1013。价格为 0、负数、NaN、inf 或大到无法取整时同样拒绝（不会带着 0 价挂单、一分钱不冻结）。"""
        spec = market.spec
        prices = ([request.price] if request.type in payloads.PRICED_TYPES else []) \
            + ([request.stop_price] if request.type in payloads.CONDITIONAL_TYPES else [])
        for price in prices:
            if not (fits_grid(price, spec.price_tick) and price >= spec.price_tick * (1 - GRID_TOLERANCE)
                    and on_grid(price, spec.price_tick, round_price(price, spec.price_tick))):
                raise BinanceError(errors.filter_failure("PRICE_FILTER"))
        if not (fits_grid(amount, spec.amount_step)
                and on_grid(amount, spec.amount_step, round_amount(amount, spec.amount_step))):
            raise BinanceError(errors.filter_failure("LOT_SIZE"))
        reference = request.price or request.stop_price or last
        min_notional = 0.0 if request.reduce_only else spec.min_notional
        reason = order_reject_reason(amount, reference, spec.min_amount, min_notional)
        if reason in (REJECT_ZERO_AMOUNT, REJECT_MIN_AMOUNT):
            raise BinanceError(errors.filter_failure("LOT_SIZE"))
        if reason == REJECT_MIN_NOTIONAL:
            raise BinanceError(self.notional_error(spec))

    def notional_error(self, spec: MarketSpec) -> tuple[int, str]:
        """名义金额不足时返回的错误（现货为 -1013 NOTIONAL 过滤器）。"""
        return errors.filter_failure("NOTIONAL")

    def _check_trigger(self, request: OrderRequest, last: float, bid: float, ask: float) -> None:
        """条件单的触发价不能已被当前价越过；LIMIT_MAKER 不能立即成交（Binance 都以 -2010 拒绝）。"""
        buy = request.side == "BUY"
        if request.type in STOP_TYPES and ((buy and last >= request.stop_price)
                                           or (not buy and last <= request.stop_price)):
            raise BinanceError(self.trigger_error)
        if request.type in TAKE_PROFIT_TYPES and ((buy and last <= request.stop_price)
                                                  or (not buy and last >= request.stop_price)):
            raise BinanceError(self.trigger_error)
        if request.type == "LIMIT_MAKER" and ((buy and request.price >= ask) or (not buy and request.price <= bid)):
            raise BinanceError(errors.WOULD_TAKE)

    def _reserve(self, account: Account, order: SandboxOrder, market: SymbolMarket, last: float) -> None:
        """检查余额并冻结：买单冻结 价格 × 数量 × (1 + taker 费率) 的计价货币，卖单冻结数量本身；不足抛 -2010。"""
        spec = market.spec
        if order.side == "BUY":
            if order.type == "MARKET":
                reference = market_fill_price(last, 1, self.config.slippage_bps)
            else:
                reference = order.price or order.stop_price
            asset, needed = spec.quote, reference * order.amount * (1 + self.config.taker_fee)
        else:
            asset, needed = spec.base, order.amount
        free = account.balance(asset)[0]
        if free + 1e-12 < needed:
            raise BinanceError(errors.INSUFFICIENT_BALANCE)
        # 差额在浮点误差之内时只冻结全部可用余额，可用余额不会变成 -1e-13 这样的负数
        needed = min(needed, free)
        account.lock(asset, needed)
        order.locked_asset, order.locked = asset, needed

    def _execute_on_arrival(self, account: Account, order: SandboxOrder, market: SymbolMarket, now: int,
                            last: float, bid: float, ask: float) -> None:
        """新订单到达时立即能成交的部分：市价单全部成交；可成交的限价单以 taker 成交；IOC/FOK 余下的过期。"""
        side = order.sign
        if order.type == "MARKET":
            price = round_price(market_fill_price(last, side, self.config.slippage_bps), market.spec.price_tick)
            self._fill(account, order, market, price, order.remaining, False, now)
        elif order.type == "LIMIT":
            touch = ask if side > 0 else bid
            price = limit_fill_price(touch, touch, touch, side, order.price)
            if not math.isnan(price):
                self._fill(account, order, market, price, order.remaining, False, now)
            if order.is_open and order.time_in_force in ("IOC", "FOK"):
                self._finish(account, order, "EXPIRED", now)

    # ---- 行情推进时的撮合 ------------------------------------------------------------------------------

    def advance(self, t0: int, t1: int) -> None:
        """模拟时间从 t0 走到 t1（UTC 毫秒）：对每个交易对逐段检查挂单是否触发、成交。"""
        for market_id, book in self.open_orders.items():
            if not book:
                continue
            market = self.markets[market_id]
            for index, seg_open, seg_high, seg_low, _close, _volume in market.segments(t0, t1):
                for order_id in sorted(book):
                    account, order = book[order_id]
                    if order.is_open:
                        self._match_resting(account, order, market, index, seg_open, seg_high, seg_low, t1)
                for order_id in [k for k, (_, o) in book.items() if not o.is_open]:
                    del book[order_id]

    def _match_resting(self, account: Account, order: SandboxOrder, market: SymbolMarket, index: int,
                       seg_open: float, seg_high: float, seg_low: float, now: int) -> None:
        """一张挂单在一小段行情（开/高/低）上的处理：条件单检查触发，限价单按限价与成交量上限成交。"""
        side = order.sign
        tick = market.spec.price_tick
        conditional = order.type in payloads.CONDITIONAL_TYPES
        if conditional and not order.triggered:
            if order.type in STOP_TYPES:
                price = stop_fill_price(seg_open, seg_high, seg_low, side, order.stop_price, self.config.slippage_bps)
            else:
                price = take_profit_fill_price(seg_open, seg_high, seg_low, side, order.stop_price)
            if math.isnan(price):
                return
            order.triggered, order.working_ts, order.updated_ts = True, now, now
            if order.type in ("STOP_LOSS", "TAKE_PROFIT"):
                # 触发后是市价单：按成交模型给出的价格一次成交全部（吃单）
                self._fill(account, order, market, round_price(price, tick), order.remaining, False, now)
            # 限价条件单触发后挂成限价单，从下一小段开始撮合（不用触发之前的价格成交）
            return
        price = limit_fill_price(seg_open, seg_high, seg_low, side, order.price)
        if math.isnan(price):
            return
        if order.bar_index != index:
            order.bar_index, order.bar_filled = index, 0.0
        capacity = self.config.max_volume_share * float(market.series.volume[index]) - order.bar_filled
        amount = round_amount(min(order.remaining, max(capacity, 0.0)), market.spec.amount_step)
        if amount <= 0:
            return
        order.bar_filled += amount
        self._fill(account, order, market, price, amount, True, now)

    # ---- 成交与结束 ---------------------------------------------------------------------------------

    def _fill(self, account: Account, order: SandboxOrder, market: SymbolMarket, price: float, amount: float,
              is_maker: bool, now: int) -> None:
        """成交 amount（基础货币）于 price（计价货币）：结算（_settle）、记录成交、更新订单、发回报。"""
        spec = market.spec
        rate = self.config.maker_fee if is_maker else self.config.taker_fee
        amount, realized = self._settle(account, order, market, price, amount, rate)
        if amount <= 0:
            self._finish(account, order, "EXPIRED", now)
            return
        notional = price * amount
        fee = fee_amount(notional, rate)
        trade = SandboxTrade(self.next_trade_id, order.order_id, spec.symbol, spec.market_id, order.side, price,
                             amount, fee, spec.quote, is_maker, now, realized)
        self.next_trade_id += 1
        account.trades.append(trade)
        order.fills.append(payloads.fill_json(trade))
        order.filled += amount
        order.cost += notional
        order.updated_ts = now
        done = order.remaining <= spec.amount_step * GRID_TOLERANCE
        order.status = "FILLED" if done else "PARTIALLY_FILLED"
        if done:
            self._release(account, order)
        log.info("order fill id=%s symbol=%s side=%s price=%s amount=%s fee=%s", order.order_id, spec.symbol,
                 order.side, price, amount, fee)
        self._publish_order(account, order, "TRADE", now, trade)
        if not done and order.type == "MARKET":
            # 市价单没成交完的部分（资金不足）立即过期
            self._finish(account, order, "EXPIRED", now)

    def _settle(self, account: Account, order: SandboxOrder, market: SymbolMarket, price: float, amount: float,
                rate: float) -> tuple[float, float]:
        """现货结算：解冻本次成交对应的冻结资金，扣付出的货币、加得到的货币（手续费以计价货币扣）。

        返回（实际成交数量, 已实现盈亏）；现货没有已实现盈亏，恒为 0。数量为 0 表示一点也成交不了。
        """
        spec = market.spec
        if order.side == "BUY":
            release = order.locked * min(amount / order.remaining, 1.0) if order.remaining > 0 else order.locked
            available = account.balance(spec.quote)[0] + release
            if price * amount + fee_amount(price * amount, rate) > available + 1e-9:
                # 触发价之外跳空成交时冻结的资金可能不够：只成交买得起的部分，其余过期
                amount = affordable_amount(available, price, rate, spec.amount_step)
                release = order.locked
            if amount <= 0:
                return 0.0, 0.0
            account.unlock(spec.quote, release)
            order.locked -= release
        else:
            release = min(order.locked, amount)
            account.unlock(spec.base, release)
            order.locked -= release
        notional = price * amount
        fee = fee_amount(notional, rate)
        if order.side == "BUY":
            account.add(spec.quote, -(notional + fee))
            account.add(spec.base, amount)
        else:
            account.add(spec.base, -amount)
            account.add(spec.quote, notional - fee)
        return amount, 0.0

    def cancel(self, account: Account, order: SandboxOrder | None, now: int) -> SandboxOrder:
        """撤销一张挂单；订单不存在或已结束时抛 -2011。"""
        if order is None or not order.is_open:
            raise BinanceError(errors.UNKNOWN_ORDER)
        self._finish(account, order, "CANCELED", now)
        self.open_orders[order.market_id].pop(order.order_id, None)
        return order

    def _finish(self, account: Account, order: SandboxOrder, status: str, now: int) -> None:
        """订单以 status（CANCELED/EXPIRED）结束：解冻余下资金并发回报。"""
        order.status = status
        order.updated_ts = now
        self._release(account, order)
        self._publish_order(account, order, status, now)

    def _release(self, account: Account, order: SandboxOrder) -> None:
        """把订单仍冻结的资金全部解冻。"""
        if order.locked > 0:
            account.unlock(order.locked_asset, order.locked)
            order.locked = 0.0

    def _publish_order(self, account: Account, order: SandboxOrder, exec_type: str, now: int,
                       trade: SandboxTrade | None = None) -> None:
        """发出 executionReport 与变动币种的 outboundAccountPosition。"""
        spec = self.markets[order.market_id].spec
        account.publish(payloads.execution_report(order, exec_type, now, trade))
        account.publish(payloads.account_position(account, [spec.base, spec.quote], now))
