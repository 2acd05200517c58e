"""一个策略实例（机器人）：最近的 K 线窗口、策略对象、状态、持仓与引擎管理的止损止盈。

机器人只做“决定”：收盘时问策略要信号，按与回测相同的仓位规则（见 tradeterm/backtest/broker.py）把信号变成
下单意图（`Intent`）；下单、风控与记账由引擎完成。规则：
- 已持多仓时的开多被忽略，空仓时的平多被忽略；同一根 K 线先平后开（合约上可以反手）；
- 现货只做多：开空/平空信号被丢弃；
- 有未结束的订单时不产生新的开仓意图（避免重复开仓）。
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tradeterm.engine.instance import InstanceState
from tradeterm.models import MarketType, Position, Side, SignalIntent, TradeSignal
from tradeterm.models.bar import OHLCV_COLUMNS
from tradeterm.strategy.base import Strategy

# 窗口里至少保留的 K 线根数（预热更长的策略保留 2 倍预热）
MIN_WINDOW = 300


@dataclass(frozen=True, slots=True)
class Intent:
    """机器人想下的一张单：方向、是否开仓、原因，以及开仓时附带的止损止盈。"""

    side: Side                        # 买或卖
    opening: bool                     # True 为开仓，False 为平仓（数量 = 当前持仓）
    reason: str                       # 原因标签（信号的 reason 或意图名）
    stop_loss: float | None = None    # 开仓后的止损价，计价货币
    take_profit: float | None = None  # 开仓后的止盈价，计价货币


class Bot:
    """一个运行中的策略实例。"""

    def __init__(self, strategy: Strategy, state: InstanceState, market_type: MarketType):
        """strategy 为已按参数创建的策略对象；state 为实例状态；market_type 决定能否做空。"""
        # 策略对象（set_params 时整个替换）
        self.strategy = strategy
        # 运行状态（running / paused / stopped / error）
        self.state = state
        # 市场类型：现货只做多
        self.market_type = market_type
        # 本实例在本交易对上的持仓（由成交更新）
        self.position = Position(strategy.symbol, instance=strategy.name)
        # 引擎管理的止损价，计价货币；None 表示没有
        self.stop_loss: float | None = None
        # 引擎管理的止盈价，计价货币；None 表示没有
        self.take_profit: float | None = None
        # 最近 K 线的窗口：每行 [timestamp, open, high, low, close, volume]
        self.bars = np.zeros((0, 6))
        # 最近一次信号的说明（界面显示）
        self.last_signal = ""
        # 最新价，计价货币（标记持仓用）
        self.mark = 0.0
        # 最新价的时间，UTC 毫秒（陈旧行情检查用）
        self.mark_ts = 0

    @property
    def name(self) -> str:
        """实例名。"""
        return self.strategy.name

    @property
    def symbol(self) -> str:
        """交易对。"""
        return self.strategy.symbol

    @property
    def window(self) -> int:
        """窗口保留的 K 线根数。"""
        return max(MIN_WINDOW, 2 * int(self.strategy.warmup))

    def load_history(self, frame: pd.DataFrame) -> None:
        """用历史 K 线填满窗口（启动时的预热）。"""
        self.bars = frame[list(OHLCV_COLUMNS)].to_numpy(dtype=float)[-self.window:]
        if len(self.bars):
            self.mark, self.mark_ts = float(self.bars[-1, 4]), int(self.bars[-1, 0])

    def add_bar(self, row: list[float]) -> bool:
        """追加一根已收盘的 K 线；比窗口里最后一根旧或相同的被忽略（返回 False）。"""
        if len(self.bars) and row[0] <= self.bars[-1, 0]:
            return False
        self.bars = np.vstack([self.bars[-(self.window - 1):], np.asarray(row, dtype=float)[None, :]])
        self.mark, self.mark_ts = float(row[4]), int(row[0])
        return True

    def frame(self) -> pd.DataFrame:
        """窗口 -> 策略需要的 DataFrame（timestamp 为 int64）。"""
        frame = pd.DataFrame(self.bars[:, 1:], columns=list(OHLCV_COLUMNS[1:]))
        frame.insert(0, "timestamp", self.bars[:, 0].astype(np.int64))
        return frame

    def signals(self) -> list[TradeSignal]:
        """在窗口上调用策略的 on_data（预热不够时不调用）。策略抛出的异常由引擎处理。"""
        if len(self.bars) < max(int(self.strategy.warmup), 1):
            return []
        return self.strategy.on_data(self.frame())

    def intents(self, signals: list[TradeSignal], has_open_order: bool) -> list[Intent]:
        """信号 -> 下单意图（先平后开），规则见模块说明。"""
        closing = [s for s in signals if s.intent in (SignalIntent.CLOSE_LONG, SignalIntent.CLOSE_SHORT)]
        opening = [s for s in signals if s.intent in (SignalIntent.OPEN_LONG, SignalIntent.OPEN_SHORT)]
        side = self.position.amount
        intents: list[Intent] = []
        for signal in closing:
            if (signal.intent is SignalIntent.CLOSE_LONG and side > 0) or \
                    (signal.intent is SignalIntent.CLOSE_SHORT and side < 0):
                intents.append(Intent(Side.SELL if side > 0 else Side.BUY, False, signal.reason or signal.intent.value))
                side = 0.0
        for signal in opening:
            if signal.intent is SignalIntent.OPEN_SHORT and self.market_type is not MarketType.FUTURES:
                continue  # 现货只做多
            if side == 0 and not has_open_order:
                intents.append(Intent(signal.side, True, signal.reason or signal.intent.value, signal.stop_loss,
                                      signal.take_profit))
                break
        return intents

    def exit_hit(self, price: float) -> str | None:
        """最新价是否触发了止损或止盈：返回 stop_loss / take_profit，未触发为 None。止损先于止盈检查。"""
        amount = self.position.amount
        if amount == 0:
            return None
        if self.stop_loss is not None and ((amount > 0 and price <= self.stop_loss) or
                                           (amount < 0 and price >= self.stop_loss)):
            return "stop_loss"
        if self.take_profit is not None and ((amount > 0 and price >= self.take_profit) or
                                             (amount < 0 and price <= self.take_profit)):
            return "take_profit"
        return None

    def unrealized(self) -> float:
        """按最新价的浮动盈亏，计价货币。"""
        return self.position.unrealized_pnl(self.mark) if self.position.amount else 0.0

    def summary(self) -> dict:
        """界面与快照用的一行（可 JSON 序列化）。"""
        strategy = self.strategy
        return {"name": self.name, "symbol": self.symbol, "interval": strategy.timeframe,
                "strategy": type(strategy).__name__, "params": dict(strategy.params), "status": self.state.status.value,
                "error": self.state.error, "position": self.position.amount, "entry_price": self.position.entry_price,
                "mark": self.mark, "realized_pnl": self.position.realized_pnl - self.position.fees,
                "unrealized_pnl": self.unrealized(), "stop_loss": self.stop_loss, "take_profit": self.take_profit,
                "last_signal": self.last_signal}
