"""读取并校验 config.yml：YAML 语法、结构与取值（pydantic）、再做跨项检查（实例名唯一、计价货币、
策略类与参数）。所有问题一次性报告，每条写明键路径、错误的值与允许的取值，从不抛出 traceback。
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from tradeterm.config.markets import quote_currency
from tradeterm.config.schema import AppConfig, RiskFileConfig, StrategyInstanceConfig
from tradeterm.errors import ConfigError, StrategyError
from tradeterm.strategy.loader import discover, load_strategy_class, param_problems, unknown_class_message
from tradeterm.strategy.params import closest

# 默认配置文件名（当前目录下）
DEFAULT_CONFIG = Path("config.yml")


def load_config(path: str | Path = DEFAULT_CONFIG, *, check_strategies: bool = True) -> AppConfig:
    """读取并校验配置文件；有任何问题抛 ConfigError（逐条列出）。"""
    path = Path(path)
    raw = _read_yaml(path)
    try:
        config = AppConfig.model_validate(raw)
    except ValidationError as exc:
        problems = [format_error(err) for err in exc.errors()]
        if check_strategies:
            # 结构有错时也检查那些本身合法的策略实例，让用户一次看到全部问题
            problems += _partial_strategy_problems(raw, path.resolve().parent)
        raise ConfigError(str(path), problems) from None
    config.base_dir = path.resolve().parent
    problems = cross_check(config, check_strategies=check_strategies)
    if problems:
        raise ConfigError(str(path), problems)
    return config


def load_risk_file(path: str | Path) -> RiskFileConfig:
    """读取并校验 `--risk-config` 文件（只有 risk: 与 sizing: 两个块）；有任何问题抛 ConfigError（逐条列出）。"""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(str(path), ["file not found; --risk-config takes a YAML file with a 'risk:' and/or a "
                                      "'sizing:' block, e.g. risk: {max_drawdown: 0.2}"])
    raw = _read_yaml(path)
    allowed = set(RiskFileConfig.model_fields)
    problems = [f"{key}: unknown key{closest(str(key), allowed)}; a risk file holds only the 'risk:' and 'sizing:' "
                f"blocks (same keys as in config.yml)" for key in raw if key not in allowed]
    if not raw:
        problems.append("file is empty; add a 'risk:' block (e.g. risk: {max_drawdown: 0.2}) and/or a 'sizing:' block")
    try:
        config = RiskFileConfig.model_validate({k: v for k, v in raw.items() if k in allowed})
    except ValidationError as exc:
        # 位置与 config.yml 里相同（risk.xxx、sizing.xxx），所以沿用同一个格式化函数（含允许的键与拼写提示）
        raise ConfigError(str(path), problems + [format_error(err) for err in exc.errors()]) from None
    if problems:
        raise ConfigError(str(path), problems)
    return config


def _read_yaml(path: Path) -> dict[str, Any]:
    """读 YAML 文件为字典；文件缺失、语法错误、顶层不是映射都转成 ConfigError。"""
    if not path.is_file():
        raise ConfigError(str(path), [f"file not found; create it (see README) or pass --config PATH"])
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(str(path), [f"{where}YAML syntax error: {problem}; check indentation and quoting"]) from None
    except UnicodeDecodeError:
        raise ConfigError(str(path), ["file is not UTF-8 text"]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(str(path), [f"top level must be a mapping of keys (mode:, exchange:, strategies: ...), "
                                      f"got {type(data).__name__}"])
    return data


def format_loc(loc: tuple[Any, ...]) -> str:
    """pydantic 的位置元组转成键路径：('strategies', 0, 'interval') -> strategies[0].interval。"""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def format_error(err: dict[str, Any]) -> str:
    """一条 pydantic 错误 -> 一行说明：键路径、错误的值、允许什么。"""
    loc = tuple(err["loc"])
    path = format_loc(loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = allowed_keys(loc[:-1])
        hint = closest(str(loc[-1]), allowed) if allowed else ""
        listing = f"; allowed keys: {', '.join(sorted(allowed))}" if allowed else ""
        return f"{path}: unknown key{hint}{listing}"
    if kind == "missing":
        return f"{path}: required key is missing"
    message = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    value = err.get("input")
    if repr(value) in message or f"'{value}'" in message:
        return f"{path}: {message}"
    return f"{path}: got {value!r}; {message[0].lower() + message[1:]}"


def _unwrap(annotation: Any) -> Any:
    """去掉 Optional/Union 与 list 的外层，得到元素或模型类型。"""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if arg is not type(None):
                return _unwrap(arg)
    if origin in (list, tuple):
        return _unwrap(typing.get_args(annotation)[0])
    return annotation


def allowed_keys(loc: tuple[Any, ...]) -> set[str]:
    """某个位置上的配置块允许的键（字段名与别名）；位置不是配置块时返回空集。"""
    model: Any = AppConfig
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return set()
        field = _field_by_key(model, str(part))
        if field is None:
            return set()
        model = _unwrap(field.annotation)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return set()
    return {f.alias or name for name, f in model.model_fields.items() if not f.exclude}


def _field_by_key(model: type[BaseModel], key: str) -> Any:
    """按字段名或别名找字段。"""
    for name, field in model.model_fields.items():
        if key in (name, field.alias):
            return field
    return None


def cross_check(config: AppConfig, *, check_strategies: bool = True) -> list[str]:
    """结构正确之后的跨项检查：实例名唯一、交易对以账户计价货币计价、策略类存在、参数合法。"""
    problems: list[str] = []
    seen: dict[str, int] = {}
    for index, instance in enumerate(config.strategies):
        where = f"strategies[{index}]"
        if instance.name in seen:
            problems.append(f"{where}.name: '{instance.name}' is already used by strategies[{seen[instance.name]}]; "
                            f"instance names must be unique")
        seen.setdefault(instance.name, index)
        quote = quote_currency(instance.symbol)
        if quote != config.account.quote_currency:
            problems.append(f"{where}.symbol: '{instance.symbol}' is quoted in {quote} but account.quote_currency is "
                            f"{config.account.quote_currency}; use a {config.account.quote_currency} pair or change "
                            f"account.quote_currency")
    if check_strategies:
        problems += _strategy_problems(config)
    return problems


def _partial_strategy_problems(raw: dict[str, Any], base_dir: Path) -> list[str]:
    """整体校验失败时，逐个校验 strategies 里结构合法的实例的类与参数。"""
    entries = raw.get("strategies")
    if not isinstance(entries, list):
        return []
    valid: list[tuple[int, StrategyInstanceConfig]] = []
    for index, entry in enumerate(entries):
        try:
            valid.append((index, StrategyInstanceConfig.model_validate(entry)))
        except ValidationError:
            continue  # 这个实例的结构问题已在上面报告
    dirs = [base_dir / "strategies"]
    return _instance_problems(valid, dirs)


def _strategy_problems(config: AppConfig) -> list[str]:
    """每个实例的策略类能否找到、参数是否合法。"""
    return _instance_problems(list(enumerate(config.strategies)), config.plugin_dirs())


def _instance_problems(instances: list[tuple[int, StrategyInstanceConfig]], dirs: list[Path]) -> list[str]:
    """给定（下标, 实例）列表，检查策略类与参数。"""
    problems: list[str] = []
    catalog = None
    for index, instance in instances:
        where = f"strategies[{index}]"
        try:
            if ":" in instance.class_name:
                cls = load_strategy_class(instance.class_name)
            else:
                catalog = catalog or discover(dirs)
                cls = catalog.classes.get(instance.class_name)
                if cls is None:
                    problems.append(f"{where}.class: {unknown_class_message(instance.class_name, catalog)}")
                    continue
        except StrategyError as exc:
            problems.append(f"{where}.class: {exc}")
            continue
        problems += [f"{where}.params: {p}" for p in param_problems(cls, instance.params)]
    return problems
