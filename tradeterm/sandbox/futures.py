"""沙盒的 USD-M 永续合约：与现货共用行情序列，独立的 USDT 钱包、单向持仓、杠杆与保证金检查。

规则（简化的全仓、单向持仓模式）：
- 每个账户的合约钱包初始 10,000 USDT（与现货钱包分开）；每个交易对的杠杆默认 20 倍，可用 /fapi/v1/leverage 修改；
- 可用保证金 = 钱包 + 未实现盈亏 − 持仓初始保证金 − 挂单初始保证金（都按最新价计）；新开仓订单需要
  名义金额 / 杠杆 + taker 手续费 不超过可用保证金，否则 -2019；只减仓（reduceOnly）单不占保证金，成交数量
  不超过反向持仓；
- 成交与触发用与现货相同的共享成交模型（见 matching.py）；持仓的均价与已实现盈亏用 models.Position.apply；
  手续费与已实现盈亏计入钱包；
- 不模拟资金费率、强平与标记价格（标记价 = 最新价），这些在 README 中说明。
订单类型对应：MARKET、LIMIT 直接撮合；STOP_MARKET/TAKE_PROFIT_MARKET/STOP/TAKE_PROFIT 是条件单，
按 Binance 现行做法走 /fapi/v1/algoOrder（编号 algoId），内部分别当作 STOP_LOSS/TAKE_PROFIT/STOP_LOSS_LIMIT/
TAKE_PROFIT_LIMIT 撮合。
"""

from __future__ import annotations

from tradeterm.execution.fills import fee_amount, round_amount
from tradeterm.models import Fill, Position, Side
from tradeterm.sandbox import payloads
from tradeterm.sandbox.accounts import Account, SandboxOrder, SandboxTrade
from tradeterm.sandbox.errors import BinanceError
from tradeterm.sandbox.market import MarketSpec, SymbolMarket
from tradeterm.sandbox.matching import MatchingEngine, OrderRequest, TradingConfig

# 合约各基础货币的数量步长（基础货币），与 Binance USD-M 一致
FUTURES_AMOUNT_STEPS = {"BTC": 0.001, "ETH": 0.001}
# 合约各基础货币的最小名义金额（USDT），与 Binance USD-M 一致（只减仓单不受此限）
FUTURES_MIN_NOTIONAL = {"BTC": 100.0, "ETH": 20.0}
# 其他交易对的最小名义金额，计价货币
DEFAULT_FUTURES_MIN_NOTIONAL = 5.0
# 默认杠杆（倍）
DEFAULT_LEVERAGE = 20
# 最大杠杆（倍）
MAX_LEVERAGE = 125
# Binance 合约订单类型 -> 撮合引擎内部类型
FUTURES_TO_INTERNAL = {"MARKET": "MARKET", "LIMIT": "LIMIT", "STOP_MARKET": "STOP_LOSS",
                       "TAKE_PROFIT_MARKET": "TAKE_PROFIT", "STOP": "STOP_LOSS_LIMIT", "TAKE_PROFIT": "TAKE_PROFIT_LIMIT"}
# 撮合引擎内部类型 -> Binance 合约订单类型
INTERNAL_TO_FUTURES = {internal: futures for futures, internal in FUTURES_TO_INTERNAL.items()}
# 保证金不足（ccxt 的 linear 错误表：InsufficientFunds）
MARGIN_INSUFFICIENT = (-2019, "Margin is insufficient.")
# 只减仓单会增加持仓（ccxt 的 linear 错误表：InvalidOrder）
REDUCE_ONLY_REJECTED = (-2022, "ReduceOnly Order is rejected.")
# 条件单会立即触发（ccxt 的 linear 错误表：OrderImmediatelyFillable）
WOULD_TRIGGER = (-2021, "Order would immediately trigger.")


def futures_spec(spot: MarketSpec) -> MarketSpec:
    """由现货规则推出永续合约的规则：交易对 BTC/USDT:USDT、同样的价格步长、合约的数量步长与最小名义金额。"""
    step = FUTURES_AMOUNT_STEPS.get(spot.base, spot.amount_step)
    return MarketSpec(f"{spot.base}/{spot.quote}:{spot.quote}", spot.market_id, spot.base, spot.quote,
                      spot.price_tick, step, step, FUTURES_MIN_NOTIONAL.get(spot.base, DEFAULT_FUTURES_MIN_NOTIONAL))


