"""界面的数字与时间格式（英文界面）：金额、数量、百分比、成交量短写、时长、时刻。"""

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


# compact 用的数量级：(倍数, 后缀)，由大到小
MAGNITUDES = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K"))
# duration 用的时间单位：(毫秒数, 后缀)，由大到小
DURATION_UNITS = ((86_400_000, "d"), (3_600_000, "h"), (60_000, "m"), (1_000, "s"))


def compact(value: float | None) -> str:
    """大数字的短写法（成交量）：3 位有效数字加 K/M/B/T（8382.4 -> 8.38K，1.2e6 -> 1.2M，0.5 -> 0.5）；None 为短横。"""
    if value is None:
        return "-"
    for scale, suffix in MAGNITUDES:
        # 按 3 位有效数字会进位到下一级的（如 999,600 -> 1M）直接用下一级，不写成 1e+03K
        if abs(value) >= scale * 0.9995:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


def duration(ms: int | None) -> str:
    """时长的短写法（毫秒 -> 45s、3m、2h、1d，取最大的整单位，向下取整）；None 为空串，不到 1 秒为 <1s。"""
    if ms is None:
        return ""
    for unit, suffix in DURATION_UNITS:
        if ms >= unit:
            return f"{int(ms // unit)}{suffix}"
    return "<1s"
