"""本地沙盒交易所：说 Binance 现货与 USD-M 永续合约的 REST/websocket 协议，原版 ccxt 客户端可直接连接
（离线默认与测试用）。

SandboxExchange 等名字按需导入（会加载 pandas、aiohttp 服务器与共享的成交模型；成交模型是纯 Python，不加载 numba）。
"""

from tradeterm.sandbox.defaults import DEFAULT_API_KEY, DEFAULT_HOST, DEFAULT_PORT, DEFAULT_SECRET

# 按需导入的名字 -> 所在模块
_LAZY = {"SandboxExchange": "tradeterm.sandbox.server", "FaultInjector": "tradeterm.sandbox.faults",
         "TradingConfig": "tradeterm.sandbox.matching"}

__all__ = ["SandboxExchange", "FaultInjector", "TradingConfig", "DEFAULT_API_KEY", "DEFAULT_SECRET", "DEFAULT_HOST",
           "DEFAULT_PORT"]


def __getattr__(name: str):
    """首次访问 SandboxExchange/FaultInjector/TradingConfig 时才导入其模块。"""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tradeterm.sandbox' has no attribute {name!r}")