class FuturesAccount(Account):
    """合约账户：USDT 钱包（free['USDT']）、各交易对的持仓与杠杆。"""

    def __init__(self, api_key: str, secret: str, wallet: float = 10_000.0):
        """api_key/secret 与现货账户相同；wallet 为初始钱包余额，USDT。"""
        super().__init__(api_key, secret, {"USDT": wallet})
        # 交易对 id -> 持仓（数量带符号，基础货币；均价为计价货币）
        self.positions: dict[str, Position] = {}
        # 交易对 id -> 杠杆倍数
        self.leverage: dict[str, int] = {}

    @property
    def wallet(self) -> float:
        """钱包余额（已实现盈亏与手续费计入后），USDT。"""
        return self.free.get("USDT", 0.0)

    def position(self, spec: MarketSpec) -> Position:
        """某交易对的持仓（没有时新建一个空仓位）。"""
        return self.positions.setdefault(spec.market_id, Position(spec.symbol))

    def leverage_of(self, market_id: str) -> int:
        """某交易对的杠杆倍数。"""
        return self.leverage.get(market_id, DEFAULT_LEVERAGE)


class FuturesEngine(MatchingEngine):
    """USD-M 永续合约的撮合：沿用现货引擎的下单/触发/成交流程，改写保证金检查、结算与回报。"""

    # 条件单会立即触发时的错误
    trigger_error = WOULD_TRIGGER

    def __init__(self, spot_markets: dict[str, SymbolMarket], config: TradingConfig):
        """spot_markets 为现货行情（合约与之共用 K 线序列）；config 为费率等撮合参数。"""
        markets = {m: SymbolMarket(futures_spec(market.spec), market.series) for m, market in spot_markets.items()}
        super().__init__(markets, config)
        # 当前模拟时间（下单或推进时记下），UTC 毫秒；保证金按此刻的最新价计算
        self.current_ts = 0

    # ---- 保证金 ------------------------------------------------------------------------------------------

    def unrealized_pnl(self, account: FuturesAccount, now: int) -> float:
        """全部持仓按最新价的未实现盈亏，USDT。"""
        return sum(p.unrealized_pnl(self.markets[m].price(now)) for m, p in account.positions.items() if p.amount)

    def position_notional(self, account: FuturesAccount, now: int) -> float:
        """全部持仓的名义价值之和：|数量| × 最新价，USDT。"""
        return sum(abs(p.amount) * self.markets[m].price(now) for m, p in account.positions.items() if p.amount)

    def position_margin(self, account: FuturesAccount, now: int) -> float:
        """全部持仓的初始保证金：|数量| × 最新价 / 杠杆，USDT。"""
        return sum(abs(p.amount) * self.markets[m].price(now) / account.leverage_of(m)
                   for m, p in account.positions.items() if p.amount)

    def order_margin(self, account: FuturesAccount, now: int) -> float:
        """全部开仓挂单的初始保证金：剩余数量 × 价格（限价/触发价，否则最新价）/ 杠杆，USDT。"""
        total = 0.0
        for order in account.orders.values():
            if order.is_open and not order.reduce_only:
                price = order.price or order.stop_price or self.markets[order.market_id].price(now)
                total += order.remaining * price / account.leverage_of(order.market_id)
        return total

    def available(self, account: FuturesAccount, now: int) -> float:
        """可用保证金：钱包 + 未实现盈亏 − 持仓保证金 − 挂单保证金，USDT。"""
        return (account.wallet + self.unrealized_pnl(account, now) - self.position_margin(account, now)
                - self.order_margin(account, now))

    def set_leverage(self, account: FuturesAccount, market_id: str, leverage: int) -> int:
        """设置某交易对的杠杆（1..125）；超出范围抛 -4028。"""
        self.market(market_id)
        if not 1 <= leverage <= MAX_LEVERAGE:
            raise BinanceError((-4028, f"Leverage {leverage} is not valid"))
        account.leverage[market_id] = leverage
        return leverage

    # ---- 改写现货引擎的各步 --------------------------------------------------------------------------------

    def notional_error(self, spec: MarketSpec) -> tuple[int, str]:
        """名义金额不足：合约为 -4164（只减仓单不检查名义金额，见 MatchingEngine._check_filters）。"""
        return (-4164, f"Order's notional must be no smaller than {spec.min_notional:g} (unless you choose reduce only).")

    def _reserve(self, account: FuturesAccount, order: SandboxOrder, market: SymbolMarket, last: float) -> None:
        """保证金检查（不冻结余额，保证金按持仓与挂单实时计算）：只减仓单须有反向持仓；开仓单须保证金足够。"""
        position = account.position(market.spec)
        if order.reduce_only:
            if position.amount * order.sign >= 0:
                raise BinanceError(REDUCE_ONLY_REJECTED)
            return
        price = order.price or order.stop_price or last
        needed = order.amount * price / account.leverage_of(order.market_id)
        needed += fee_amount(order.amount * price, self.config.taker_fee)
        if needed > self.available(account, self.current_ts) + 1e-9:
            raise BinanceError(MARGIN_INSUFFICIENT)

    def _settle(self, account: FuturesAccount, order: SandboxOrder, market: SymbolMarket, price: float,
                amount: float, rate: float) -> tuple[float, float]:
        """合约结算：只减仓单的数量截到反向持仓；更新持仓（均价、已实现盈亏），盈亏与手续费计入钱包。"""
        spec = market.spec
        position = account.position(spec)
        if order.reduce_only:
            amount = round_amount(min(amount, abs(position.amount)), spec.amount_step) \
                if position.amount * order.sign < 0 else 0.0
        if amount <= 0:
            return 0.0, 0.0
        fee = fee_amount(price * amount, rate)
        side = Side.BUY if order.sign > 0 else Side.SELL
        realized = position.apply(Fill(order.client_order_id, spec.symbol, side, price, amount, fee, spec.quote,
                                       self.current_ts))
        # 浮点误差会让平仓后留下 1e-19 这样的残量：按数量步长归零
        if round_amount(abs(position.amount), spec.amount_step) == 0:
            position.amount, position.entry_price = 0.0, 0.0
        account.add(spec.quote, realized - fee)
        return amount, realized

    def _publish_order(self, account: FuturesAccount, order: SandboxOrder, exec_type: str, now: int,
                       trade: SandboxTrade | None = None) -> None:
        """发出 ORDER_TRADE_UPDATE（条件单为 ALGO_UPDATE）与 ACCOUNT_UPDATE。"""
        spec = self.markets[order.market_id].spec
        account.publish(futures_order_update(order, exec_type, now, trade))
        if trade is not None or exec_type == "NEW":
            account.publish(account_update(account, spec, self.markets[order.market_id].price(now), now))

    # ---- 入口 --------------------------------------------------------------------------------------------

    def place(self, account: Account, request: OrderRequest, now: int) -> SandboxOrder:
        """下单（见 MatchingEngine.place）；先记下当前模拟时间供保证金计算。"""
        self.current_ts = now
        return super().place(account, request, now)

    def advance(self, t0: int, t1: int) -> None:
        """行情推进（见 MatchingEngine.advance），记下当前模拟时间。"""
        self.current_ts = t1
        super().advance(t0, t1)


