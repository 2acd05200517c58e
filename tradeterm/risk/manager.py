"""下单前风控：按固定顺序检查一张订单请求，返回第一条不通过的规则及原因。

检查顺序（先“停不停”，再“多不多”）：一键停止 -> 熔断 -> 陈旧行情 -> 价格带 -> 单笔名义金额 -> 单品种持仓 ->
总敞口 -> 下单频率 -> 余额。
减仓/平仓订单（reduces=True）不受熔断、陈旧行情、单笔名义金额、持仓、敞口、频率与余额限制：这些规则是为了阻止
新增风险，不能挡住止损与平仓；一键停止之后也只放行它们。价格带对减仓的限价单同样适用（打错价格的平仓单同样危险）。
减仓单计入下单频率，但不会因频率被拒。
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from tradeterm.config.schema import RiskConfig
from tradeterm.models import MarketType, OrderType, Side
from tradeterm.risk.breakers import CircuitBreakers

# 下单频率的统计窗口，毫秒（max_orders_per_minute 按最近 60 秒计）
RATE_WINDOW_MS = 60_000


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """待检查的订单请求。数量为基础货币，价格为计价货币，时间为 UTC 毫秒。"""

    symbol: str                       # 交易对，如 BTC/USDT
    side: Side                        # 买或卖
    amount: float                     # 数量，基础货币
    price: float                      # 预计成交价（市价单用最新价），计价货币
    ts: int                           # 请求时间，UTC 毫秒
    order_type: OrderType = OrderType.MARKET  # 订单类型
    limit_price: float | None = None  # 限价，计价货币；仅限价单
    reduces: bool = False             # 是否只减少已有仓位（平仓、止损、止盈）
    fee_rate: float = 0.0             # 预计费率（小数），用于余额检查
    instance: str | None = None       # 发出请求的策略实例名

    @property
    def notional(self) -> float:
        """名义金额，计价货币。"""
        return self.amount * (self.limit_price or self.price)


@dataclass(slots=True)
class AccountSnapshot:
    """下单那一刻的账户状态。金额为计价货币，时间为 UTC 毫秒。"""

    equity: float                                                # 权益（现金 + 持仓市值）
    cash: float                                                  # 可用现金（未被挂单占用）
    positions: dict[str, float] = field(default_factory=dict)    # 交易对 -> 带符号的持仓名义金额（多正空负）
    last_price_ts: dict[str, int] = field(default_factory=dict)  # 交易对 -> 最新行情时间
    stale: dict[str, str] = field(default_factory=dict)          # 陈旧的交易对（订阅落后交易所超过界限）-> 英文说明


@dataclass(frozen=True, slots=True)
class RiskDecision:
    """风控结论。allowed 为 False 时 rule 为触发的规则键名，reason 为英文说明（写入日志库）。"""

    allowed: bool     # 是否放行
    rule: str = ""    # 拒绝时触发的规则（与 config 的 risk 键同名，或 kill_switch/balance）
    reason: str = ""  # 拒绝原因，英文，含数值与上限

    @classmethod
    def ok(cls) -> "RiskDecision":
        """放行。"""
        return cls(True)


class RiskManager:
    """按 config 的 risk 块检查订单，并维护熔断与一键停止状态。"""

    def __init__(self, config: RiskConfig, market_type: MarketType = MarketType.SPOT,
                 starting_equity: float | None = None):
        """config 为风控配置（None 项不启用）；market_type 决定余额检查方式（现货买入须有现金）；
        starting_equity 为第一天的起始权益（计价货币，回测为初始资金），None 时用第一次采样的权益。"""
        # 风控配置（阈值与上限）
        self.config = config
        # 市场类型：现货买入花现金，合约只检查敞口
        self.market_type = market_type
        # 组合熔断（回撤、单日亏损）
        self.breakers = CircuitBreakers(config.max_drawdown, config.daily_loss, starting_equity)
        # 一键停止是否已触发；触发后除减仓外一律拒绝
        self.killed = False
        # 最近 60 秒内被放行的订单时间（UTC 毫秒），用于频率限制
        self._recent_orders: deque[int] = deque()

    def update_equity(self, ts: int, equity: float) -> list[str]:
        """每根 K 线收盘与每笔成交后调用：更新熔断，返回新触发的熔断说明。"""
        return self.breakers.update(ts, equity)

    def kill(self) -> None:
        """一键停止：之后只放行减仓单（撤单、平仓与停止实例由引擎执行）。"""
        self.killed = True

    def reset_kill(self) -> None:
        """解除一键停止（只由明确的 kill-switch --reset 调用）：新开仓重新受其余规则约束。"""
        self.killed = False

    def check(self, request: OrderRequest, account: AccountSnapshot, *, record: bool = True) -> RiskDecision:
        """检查一张订单请求；放行且 record 为真时记入频率统计（record=False 只预览结论，如界面的下单确认）。"""
        for rule in (self._kill_switch, self._breakers, self._stale, self._price_band, self._order_notional,
                     self._position, self._exposure, self._rate, self._balance):
            decision = rule(request, account)
            if decision is not None:
                return decision
        if record:
            self._recent_orders.append(request.ts)
        return RiskDecision.ok()

    # ---- 各条规则：通过返回 None，不通过返回拒绝结论 ----------------------------------------

    def _kill_switch(self, request: OrderRequest, account: AccountSnapshot) -> RiskDecision | None:
        """一键停止后只放行减仓。"""
        if self.killed and not request.reduces:
            return RiskDecision(False, "kill_switch", "kill switch is engaged: only reducing orders are allowed")
        return None

    def _breakers(self, request: OrderRequest, account: AccountSnapshot) -> RiskDecision | None:
        """熔断期间阻止新开仓；单日亏损熔断按请求时间判断是否已到下一个 UTC 日（见 CircuitBreakers.blocking_at）。"""
        name = self.breakers.blocking_at(request.ts)
        if name and not request.reduces:
            limit = getattr(self.config, name)
            return RiskDecision(False, name, f"{name} circuit breaker is tripped (limit {limit:.2%}); "
                                             f"new entries are blocked")
        return None

    def _stale(self, request: OrderRequest, account: AccountSnapshot) -> RiskDecision | None:
        """行情陈旧时拒绝新开仓：订阅落后交易所超过 stale_feed_bars 根（引擎的看门狗判定），
        或行情超过 stale_after 秒未更新。"""
        if request.reduces:
            return None
        if request.symbol in account.stale:
            return RiskDecision(False, "stale_after", f"market data is stale: {account.stale[request.symbol]}")
        limit = self.config.stale_after
        if limit is None:
            return None
        last = account.last_price_ts.get(request.symbol)
        age = None if last is None else (request.ts - last) / 1000.0
        if age is None or age > limit:
            shown = "no price yet" if age is None else f"last price {age:.1f}s old"
            return RiskDecision(False, "stale_after", f"{request.symbol}: market data is stale ({shown}, "
                                                      f"limit {limit:g}s)")
        return None

    def _price_band(self, request: OrderRequest, account: AccountSnapshot) -> RiskDecision | None:
        """限价偏离最新价超过 price_band 时拒绝（防止手滑把价格打错一个数量级）。"""
        band = self.config.price_band
        if band is None or request.limit_price is None or request.price <= 0:
            return None
        deviation = abs(request.limit_price / request.price - 1.0)
        if deviation > band:
            return RiskDecision(False, "price_band", f"limit price {request.limit_price:g} is {deviation:.2%} away "
                                                     f"from last price {request.price:g} (limit {band:.2%})")
        return None

    def _order_notional(self, request: OrderRequest, account: AccountSnapshot) -> RiskDecision | None:
        """单笔名义金额上限（只约束新增风险的订单）。"""
        limit = self.config.max_order_notional
        if limit is None or request.reduces or request.notional <= limit:
            return None
        return RiskDecision(False, "max_order_notional", f"order notional {request.notional:,.2f} exceeds "
                                                         f"max_order_notional {limit:,.2f}")

    def _position_after(self, request: OrderRequest, account: AccountSnapshot) -> float:
        """成交后该品种带符号的持仓名义金额。"""
        return account.positions.get(request.symbol, 0.0) + request.side.sign * request.notional

    def _position(self, request: OrderRequest, account: AccountSnapshot) -> RiskDecision | None:
        """成交后单品种持仓名义金额（绝对值）不得超过 max_position。"""
        limit = self.config.max_position
        if limit is None or request.reduces:
            return None
        after = abs(self._position_after(request, account))
        if after <= limit:
            return None
        return RiskDecision(False, "max_position", f"{request.symbol} position would be {after:,.2f} "
                                                   f"(max_position {limit:,.2f})")

    def _exposure(self, request: OrderRequest, account: AccountSnapshot) -> RiskDecision | None:
        """成交后全部持仓名义金额绝对值之和不得超过 max_exposure。"""
        limit = self.config.max_exposure
        if limit is None or request.reduces:
            return None
        others = sum(abs(v) for s, v in account.positions.items() if s != request.symbol)
        after = others + abs(self._position_after(request, account))
        if after <= limit:
            return None
        return RiskDecision(False, "max_exposure", f"total exposure would be {after:,.2f} "
                                                   f"(max_exposure {limit:,.2f})")

    def _rate(self, request: OrderRequest, account: AccountSnapshot) -> RiskDecision | None:
        """最近 60 秒内放行的订单数达到上限时拒绝新开仓（减仓单计数但不被拒）。"""
        limit = self.config.max_orders_per_minute
        if limit is None:
            return None
        while self._recent_orders and self._recent_orders[0] <= request.ts - RATE_WINDOW_MS:
            self._recent_orders.popleft()
        if request.reduces or len(self._recent_orders) < limit:
            return None
        return RiskDecision(False, "max_orders_per_minute", f"{len(self._recent_orders)} orders in the last "
                                                            f"minute (max_orders_per_minute {limit})")

    def _balance(self, request: OrderRequest, account: AccountSnapshot) -> RiskDecision | None:
        """现货买入：名义金额加手续费不得超过可用现金。"""
        if self.market_type is not MarketType.SPOT or request.side is not Side.BUY or request.reduces:
            return None
        cost = request.notional * (1.0 + request.fee_rate)
        if cost <= account.cash * (1.0 + 1e-12):
            return None
        return RiskDecision(False, "balance", f"buy costs {cost:,.2f} including fees but only "
                                              f"{account.cash:,.2f} cash is free")
