"""日志库（SQLite，WAL 模式）：带版本号的表结构与迁移，以及回测运行的记录。

导出的名字按需导入（见 tradeterm/lazy.py）：只用到 `tradeterm.journal.paths` 这样的轻量子模块（配置校验、命令行的
路径检查）时，不必先导入回测结果模块背后的 pandas 与 numba。
"""

from __future__ import annotations

from tradeterm.lazy import lazy_exports

# 导出的名字 -> (所在模块, 模块里的名字)
_EXPORTS: dict[str, tuple[str, str | None]] = {
    "record_backtest": ("tradeterm.journal.runs", "record_backtest"),
    "MIGRATIONS": ("tradeterm.journal.schema", "MIGRATIONS"),
    "SCHEMA_VERSION": ("tradeterm.journal.schema", "SCHEMA_VERSION"),
    "connect": ("tradeterm.journal.schema", "connect"),
    "migrate": ("tradeterm.journal.schema", "migrate"),
}

__all__ = list(_EXPORTS)

# 第一次用到导出的名字时才导入它所在的模块
__getattr__ = lazy_exports(__name__, _EXPORTS)
