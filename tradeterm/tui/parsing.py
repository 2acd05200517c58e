"""表单输入 -> 值：只接受“字面上就是那个值”的文字，绝不截断、四舍五入或按 YAML 的宽松规则猜。

为什么不用 YAML 解析：`010` 在 YAML 1.1 里是八进制的 8，`1_000` 是 1000，`8.5` 进整数参数曾被截成 8；下单数量里的逗号
曾被直接删掉（`0,015` 变成 15）。交易员敲的是什么，送给引擎的就必须是什么，否则就明确报错（英文一行，写明字段、
原文与正确写法）。
"""

from __future__ import annotations

import math
import re
from typing import Any

from tradeterm.errors import UserError

# 整数的写法：可带正负号的十进制数字（不收 1_000、0x10、1e3）
INTEGER = re.compile(r"[+-]?\d+")
# 小数的写法：十进制，可带小数点与指数（1.5、.5、2e-3）；不收 inf、nan、千分位
DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
# 带千分位逗号的写法：首组 1~3 位且不以 0 开头、其余每组恰好三位（1,000 与 12,345.5 可以；0,015 与 1,5 不可以——
# 那是小数逗号，意思不明）
GROUPED = re.compile(r"[+-]?[1-9]\d{0,2}(,\d{3})+(\.\d*)?")
# 布尔参数接受的写法
BOOLEANS = {"true": True, "false": False}


def parse_param(name: str, text: str, current: Any) -> Any:
    """参数框里的一格：按该参数现有值的类型解析（整数、小数、布尔、文字）；写法不符时抛 UserError。"""
    raw = text.strip()
    if isinstance(current, bool):
        if raw.lower() in BOOLEANS:
            return BOOLEANS[raw.lower()]
        raise UserError(f"{name}: '{text}' is not true or false")
    if isinstance(current, int):
        if INTEGER.fullmatch(raw):
            return int(raw)
        raise UserError(f"{name}: '{text}' is not a whole number; type digits only, like {current}")
    if isinstance(current, float):
        if DECIMAL.fullmatch(raw) and math.isfinite(float(raw)):
            return float(raw)
        raise UserError(f"{name}: '{text}' is not a number; type a decimal like {current}")
    return text


def parse_positive(text: str, what: str) -> float:
    """下单框里的数量或价格：正的十进制数，千分位逗号只在每组三位时接受；写法不符或不是正数时抛 UserError。"""
    raw = text.strip()
    if GROUPED.fullmatch(raw):
        raw = raw.replace(",", "")
    if not DECIMAL.fullmatch(raw) or not math.isfinite(float(raw)):
        hint = " (use a dot for decimals, e.g. 0.015)" if "," in raw else ""
        raise UserError(f"{what} must be a number, got '{text}'{hint}")
    value = float(raw)
    if value <= 0:
        raise UserError(f"{what} must be positive, got {text}")
    return value
