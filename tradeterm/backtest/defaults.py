"""回测的默认设置与可选的模拟路径名（单独成文件：`tradeterm backtest --help` 只导入它，不必加载 pandas 与 numba）。"""

from __future__ import annotations

# 可选的路径名：auto（能快则快）、fast（必须走快速路径）、event（逐事件）
PATHS = ("auto", "fast", "event")
# 单策略回测的默认初始资金，计价货币
DEFAULT_CASH = 10_000.0
# 单策略回测的默认费率（maker 与 taker 相同），小数（0.001 = 0.1%）
DEFAULT_FEE = 0.001
# 单策略回测的默认滑点，基点
DEFAULT_SLIPPAGE_BPS = 0.0
# 没有 CSV 时合成 K 线的默认根数
DEFAULT_SYNTHETIC_BARS = 5_000
