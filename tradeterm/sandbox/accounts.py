"""沙盒账户：API 凭证、各币种的可用/冻结余额、订单与成交记录，以及用户数据推送的订阅者。"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

# 每个新账户的初始资金：币种 -> 数量（USDT 为计价货币）
STARTING_BALANCES = {"USDT": 10_000.0}


@dataclass
class SandboxOrder:
    """沙盒里的一张订单（Binance 现货订单的字段）。数量为基础货币，价格为计价货币，时间为模拟时间 UTC 毫秒。"""

    order_id: int                 # 交易所订单号（沙盒内全局递增）
    client_order_id: str          # 客户端订单号（newClientOrderId）
    symbol: str                   # ccxt 交易对，如 BTC/USDT
    market_id: str                # Binance 交易对 id，如 BTCUSDT
    side: str                     # BUY 或 SELL
    type: str                     # LIMIT、LIMIT_MAKER、MARKET、STOP_LOSS、STOP_LOSS_LIMIT、TAKE_PROFIT、TAKE_PROFIT_LIMIT
    time_in_force: str            # GTC、IOC、FOK（市价单为 GTC）
    amount: float                 # 下单数量（origQty），基础货币
    price: float                  # 限价，计价货币；无限价时为 0
    stop_price: float             # 触发价（stopPrice），计价货币；非条件单为 0
    created_ts: int               # 下单时间（模拟时间），UTC 毫秒
    quote_amount: float = 0.0     # 按金额下的市价单（quoteOrderQty），计价货币；否则 0
    status: str = "NEW"           # NEW、PARTIALLY_FILLED、FILLED、CANCELED、EXPIRED、REJECTED
    filled: float = 0.0           # 已成交数量（executedQty），基础货币
    cost: float = 0.0             # 已成交金额（cummulativeQuoteQty），计价货币
    updated_ts: int = 0           # 最后更新时间（模拟时间），UTC 毫秒
    triggered: bool = False       # 条件单是否已触发（触发后限价条件单变成普通限价单在簿上）
    locked_asset: str = ""        # 为此单冻结的币种（买单冻结计价货币，卖单冻结基础货币）
    locked: float = 0.0           # 仍为此单冻结的数量，单位为 locked_asset
    bar_index: int = -1           # 上一次成交所在的 K 线下标（用于按 K 线成交量限制部分成交）
    bar_filled: float = 0.0       # 在 bar_index 这根 K 线里已成交的数量，基础货币
    working_ts: int = 0           # 进入订单簿（或触发）的时间，UTC 毫秒
    fills: list[dict] = field(default_factory=list)  # 本单的成交明细（FULL 响应的 fills）
    reduce_only: bool = False     # 合约：只减仓（成交数量不超过反向持仓）

    @property
    def remaining(self) -> float:
        """未成交数量，基础货币。"""
        return max(self.amount - self.filled, 0.0)

    @property
    def is_open(self) -> bool:
        """订单是否仍在订单簿上（可能继续成交）。"""
        return self.status in ("NEW", "PARTIALLY_FILLED")

    @property
    def sign(self) -> int:
        """买为 +1、卖为 -1（共享成交模型的 side 参数）。"""
        return 1 if self.side == "BUY" else -1


@dataclass
class SandboxTrade:
    """账户的一笔成交。数量为基础货币，价格与金额为计价货币，时间为模拟时间 UTC 毫秒。"""

    trade_id: int       # 成交编号（沙盒内全局递增）
    order_id: int       # 所属订单号
    symbol: str         # ccxt 交易对
    market_id: str      # Binance 交易对 id
    side: str           # BUY 或 SELL
    price: float        # 成交价，计价货币
    amount: float       # 成交数量，基础货币
    fee: float          # 手续费，计价货币（沙盒一律以计价货币收费，与共享成交模型一致）
    fee_asset: str      # 手续费币种（即计价货币）
    is_maker: bool      # 是否为挂单方（决定 maker/taker 费率）
    ts: int             # 成交时间（模拟时间），UTC 毫秒
    realized_pnl: float = 0.0  # 这笔成交实现的盈亏，计价货币（只有合约平仓时非 0）

    @property
    def notional(self) -> float:
        """成交金额，计价货币。"""
        return self.price * self.amount


class Account:
    """一个沙盒账户：凭证、余额（可用/冻结）、订单、成交与用户数据推送的订阅者。"""

    def __init__(self, api_key: str, secret: str, balances: dict[str, float] | None = None):
        """api_key/secret 为该账户接受的凭证；balances 为初始可用余额（默认 10,000 USDT）。"""
        # API key（X-MBX-APIKEY 头）
        self.api_key = api_key
        # HMAC 签名密钥
        self.secret = secret
        # 可用余额：币种 -> 数量（该币种单位）
        self.free: dict[str, float] = dict(STARTING_BALANCES if balances is None else balances)
        # 冻结余额（挂单占用）：币种 -> 数量（该币种单位）
        self.locked: dict[str, float] = {}
        # 全部订单：订单号 -> 订单
        self.orders: dict[int, SandboxOrder] = {}
        # 全部成交，按时间先后
        self.trades: list[SandboxTrade] = []
        # 用户数据推送的订阅者：每个接收一条 Binance 事件（dict）
        self.listeners: set[Callable[[dict], None]] = set()

    def balance(self, asset: str) -> tuple[float, float]:
        """某币种的（可用, 冻结），该币种单位。"""
        return self.free.get(asset, 0.0), self.locked.get(asset, 0.0)

    def lock(self, asset: str, amount: float) -> None:
        """把 amount 从可用转为冻结（调用方已确认可用余额足够）。"""
        self.free[asset] = self.free.get(asset, 0.0) - amount
        self.locked[asset] = self.locked.get(asset, 0.0) + amount

    def unlock(self, asset: str, amount: float) -> None:
        """把 amount 从冻结转回可用。"""
        self.locked[asset] = max(self.locked.get(asset, 0.0) - amount, 0.0)
        self.free[asset] = self.free.get(asset, 0.0) + amount

    def add(self, asset: str, amount: float) -> None:
        """可用余额加 amount（负数为扣减）。"""
        self.free[asset] = self.free.get(asset, 0.0) + amount

    def find_order(self, order_id: int | None, client_order_id: str | None) -> SandboxOrder | None:
        """按订单号或客户端订单号找订单；都没有给出或找不到时返回 None。"""
        if order_id is not None:
            return self.orders.get(order_id)
        if client_order_id:
            for order in self.orders.values():
                if order.client_order_id == client_order_id:
                    return order
        return None

    def publish(self, event: dict) -> None:
        """把一条用户数据事件交给全部订阅者。"""
        for listener in list(self.listeners):
            listener(event)
