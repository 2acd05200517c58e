"""读取并校验 config.yml：YAML 语法（严格读取，见 strict_yaml）、结构与取值（pydantic）、再做跨项检查
（实例名唯一、计价货币、交易对与市场类型、日志库与沙盒状态文件的路径、插件目录、策略类与参数）。
所有问题一次性报告，每条写明键路径、错误的值与允许的取值，从不抛出 traceback。加载时不创建、不写入任何文件。
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from tradeterm.config.markets import quote_currency, symbol_problem
from tradeterm.config.schema import AppConfig, RiskFileConfig, StrategyInstanceConfig
from tradeterm.config.strict_yaml import describe_yaml_error, load_yaml
from tradeterm.config.values import bounds_of, number_hint, numeric_kind, show
from tradeterm.errors import ConfigError, StrategyError
from tradeterm.journal.paths import journal_path_problem
from tradeterm.strategy.loader import discover, load_strategy_class, param_problems, unknown_class_message
from tradeterm.strategy.params import closest

# 默认配置文件名（当前目录下）
DEFAULT_CONFIG = Path("config.yml")
# 数字键上、按“got 值; 说明; 修正建议”格式报告的 pydantic 错误类型
NUMBER_ERRORS = frozenset({"greater_than", "greater_than_equal", "less_than", "less_than_equal", "float_parsing",
                           "float_type", "int_parsing", "int_type", "int_from_float"})


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
        data = load_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), [describe_yaml_error(exc)]) from None
    except UnicodeDecodeError:
        raise ConfigError(str(path), ["file is not UTF-8 text"]) from None
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read the file ({exc.strerror or exc})"]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(str(path), [f"(top level): must be a mapping of keys (mode:, exchange:, strategies: ...), "
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
    value = err.get("input")
    field = field_at(loc)
    kind_of_number = numeric_kind(field.annotation) if field is not None else None
    if kind_of_number is not None:
        hint = number_hint(kind_of_number, bounds_of(field.metadata), field.default)
        special = {"finite_number": "is not a finite number", "bool_not_number": "is a boolean, not a number",
                   "int_parsing_size": "is too large"}
        if kind in special:
            return f"{path}: {show(value)} {special[kind]}; {hint}"
        if kind in NUMBER_ERRORS:
            return f"{path}: got {show(value)}; {_lower_first(err['msg'])}; {hint}"
    if kind == "value_problem":
        return f"{path}: {err['msg']}"
    if kind == "strict_bool":
        return f"{path}: {show(value)} is not true or false; write true or false"
    message = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if repr(value) in message or f"'{value}'" in message:
        return f"{path}: {message}"
    return f"{path}: got {show(value)}; {_lower_first(message)}"


def _lower_first(text: str) -> str:
    """首字母小写（接在分号后面）。"""
    return text[:1].lower() + text[1:]


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


def _walk(loc: tuple[Any, ...]) -> tuple[Any, Any]:
    """沿键路径走进模型：返回 (最后一段的字段, 它的元素类型)；路径不在模型里时返回 (None, None)。"""
    model: Any = AppConfig
    field = None
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None, None
        field = _field_by_key(model, str(part))
        if field is None:
            return None, None
        model = _unwrap(field.annotation)
    return field, model


def field_at(loc: tuple[Any, ...]) -> Any:
    """键路径上的字段（pydantic FieldInfo）；不在模型里（或是顶层）时返回 None。"""
    return _walk(loc)[0] if loc else None


def allowed_keys(loc: tuple[Any, ...]) -> set[str]:
    """某个位置上的配置块允许的键（字段名与别名）；位置不是配置块时返回空集。"""
    model = _walk(loc)[1] if loc else AppConfig
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
        market = symbol_problem(instance.symbol, config.exchange.market_type)
        if market:
            problems.append(f"{where}.symbol: {market.replace('the market type', 'exchange.market_type')}")
    problems += path_problems(config)
    if check_strategies:
        problems += _strategy_problems(config)
    return problems


def path_problems(config: AppConfig) -> list[str]:
    """日志库、进程内沙盒的状态文件与插件目录能否使用（只检查，不创建任何东西）。

    相对路径按配置目录解析，其下还不存在的子目录可以（打开时会建出来）；绝对路径的目录必须已存在。"""
    problems: list[str] = []
    files = [("journal.path", config.journal.path, config.journal_path())]
    if config.exchange.sandbox and not config.exchange.sandbox_url:
        state = config.exchange.sandbox_state
        # 没写 sandbox_state 时它在日志库旁边，与日志库同一个目录，所以按 journal.path 的写法判断能否建目录
        files.append(("exchange.sandbox_state", state if state is not None else config.journal.path,
                      config.sandbox_state_file()))
    for key, written, resolved in files:
        if problems and config.exchange.sandbox_state is None:
            break  # 默认的状态文件就在日志库旁边：日志库路径的问题已经报了，不再重复一遍
        example = "tradeterm.sandbox.db" if key.startswith("exchange") else "tradeterm.db"
        problem = journal_path_problem(resolved, create_under=None if written.is_absolute() else config.base_dir,
                                       example=example)
        if problem:
            problems.append(f"{key}: {problem}")
    for index, directory in enumerate(config.strategy_dirs):
        full = directory if directory.is_absolute() else config.base_dir / directory
        if not full.is_dir():
            problems.append(f"strategy_dirs[{index}]: {show(str(directory))} is not a directory (looked for {full}); "
                            f"create it or remove the entry")
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
