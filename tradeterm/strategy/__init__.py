"""策略层：插件基类、参数校验、插件加载与前视（look-ahead）检查。"""

from tradeterm.strategy.base import SIGNAL_COLUMNS, Strategy, crossed_above, crossed_below
from tradeterm.strategy.loader import build_strategy, discover, load_strategy_class

__all__ = ["SIGNAL_COLUMNS", "Strategy", "crossed_above", "crossed_below", "build_strategy", "discover",
           "load_strategy_class"]
