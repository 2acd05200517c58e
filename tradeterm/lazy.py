"""按需导出（PEP 562）：包的 `__init__` 只登记“名字 -> 所在模块”，第一次用到某个名字时才导入那个模块。

为什么：`tradeterm` 与 `tradeterm.config` 的导出名字背后是 pandas、numba、pydantic 这些要几百毫秒才导入完的库；
`tradeterm --version`、`--help` 与控制台的启动路径不需要它们。用法：

    _EXPORTS = {"AppConfig": ("tradeterm.config.schema", "AppConfig")}
    __getattr__ = lazy_exports("tradeterm.config", _EXPORTS)
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, exports: dict[str, tuple[str, str | None]]) -> Callable[[str], Any]:
    """给名为 package 的包造一个模块级 `__getattr__`：exports 为 名字 -> (所在模块, 模块里的名字；None 表示就是该模块)。
    第一次取到的值写回包的命名空间，之后不再经过这里。"""
    def __getattr__(name: str) -> Any:
        """导入 name 所在的模块并返回它（不是导出的名字时抛 AttributeError，与普通模块相同）。"""
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module_name, attribute = exports[name]
        value: Any = importlib.import_module(module_name)
        if attribute is not None:
            value = getattr(value, attribute)
        setattr(sys.modules[package], name, value)
        return value
    return __getattr__
