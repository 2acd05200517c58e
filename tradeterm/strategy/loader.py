"""策略插件的发现与加载：按类名从 strategies/ 目录加载，或按 `package.module:Class` 从外部代码加载。

搜索顺序：调用方给出的目录（通常是配置文件旁的 strategies/），然后是仓库自带的 strategies/。
同名类以先找到的为准，用户可以用自己的同名插件覆盖内置策略。
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from tradeterm.errors import StrategyError
from tradeterm.models import MarketType
from tradeterm.strategy.base import Strategy
from tradeterm.strategy.params import closest, merge_params, range_problem

# 仓库自带的插件目录（与 tradeterm/ 包同级的 strategies/）
BUILTIN_STRATEGY_DIR = Path(__file__).resolve().parents[2] / "strategies"
# 动态导入插件文件时使用的模块名前缀，避免与已安装的包重名
PLUGIN_MODULE_PREFIX = "tradeterm_plugins"
# 外部策略类的写法：点分的模块名（每段是 Python 标识符）、冒号、类名
DOTTED_SPEC = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*")


@dataclass
class PluginCatalog:
    """一次扫描的结果：可用的策略类，以及导入失败的插件文件。"""

    classes: dict[str, type[Strategy]] = field(default_factory=dict)  # 类名 -> 策略类
    sources: dict[str, Path] = field(default_factory=dict)            # 类名 -> 定义它的文件
    broken: dict[Path, str] = field(default_factory=dict)             # 导入失败的文件 -> 错误说明

    def names(self) -> list[str]:
        """全部可用策略类名，按字母排序。"""
        return sorted(self.classes)


def strategy_dirs(extra: list[Path] | None = None) -> list[Path]:
    """插件搜索目录：先用户给的（存在的），再内置目录；去重并保持顺序。"""
    out: list[Path] = []
    for path in [*(extra or []), BUILTIN_STRATEGY_DIR]:
        resolved = Path(path).resolve()
        if resolved.is_dir() and resolved not in out:
            out.append(resolved)
    return out


def _import_file(path: Path) -> ModuleType:
    """按文件路径导入一个插件模块（模块名带目录哈希，不同目录的同名文件互不覆盖）。"""
    module_name = f"{PLUGIN_MODULE_PREFIX}.d{zlib.crc32(str(path.parent).encode()):08x}.{path.stem}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def _strategy_classes(module: ModuleType) -> list[type[Strategy]]:
    """模块里定义的（而不是导入的）非抽象 Strategy 子类。"""
    return [
        obj for obj in vars(module).values()
        if inspect.isclass(obj) and issubclass(obj, Strategy) and obj is not Strategy
        and obj.__module__ == module.__name__ and not inspect.isabstract(obj)
    ]


def discover(extra_dirs: list[Path] | None = None) -> PluginCatalog:
    """扫描插件目录里的每个 .py 文件（下划线开头的除外），收集策略类与导入失败的文件。"""
    catalog = PluginCatalog()
    for directory in strategy_dirs(extra_dirs):
        for path in sorted(directory.glob("*.py")):
            if path.name.startswith("_"):
                continue
            try:
                module = _import_file(path)
            except Exception as exc:  # 插件代码的任何错误都只影响这个插件
                catalog.broken[path] = f"{type(exc).__name__}: {exc}"
                continue
            for cls in _strategy_classes(module):
                catalog.classes.setdefault(cls.__name__, cls)
                catalog.sources.setdefault(cls.__name__, path)
    return catalog


def _load_dotted(spec: str) -> type[Strategy]:
    """加载 `package.module:Class` 形式的外部策略类；写法不对、模块导入失败（含模块代码自己抛的任何异常）都是 StrategyError。"""
    if not DOTTED_SPEC.fullmatch(spec):
        raise StrategyError(f"strategy class {spec!r}: expected 'package.module:Class' (a dotted module name, a colon "
                            f"and a class name, e.g. mypackage.strategies:MyStrategy) or a class name from strategies/")
    module_name, _, class_name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise StrategyError(f"strategy class '{spec}': cannot import module '{module_name}' ({exc})") from None
    except Exception as exc:  # 模块代码本身出错：只影响这个策略
        raise StrategyError(f"strategy class '{spec}': importing module '{module_name}' failed "
                            f"({type(exc).__name__}: {exc})") from None
    cls = getattr(module, class_name, None)
    if not (inspect.isclass(cls) and issubclass(cls, Strategy)):
        raise StrategyError(f"strategy class '{spec}': '{class_name}' is not a Strategy subclass in {module_name}")
    return cls


def load_strategy_class(name: str, extra_dirs: list[Path] | None = None) -> type[Strategy]:
    """按名称取策略类：`Class`（在插件目录里找）或 `package.module:Class`。找不到时列出可用的策略。"""
    if ":" in name:
        return _load_dotted(name)
    catalog = discover(extra_dirs)
    if name in catalog.classes:
        return catalog.classes[name]
    raise StrategyError(unknown_class_message(name, catalog))


def unknown_class_message(name: str, catalog: PluginCatalog) -> str:
    """未知策略类的错误说明：最接近的名称、可用列表、导入失败的插件。"""
    message = (f"unknown strategy class '{name}'{closest(name, set(catalog.classes))}; "
               f"available: {', '.join(catalog.names()) or 'none'} "
               f"(or use 'package.module:Class' for a class outside strategies/)")
    for path, error in catalog.broken.items():
        message += f"; plugin file {path} failed to import: {error}"
    return message


def build_strategy(
    cls: type[Strategy],
    params: dict[str, Any] | None = None,
    *,
    name: str | None = None,
    symbol: str = "BTC/USDT",
    timeframe: str = "1m",
    market_type: MarketType = MarketType.SPOT,
) -> Strategy:
    """校验参数并创建策略实例；有问题时抛 StrategyError，逐条列出。"""
    problems = param_problems(cls, params)
    if problems:
        raise StrategyError(f"{name or cls.__name__}: " + "; ".join(problems))
    merged, _ = merge_params(cls.__name__, cls.params, params or {})
    return cls(merged, name=name, symbol=symbol, timeframe=timeframe, market_type=market_type)


def param_problems(cls: type[Strategy], params: dict[str, Any] | None) -> list[str]:
    """参数的全部问题：未知名称、类型不符、非有限的数，超出类声明的区间（param_ranges），以及类自己的约束
    （validate_params，只在前面都没问题时调用，它可以假定类型与区间都对）。配置、--param 与 set_params 共用。"""
    if params is not None and not isinstance(params, dict):
        return [f"params must be a mapping of name: value, got {type(params).__name__}"]
    merged, problems = merge_params(cls.__name__, cls.params, params or {})
    if problems:
        return problems
    for key, bounds in cls.param_ranges.items():
        if key not in merged:
            problems.append(f"{cls.__name__}.param_ranges names '{key}', which is not one of its params "
                            f"({', '.join(sorted(cls.params)) or 'none'}); fix the plugin")
        elif isinstance(merged[key], (int, float)) and not isinstance(merged[key], bool):
            problem = range_problem(key, merged[key], bounds)
            if problem:
                problems.append(problem)
    if problems:
        return problems
    try:
        return list(cls.validate_params(merged))
    except Exception as exc:  # 插件的校验代码出错：当作参数问题报告，而不是 traceback
        return [f"{cls.__name__}.validate_params failed ({type(exc).__name__}: {exc}); fix the plugin"]
