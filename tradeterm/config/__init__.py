"""配置层：config.yml 的结构（schema）、读取与校验（loader）、交易对与周期的规范化（markets）。

导出的名字按需导入（见 tradeterm/lazy.py）：只用到 `tradeterm.config.credentials` 这样的子模块时，不必先导入
pydantic 与整个 schema。
"""

from __future__ import annotations

from tradeterm.lazy import lazy_exports

# 导出的名字 -> (所在模块, 模块里的名字)
_EXPORTS: dict[str, tuple[str, str | None]] = {
    "DEFAULT_CONFIG": ("tradeterm.config.loader", "DEFAULT_CONFIG"),
    "load_config": ("tradeterm.config.loader", "load_config"),
    "TIMEFRAME_MS": ("tradeterm.config.markets", "TIMEFRAME_MS"),
    "normalize_symbol": ("tradeterm.config.markets", "normalize_symbol"),
    "timeframe_ms": ("tradeterm.config.markets", "timeframe_ms"),
    "AppConfig": ("tradeterm.config.schema", "AppConfig"),
    "StrategyInstanceConfig": ("tradeterm.config.schema", "StrategyInstanceConfig"),
}

__all__ = list(_EXPORTS)

# 第一次用到导出的名字时才导入它所在的模块
__getattr__ = lazy_exports(__name__, _EXPORTS)
