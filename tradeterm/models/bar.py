"""K 线（bar）：一个周期内的开高低收与成交量。"""

from __future__ import annotations

from dataclasses import dataclass

# 一根 K 线在 DataFrame 中的标准列名，数据层与策略层都用这一组
OHLCV_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")


@dataclass(frozen=True, slots=True)
class Bar:
    """一根已收盘的 K 线。价格单位为计价货币，数量单位为基础货币。"""

    ts: int          # K 线开盘时间，UTC 毫秒时间戳
    open: float      # 开盘价，计价货币（如 USDT）
    high: float      # 最高价，计价货币
    low: float       # 最低价，计价货币
    close: float     # 收盘价，计价货币
    volume: float    # 成交量，基础货币（如 BTC）

    def is_consistent(self) -> bool:
        """检查 low <= open、close <= high 且成交量非负。"""
        return self.low <= min(self.open, self.close) and max(self.open, self.close) <= self.high and self.volume >= 0
