"""策略参数的合并与校验：配置里的参数覆盖类默认值，未知参数、类型不符、非有限的数与超出声明区间的值
都给出可操作的错误说明。同一套检查用于 config.yml、命令行的 --param 与控制套接字的 set_params。"""

from __future__ import annotations

import difflib
import math
from typing import Any

from tradeterm.errors import StrategyError


def closest(name: str, choices: list[str] | tuple[str, ...] | set[str]) -> str:
    """给未知名称找最接近的合法名称，返回 " (did you mean 'x'?)" 或空串。"""
    match = difflib.get_close_matches(name, sorted(choices), n=1, cutoff=0.5)
    return f" (did you mean '{match[0]}'?)" if match else ""


def coerce_param(key: str, value: Any, default: Any) -> tuple[Any, str | None]:
    """按默认值的类型检查并转换一个参数值；返回 (转换后的值, 问题说明或 None)。

    int 参数只接受整数（不接受 True/False 与 2.5），且在 64 位整数范围内；float 参数接受整数与小数，但必须有限
    （不接受 inf、nan）；bool 只接受 true/false；str 只接受字符串。
    """
    # 在函数里导入：tradeterm.config 包在导入时会导入本模块（config.schema 用 closest），放在顶层会循环导入
    from tradeterm.config.values import INT64_MAX, INT64_MIN, is_finite_number, show

    kind = type(default)
    if kind is bool:
        if isinstance(value, bool):
            return value, None
        return value, f"{key}={value!r} must be true or false"
    if kind is int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            if INT64_MIN <= value <= INT64_MAX:
                return value, None
            return value, f"{key}={show(value)} is too large; use a whole number like {default}"
        if isinstance(value, float) and not is_finite_number(value):
            return value, f"{key}={show(value)} is not a finite number; use a whole number like {default}"
        return value, f"{key}={value!r} must be a whole number (like {default})"
    if kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                converted = float(value)
            except OverflowError:  # 超出浮点范围的整数（10**400）
                converted = math.inf
            if math.isfinite(converted):
                return converted, None
            return value, f"{key}={show(value)} is not a finite number; use a number like {default}"
        return value, f"{key}={value!r} must be a number (like {default})"
    if kind is str:
        if isinstance(value, str):
            return value, None
        return value, f"{key}={value!r} must be text (like {default!r})"
    return value, None


def range_problem(key: str, value: Any, bounds: tuple[float | None, float | None]) -> str | None:
    """数值参数是否落在策略声明的闭区间 [下界, 上界] 内（None 表示该侧不设界）；不在时返回一行说明。"""
    from tradeterm.config.values import bounds_text, show, within  # 理由同 coerce_param

    low, high = bounds
    if within(value, low, False, high, False):
        return None
    return f"{key}={show(value)} must be {bounds_text(low, False, high, False)}"


def parse_param_text(text: str) -> tuple[str, Any]:
    """解析命令行的 k=v：值按 YAML 规则转成数字、布尔或字符串。"""
    import yaml

    from tradeterm.config.strict_yaml import load_yaml  # 与 config.yml 同样严格（不收别名、重复键）；理由同 coerce_param

    if "=" not in text:
        raise StrategyError(f"--param {text!r}: expected KEY=VALUE, e.g. --param fast=10")
    key, raw = text.split("=", 1)
    try:
        value = load_yaml(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def merge_params(class_name: str, defaults: dict[str, Any], overrides: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """把 overrides 合并到 defaults 上：返回 (合并结果, 问题列表)。问题列表为空才可用。"""
    problems: list[str] = []
    merged = dict(defaults)
    for key, value in (overrides or {}).items():
        if key not in defaults:
            allowed = ", ".join(sorted(defaults)) or "none"
            problems.append(f"unknown parameter '{key}' for {class_name}{closest(key, set(defaults))}; "
                            f"allowed: {allowed}")
            continue
        converted, problem = coerce_param(key, value, defaults[key])
        if problem:
            problems.append(problem)
        else:
            merged[key] = converted
    return merged, problems
