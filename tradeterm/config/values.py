"""可复用的取值检查：数字（有限、不是布尔）、区间（含/不含端点）、URL，以及错误说明里的取值显示。

配置块（schema.Block）、策略参数（strategy.params）与策略参数区间（Strategy.param_ranges）共用这里的函数，
同一种错误在各处说法一致。本模块不依赖 tradeterm 的其他模块（strategy.params 会在函数里导入它）。
"""

from __future__ import annotations

import math
import re
import types
import typing
from typing import Any
from urllib.parse import urlsplit

import annotated_types

# 外部沙盒地址（exchange.sandbox_url）允许的协议：REST 地址；websocket 地址由它推出（http -> ws，https -> wss）
URL_SCHEMES = ("http", "https")
# 64 位有符号整数的范围：整数参数超出它就无法交给 numpy/numba（会回绕成负数）
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1


def is_number(value: Any) -> bool:
    """是不是数字（int 或 float）；布尔不算数字（YAML 的 true 在 Python 里是 1）。"""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_finite_number(value: Any) -> bool:
    """是不是有限的数字：整数总是有限；浮点数不能是 inf、-inf 或 nan。"""
    if isinstance(value, int) and not isinstance(value, bool):
        return True
    return isinstance(value, float) and math.isfinite(value)


def show(value: Any) -> str:
    """错误说明里的取值：布尔写成 YAML 的 true/false，None 写成 null，文字带引号，过长的截断。"""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int) and abs(value) > 10 ** 30:
        return f"a {len(str(abs(value)))}-digit number"
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:60]}... ({len(text)} characters)"


def numeric_kind(annotation: Any) -> type | None:
    """字段注解是数字类型时返回 int 或 float（去掉 Optional 外层）；否则 None。bool 不算数字。"""
    if annotation in (int, float):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        kinds = {numeric_kind(arg) for arg in typing.get_args(annotation) if arg is not type(None)}
        if len(kinds) == 1:
            return kinds.pop()
    return None


def is_bool_field(annotation: Any) -> bool:
    """字段注解是不是布尔（含 Optional[bool]）。"""
    if annotation is bool:
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(arg is bool for arg in typing.get_args(annotation))
    return False


def bounds_of(metadata: list[Any]) -> tuple[float | None, bool, float | None, bool]:
    """pydantic 字段约束 -> (下界, 下界是否不含, 上界, 上界是否不含)；没有的一侧为 None。"""
    low, low_open, high, high_open = None, False, None, False
    for item in metadata:
        if isinstance(item, annotated_types.Gt):
            low, low_open = item.gt, True
        elif isinstance(item, annotated_types.Ge):
            low, low_open = item.ge, False
        elif isinstance(item, annotated_types.Lt):
            high, high_open = item.lt, True
        elif isinstance(item, annotated_types.Le):
            high, high_open = item.le, False
    return low, low_open, high, high_open


def within(value: float, low: float | None, low_open: bool, high: float | None, high_open: bool) -> bool:
    """value 是否落在区间内（None 表示该侧不设界）。"""
    if low is not None and (value <= low if low_open else value < low):
        return False
    if high is not None and (value >= high if high_open else value > high):
        return False
    return True


def bounds_text(low: float | None, low_open: bool, high: float | None, high_open: bool) -> str:
    """区间的英文说法：'above 0 and at most 100000'、'at least 1'；两侧都不设界时为空串。"""
    parts = []
    if low is not None:
        parts.append(f"{'above' if low_open else 'at least'} {_number_text(low)}")
    if high is not None:
        parts.append(f"{'below' if high_open else 'at most'} {_number_text(high)}")
    return " and ".join(parts)


def number_hint(kind: type | None, bounds: tuple[float | None, bool, float | None, bool], example: Any) -> str:
    """修正建议：'use a number above 0 and at most 1000000000000, e.g. 10000'（整数字段说 whole number）。"""
    noun = "a whole number" if kind is int else "a number"
    text = bounds_text(*bounds)
    hint = f"use {noun} {text}" if text else f"use {noun}"
    if is_finite_number(example):
        hint += f", e.g. {_number_text(example)}"
    return hint


def _number_text(value: float) -> str:
    """数字的简短写法：整数值的浮点数不带 .0（10000.0 -> 10000），其余用 repr。"""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value) if isinstance(value, float) else str(value)


def url_problem(url: str) -> str | None:
    """外部沙盒地址的问题（不含取值本身的一句话），没问题返回 None：协议、主机、端口、多余的部分。"""
    if not isinstance(url, str) or re.search(r"\s", url):
        return "is not a URL without spaces"
    try:
        parts = urlsplit(url)
    except ValueError:
        return "is not a valid URL"
    try:
        port = parts.port
    except ValueError:
        return "has a port that is not a whole number from 1 to 65535"
    if parts.scheme not in URL_SCHEMES:
        scheme = f"'{parts.scheme}'" if parts.scheme else "no scheme"
        return f"has {scheme}; use http:// or https:// (the websocket address is derived from it)"
    if not parts.hostname or not re.fullmatch(r"[A-Za-z0-9._:%\-]+", parts.hostname):
        return "has no valid host name"
    if port is not None and not 1 <= port <= 65535 or parts.netloc.endswith(":"):
        return "has a port that is not a whole number from 1 to 65535"
    if parts.username is not None or parts.password is not None:
        return "must not contain a user name or password"
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return "must be just scheme://host:port, without a path, query or fragment"
    return None
