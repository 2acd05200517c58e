"""流式（逐根）指标：内置指标的 O(1) 更新形式，实盘每根 K 线只做一次增量计算，而不是在整个窗口上重算。

每个类每根 K 线调用一次 `update(...)`，返回当前值（预热期间为 NaN）；多列指标返回具名元组（字段名同向量化函数的列名）。
`extend(列...)` 把一段历史逐根喂进去，用来从历史 K 线建立状态。

| 流式类 | 向量化函数 | update 的输入 | 每根代价 |
|---|---|---|---|
| SMAStream(period) | ta.sma | 值 | O(1)（每 1024 根一次 O(period) 的重新求和） |
| EMAStream(period[, alpha]) | ta.ema | 值 | O(1) |
| MACDStream(fast, slow, signal) | ta.macd | 值 | O(1) |
| RSIStream(period) | ta.rsi | 值 | O(1) |
| ROCStream(period) | ta.roc | 值 | O(1) |
| RollingMomentsStream(period) | ta.rolling_moments（z 分数在其中） | 值 | O(period)，不随历史增长 |
| BollingerStream(period, num_std) | ta.bollinger | 值 | O(period)，不随历史增长 |
| TrueRangeStream() | ta.true_range | high, low, close | O(1) |
| ATRStream(period) | ta.atr | high, low, close | O(1) |
| DonchianStream(period) | ta.donchian | high, low | 摊销 O(1) |

保证：在同一段序列上从同一根起算，流式值与向量化值逐位相同（NaN 的位置也相同）——同样的递推、同样的运算顺序，
NaN / ±inf 的处理也照搬（tests/indicators/test_streaming.py 在真实行情与随机序列上逐位比对）。逐位相同很重要：
内置策略比较的是落定到 11 位小数的值（ta.settle / ta.relative_gap），1e-13 的差也可能让一次舍入翻转。
标量的落定：settle_value、relative_gap_value（与 ta.settle、ta.relative_gap 同一个数上的结果逐位相同）。
"""

from __future__ import annotations

from tradeterm.indicators.streaming_channels import DonchianStream, DonchianValue
from tradeterm.indicators.streaming_moving import EMAStream, SMAStream, Stream
from tradeterm.indicators.streaming_oscillators import MACDStream, MACDValue, ROCStream, RSIStream
from tradeterm.indicators.streaming_ties import divide, maximum, relative_gap_value, settle_value
from tradeterm.indicators.streaming_volatility import (ATRStream, BollingerStream, BollingerValue, MomentsValue,
                                                       RollingMomentsStream, TrueRangeStream)

__all__ = ["Stream", "SMAStream", "EMAStream", "MACDStream", "MACDValue", "RSIStream", "ROCStream",
           "RollingMomentsStream", "MomentsValue", "BollingerStream", "BollingerValue", "TrueRangeStream",
           "ATRStream", "DonchianStream", "DonchianValue", "settle_value", "relative_gap_value", "divide", "maximum"]
