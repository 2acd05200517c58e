"""tradeterm：活在终端里的量化交易控制台。

策略作者只需要这里导出的几个名字：`Strategy`（插件基类）、`TradeSignal`、`Fill`、`Bar`、交叉判断函数
（向量化的 `crossed_above` / `crossed_below`，逐根的 `Crossing`）与 `indicators` 模块（含流式指标 `ta.SMAStream` 等）；
其余内部结构可能变化。

这些名字按需导入（PEP 562 的模块级 `__getattr__`）：`import tradeterm` 本身不加载 pandas 与 numba，
`tradeterm --version`、`--help` 因此几乎立刻返回；`from tradeterm import Strategy` 照常可用。
"""

from __future__ import annotations

from tradeterm.lazy import lazy_exports

# 包版本号，与 pyproject.toml 一致
__version__ = "0.1.0"

# 导出的名字 -> (所在模块, 模块里的名字；None 表示就是这个模块)
_EXPORTS: dict[str, tuple[str, str | None]] = {
    "indicators": ("tradeterm.indicators", None),
    "Bar": ("tradeterm.models", "Bar"),
    "Fill": ("tradeterm.models", "Fill"),
    "MarketType": ("tradeterm.models", "MarketType"),
    "OrderType": ("tradeterm.models", "OrderType"),
    "Side": ("tradeterm.models", "Side"),
    "SignalIntent": ("tradeterm.models", "SignalIntent"),
    "TradeSignal": ("tradeterm.models", "TradeSignal"),
    "Strategy": ("tradeterm.strategy.base", "Strategy"),
    "crossed_above": ("tradeterm.strategy.base", "crossed_above"),
    "crossed_below": ("tradeterm.strategy.base", "crossed_below"),
    "Crossing": ("tradeterm.strategy.incremental", "Crossing"),
}

__all__ = [*_EXPORTS, "__version__"]

# 第一次用到导出的名字时才导入它所在的模块（见 tradeterm/lazy.py）
__getattr__ = lazy_exports(__name__, _EXPORTS)
