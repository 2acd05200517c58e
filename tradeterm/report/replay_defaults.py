"""回测与实盘对照（replay-check）的默认容差（单独成文件：`tradeterm replay-check --help` 只导入它，
不必加载回测引擎、pandas 与 numba）。"""

from __future__ import annotations

# 默认的价格容差，基点：实盘成交价与模型价相差不超过它算作已解释
DEFAULT_PRICE_TOLERANCE_BPS = 50.0
# 默认的 K 线容差，根数：实盘与回测在相差这么多根 K 线上决定的同向成交仍可配对（并报告）
DEFAULT_BAR_TOLERANCE = 1
