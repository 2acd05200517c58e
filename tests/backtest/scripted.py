"""测试用的“剧本”策略与手工 K 线：在指定的 K 线上给出指定的信号，便于手算期望成交。"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tradeterm.models import MarketType, OrderType, Side, SignalIntent, TradeSignal
from tradeterm.strategy.base import SIGNAL_COLUMNS, Strategy

# 手工 K 线的周期，毫秒（1 分钟）
STEP_MS = 60_000
# 手工 K 线第一根的开盘时间，UTC 毫秒（2023-01-01 00:00）
START_TS = 1_672_531_200_000


def make_bars(rows: list[tuple[float, float, float, float]]) -> pd.DataFrame:
    """由 (open, high, low, close) 列表构造 K 线表，每根 1 分钟，成交量 1。"""
    data = np.array(rows, dtype=float)
    return pd.DataFrame({
        "timestamp": START_TS + STEP_MS * np.arange(len(rows), dtype=np.int64),
        "open": data[:, 0], "high": data[:, 1], "low": data[:, 2], "close": data[:, 3],
        "volume": np.ones(len(rows)),
    })


class Scripted(Strategy):
    """向量化剧本策略：script 为 {行号: {信号列或 stop_loss/take_profit: 值}}，其余行没有信号。"""

    def __init__(self, script: dict[int, dict[str, Any]], market_type: MarketType = MarketType.SPOT,
                 name: str = "scripted", symbol: str = "BTC/USDT"):
        """保存剧本。"""
        super().__init__({}, name=name, symbol=symbol, market_type=market_type)
        # 剧本：行号 -> {列名: 值}
        self.script = script

    def signals(self, df: pd.DataFrame) -> pd.DataFrame:
        """按剧本生成四个布尔列与 stop_loss、take_profit 两个价格列（NaN 表示不设）。"""
        out = pd.DataFrame({c: np.zeros(len(df), dtype=bool) for c in SIGNAL_COLUMNS}, index=df.index)
        out["stop_loss"] = np.nan
        out["take_profit"] = np.nan
        for row, values in self.script.items():
            for column, value in values.items():
                out.loc[out.index[row], column] = value
        return out


class LimitBuyer(Strategy):
    """有状态（非向量化）策略：在第 signal_row 根收盘时挂一张限价买单，在第 exit_row 根收盘时市价平多。"""

    def __init__(self, signal_row: int, limit: float, exit_row: int | None = None):
        """记下挂单的行与限价（计价货币）。"""
        super().__init__({}, name="limit_buyer")
        # 挂单的 K 线行号
        self.signal_row = signal_row
        # 限价，计价货币
        self.limit = limit
        # 平仓的 K 线行号；None 表示不平
        self.exit_row = exit_row

    def on_data(self, df: pd.DataFrame) -> list[TradeSignal]:
        """到了指定行就给出限价开多或市价平多信号。"""
        row = len(df) - 1
        ts = int(df["timestamp"].iloc[-1])
        if row == self.signal_row:
            return [TradeSignal(self.symbol, Side.BUY, SignalIntent.OPEN_LONG, ts=ts, order_type=OrderType.LIMIT,
                                limit_price=self.limit)]
        if row == self.exit_row:
            return [TradeSignal(self.symbol, Side.SELL, SignalIntent.CLOSE_LONG, ts=ts)]
        return []
