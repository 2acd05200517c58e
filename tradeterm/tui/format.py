"""界面的数字与时间格式（英文界面）：金额、数量、百分比、时刻。"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal


def money(value: float | None, digits: int = 2) -> str:
    """金额：千分位、固定小数位；None 显示为短横。"""
    return "-" if value is None else f"{value:,.{digits}f}"


def signed(value: float | None, digits: int = 2) -> str:
    """带正负号的金额（盈亏）。"""
    return "-" if value is None else f"{value:+,.{digits}f}"


def amount(value: float | None) -> str:
    """数量（基础货币）：最多 6 位有效数字。"""
    return "-" if value is None else f"{value:.6g}"


def exact(value: float | None) -> str:
    """将要发给交易所的数字（确认框用）：浮点数最短的精确写法，不四舍五入、不用科学计数法（0.015、0.00001234）。"""
    if value is None:
        return "-"
    text = format(Decimal(repr(float(value))), "f")
    return text[:-2] if text.endswith(".0") else text


def percent(value: float | None, digits: int = 2) -> str:
    """小数 -> 带正负号的百分比（0.0123 -> +1.23%）。"""
    return "-" if value is None else f"{value * 100:+.{digits}f}%"


def clock(ts: int) -> str:
    """UTC 毫秒时间戳 -> 本地时刻 HH:MM:SS。"""
    return datetime.fromtimestamp(ts / 1000, tz=timezone.utc).astimezone().strftime("%H:%M:%S")
