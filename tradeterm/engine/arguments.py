"""引擎命令参数的严格校验：每个命令有哪些字段、哪些必填、各是什么类型（两种客户端共用）。

规则：字段名只能是该命令声明过的；必填字段不能缺；可选字段写 null 等于没写；
文本字段必须是非空字符串；开关只接受 true/false（不接受 0/1、"yes"）；
数值字段不接受布尔（true 不是 1），必须是有限数且大于 0；选项字段必须是列出的取值之一。
每条错误一行英文：`<命令>.<字段>: <坏值> <问题>; <修正方法>`。
引擎相关的检查（实例是否存在、交易对是否在交易、策略参数的取值范围）在 tradeterm/engine/commands.py。
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tradeterm.engine.protocol import json_type, show
from tradeterm.errors import UserError
from tradeterm.strategy.params import closest


@dataclass(frozen=True)
class Field:
    """一个命令参数字段的声明。"""

    kind: str                       # 类型："text"（非空字符串）、"flag"（布尔）、"number"（正的有限数）、"count"（1..MAX_COUNT
                                    # 的整数）、"object"、"choice"
    required: bool = False          # 是否必填
    choices: tuple[str, ...] = ()   # kind 为 choice 时允许的取值
    hint: str = ""                  # 修正方法里给的示例


# 查询命令里条数、根数、周期数的上限（"count" 字段）：足够看一年的日盈亏与很长的日志，又不会让一次应答大得离谱
MAX_COUNT = 10_000
# 实例名字段（必填）
INSTANCE = Field("text", True, hint='give the instance name as text, e.g. "flip_btc"')
# 各命令的参数字段：命令名 -> {字段名: 声明}
COMMAND_FIELDS: dict[str, dict[str, Field]] = {
    "pause": {"instance": INSTANCE},
    "resume": {"instance": INSTANCE},
    "stop": {"instance": INSTANCE},
    "start": {"instance": INSTANCE},
    "set_params": {"instance": INSTANCE,
                   "params": Field("object", True, hint='give {"name": value, ...}, e.g. {"fast": 8}')},
    "cancel_order": {"client_order_id": Field("text", True, hint="give the client order id shown by 'ctl status'")},
    "cancel_all": {"instance": Field("text", hint="give an instance name, or leave it out for all instances")},
    "flatten": {"instance": INSTANCE, "dry_run": Field("flag")},
    "manual_order": {
        "symbol": Field("text", True, hint='give a traded symbol, e.g. "BTC/USDT"'),
        "side": Field("choice", True, ("buy", "sell"), hint="side is buy or sell"),
        "amount": Field("number", hint="give a positive amount in the base currency, e.g. 0.01"),
        "notional": Field("number", hint="give a positive amount in the quote currency, e.g. 100"),
        "type": Field("choice", choices=("market", "limit"), hint="type is market or limit"),
        "price": Field("number", hint="give a positive limit price, e.g. 27000.5"),
        "dry_run": Field("flag"),
    },
    "kill_switch": {"reset": Field("flag")},
    "shutdown": {},
    "history": {"events": Field("count", hint="give how many log lines to load, e.g. 300"),
                "bars": Field("count", hint="give how many bars per chart to load, e.g. 240")},
    "trades": {"instance": Field("text", hint="give an instance name (manual for manual orders), or leave it out"),
               "limit": Field("count", hint="give how many recent trades to list, e.g. 20")},
    "pnl": {"period": Field("choice", choices=("day", "week", "month"), hint="period is day, week or month"),
            "count": Field("count", hint="give how many periods to show, e.g. 7"),
            "instance": Field("text", hint="give an instance name (manual for manual orders), or leave it out")},
}


def positive_number(where: str, value: Any, hint: str = "give a positive number") -> float:
    """一个必须为正的有限数：布尔、字符串、NaN、无穷大、溢出的大整数、0 与负数都抛 UserError。返回 float。"""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        what = "a boolean, not a number" if isinstance(value, bool) else f"{json_type(value)}, not a number"
        raise UserError(f"{where}: {show(value)} is {what}; {hint}")
    try:
        number = float(value)
    except OverflowError:
        raise UserError(f"{where}: {show(value)} is too large to be a price or amount; {hint}") from None
    if not math.isfinite(number):
        raise UserError(f"{where}: {show(value)} is not a finite number; {hint}")
    if number <= 0:
        raise UserError(f"{where}: {show(value)} must be greater than 0; {hint}")
    return number


def _check_field(where: str, spec: Field, value: Any) -> Any:
    """按声明检查一个（非 null 的）字段值，返回规范化后的值；不合格时抛 UserError。"""
    if spec.kind == "number":
        return positive_number(where, value, spec.hint)
    if spec.kind == "count":
        number = positive_number(where, value, spec.hint)
        if number != int(number) or number > MAX_COUNT:
            raise UserError(f"{where}: {show(value)} is not a whole number from 1 to {MAX_COUNT}; {spec.hint}")
        return int(number)
    if spec.kind == "flag":
        if isinstance(value, bool):
            return value
        raise UserError(f"{where}: {show(value)} is {json_type(value)}, not true or false; use true or false")
    if spec.kind == "object":
        if isinstance(value, dict):
            return value
        raise UserError(f"{where}: {show(value)} is {json_type(value)}, not an object; {spec.hint}")
    if not isinstance(value, str):
        raise UserError(f"{where}: {show(value)} is {json_type(value)}, not text; {spec.hint}")
    if spec.kind == "choice" and value not in spec.choices:
        raise UserError(f"{where}: {show(value)} is not one of {', '.join(spec.choices)}; {spec.hint}")
    if not value.strip():
        raise UserError(f"{where}: {show(value)} is empty; {spec.hint}")
    return value


def check_args(command: str, args: dict[str, Any]) -> dict[str, Any]:
    """校验一个命令的参数：未知字段、缺必填、类型与取值。返回 {字段: 值}，没给的可选字段为 None。

    command 须已是 COMMAND_FIELDS 里的命令名；不合格时抛 UserError（第一处问题）。"""
    fields = COMMAND_FIELDS[command]
    for key in args:
        if key not in fields:
            allowed = ", ".join(fields) or "no arguments"
            suggestion = closest(key, set(fields)) if isinstance(key, str) else ""
            raise UserError(f"{command}.{key}: unknown argument{suggestion}; {command} takes: {allowed}")
    checked: dict[str, Any] = {}
    for key, spec in fields.items():
        value = args.get(key)
        if value is None:
            if spec.required:
                raise UserError(f"{command}.{key}: missing; {spec.hint or 'give a value'}")
            checked[key] = None
            continue
        checked[key] = _check_field(f"{command}.{key}", spec, value)
    return checked