def futures_order_json(order: SandboxOrder, spec: MarketSpec) -> dict:
    """GET /fapi/v1/order（及下单、撤单、openOrders 响应）里的一张普通合约订单。"""
    return {
        "orderId": order.order_id, "symbol": order.market_id, "status": order.status,
        "clientOrderId": order.client_order_id, "price": payloads.num(order.price),
        "avgPrice": payloads.num(order.cost / order.filled if order.filled else 0.0),
        "origQty": payloads.num(order.amount), "executedQty": payloads.num(order.filled),
        "cumQty": payloads.num(order.filled), "cumQuote": payloads.num(order.cost),
        "timeInForce": order.time_in_force, "type": INTERNAL_TO_FUTURES[order.type],
        "origType": INTERNAL_TO_FUTURES[order.type], "reduceOnly": order.reduce_only, "closePosition": False,
        "side": order.side, "positionSide": "BOTH", "stopPrice": payloads.num(order.stop_price),
        "workingType": "CONTRACT_PRICE", "priceProtect": False, "priceMatch": "NONE",
        "selfTradePreventionMode": "EXPIRE_MAKER", "goodTillDate": 0, "time": order.created_ts,
        "updateTime": order.updated_ts or order.created_ts,
    }


def algo_order_json(order: SandboxOrder) -> dict:
    """/fapi/v1/algoOrder 的一张条件单（algoId 即订单号）。"""
    status = {"NEW": "NEW", "PARTIALLY_FILLED": "TRIGGERED", "FILLED": "FINISHED", "CANCELED": "CANCELED",
              "EXPIRED": "EXPIRED"}[order.status]
    if order.status == "NEW" and order.triggered:
        status = "TRIGGERED"
    return {
        "algoId": order.order_id, "clientAlgoId": order.client_order_id, "algoType": "CONDITIONAL",
        "orderType": INTERNAL_TO_FUTURES[order.type], "symbol": order.market_id, "side": order.side,
        "positionSide": "BOTH", "timeInForce": order.time_in_force, "quantity": payloads.num(order.amount),
        "algoStatus": status, "triggerPrice": payloads.num(order.stop_price), "price": payloads.num(order.price),
        "icebergQuantity": None, "selfTradePreventionMode": "EXPIRE_MAKER", "workingType": "CONTRACT_PRICE",
        "priceMatch": "NONE", "closePosition": False, "priceProtect": False, "reduceOnly": order.reduce_only,
        "createTime": order.created_ts, "updateTime": order.updated_ts or order.created_ts,
        "triggerTime": order.working_ts if order.triggered else 0, "goodTillDate": 0,
        "actualOrderId": str(order.order_id) if order.triggered else "", "executedQty": payloads.num(order.filled),
        "avgPrice": payloads.num(order.cost / order.filled if order.filled else 0.0),
    }


