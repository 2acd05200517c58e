"""tradeterm：活在终端里的量化交易控制台。

策略作者只需要这里导出的几个名字：`Strategy`（插件基类）、`TradeSignal`、`Fill`、交叉判断函数与
`indicators` 模块；其余内部结构可能变化。
"""

from tradeterm import indicators
from tradeterm.models import Fill, MarketType, OrderType, Side, SignalIntent, TradeSignal
from tradeterm.strategy.base import Strategy, crossed_above, crossed_below

# 包版本号，与 pyproject.toml 一致
__version__ = "0.1.0"

__all__ = ["indicators", "Fill", "MarketType", "OrderType", "Side", "SignalIntent", "TradeSignal", "Strategy",
           "crossed_above", "crossed_below", "__version__"]
