"""配置层：config.yml 的结构（schema）、读取与校验（loader）、交易对与周期的规范化（markets）。"""

from tradeterm.config.loader import DEFAULT_CONFIG, load_config
from tradeterm.config.markets import TIMEFRAME_MS, normalize_symbol, timeframe_ms
from tradeterm.config.schema import AppConfig, StrategyInstanceConfig

__all__ = ["DEFAULT_CONFIG", "load_config", "TIMEFRAME_MS", "normalize_symbol", "timeframe_ms", "AppConfig",
           "StrategyInstanceConfig"]