def user_trade_json(trade: SandboxTrade) -> dict:
    """GET /fapi/v1/userTrades 的一项。"""
    return {
        "buyer": trade.side == "BUY", "commission": payloads.num(trade.fee), "commissionAsset": trade.fee_asset,
        "id": trade.trade_id, "maker": trade.is_maker, "orderId": trade.order_id, "price": payloads.num(trade.price),
        "qty": payloads.num(trade.amount), "quoteQty": payloads.num(trade.notional),
        "realizedPnl": payloads.num(trade.realized_pnl), "side": trade.side, "positionSide": "BOTH",
        "symbol": trade.market_id, "time": trade.ts,
    }


def futures_order_update(order: SandboxOrder, exec_type: str, now: int, trade: SandboxTrade | None) -> dict:
    """用户数据流的 ORDER_TRADE_UPDATE 事件。"""
    return {"e": "ORDER_TRADE_UPDATE", "E": now, "T": now, "o": {
        "s": order.market_id, "c": order.client_order_id, "S": order.side, "o": INTERNAL_TO_FUTURES[order.type],
        "f": order.time_in_force, "q": payloads.num(order.amount), "p": payloads.num(order.price),
        "ap": payloads.num(order.cost / order.filled if order.filled else 0.0), "sp": payloads.num(order.stop_price),
        "x": exec_type, "X": order.status, "i": order.order_id, "l": payloads.num(trade.amount if trade else 0.0),
        "z": payloads.num(order.filled), "L": payloads.num(trade.price if trade else 0.0),
        "N": trade.fee_asset if trade else "USDT", "n": payloads.num(trade.fee if trade else 0.0),
        "T": trade.ts if trade else now, "t": trade.trade_id if trade else 0, "b": "0", "a": "0",
        "m": trade.is_maker if trade else False, "R": order.reduce_only, "wt": "CONTRACT_PRICE",
        "ot": INTERNAL_TO_FUTURES[order.type], "ps": "BOTH", "cp": False,
        "rp": payloads.num(trade.realized_pnl if trade else 0.0), "pP": False, "si": 0, "ss": 0, "V": "EXPIRE_MAKER",
        "pm": "NONE", "gtd": 0}}


def account_update(account: FuturesAccount, spec: MarketSpec, mark: float, now: int) -> dict:
    """用户数据流的 ACCOUNT_UPDATE 事件：钱包余额与该交易对的持仓。"""
    position = account.position(spec)
    return {"e": "ACCOUNT_UPDATE", "E": now, "T": now, "a": {
        "m": "ORDER",
        "B": [{"a": spec.quote, "wb": payloads.num(account.wallet), "cw": payloads.num(account.wallet), "bc": "0"}],
        "P": [{"s": spec.market_id, "pa": payloads.num(position.amount), "ep": payloads.num(position.entry_price),
               "bep": payloads.num(position.entry_price), "cr": payloads.num(position.realized_pnl),
               "up": payloads.num(position.unrealized_pnl(mark)), "mt": "cross", "iw": "0", "ps": "BOTH",
               "ma": spec.quote}]}}
