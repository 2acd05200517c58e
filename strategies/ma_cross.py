"""均线交叉策略（MACross）：快慢两条简单移动平均线交叉时进出场。"""

from __future__ import annotations

from typing import Any, ClassVar

import pandas as pd

from tradeterm import Bar, Crossing, Strategy, crossed_above, crossed_below, indicators as ta
from tradeterm.strategy.base import MAX_WINDOW


class MACross(Strategy):
    """均线交叉：收盘价的 SMA(fast) 上穿 SMA(slow) 开多，下穿时平多。

    “第 t 根上穿”指 fast[t] > slow[t] 且 fast[t-1] <= slow[t-1]，下穿同理。
    合约市场上下穿同时开空、上穿同时平空（多空反手）；现货只做多。

    参数：
    - fast：快线周期，K 线根数，默认 10
    - slow：慢线周期，K 线根数，默认 30，须大于 fast
    """

    # 参数默认值：快线 10 根、慢线 30 根
    params: ClassVar[dict[str, Any]] = {"fast": 10, "slow": 30}
    # 参数区间（K 线根数，闭区间）：两条均线的周期都在 1..MAX_WINDOW
    param_ranges: ClassVar[dict[str, tuple[float | None, float | None]]] = {
        "fast": (1, MAX_WINDOW), "slow": (1, MAX_WINDOW)}

    @classmethod
    def validate_params(cls, params: dict[str, Any]) -> list[str]:
        """fast < slow（区间由 param_ranges 检查）。"""
        if params["fast"] >= params["slow"]:
            return [f"fast={params['fast']} must be below slow={params['slow']}"]
        return []

    @property
    def warmup(self) -> int:
        """慢线需要 slow 根，判断交叉还要前一根。"""
        return self.params["slow"]

    def indicators(self, df: pd.DataFrame) -> pd.DataFrame:
        """添加 fast_ma、slow_ma 两列。"""
        df["fast_ma"] = ta.sma(df["close"], self.params["fast"])
        df["slow_ma"] = ta.sma(df["close"], self.params["slow"])
        return df

    def signals(self, df: pd.DataFrame) -> pd.DataFrame:
        """上穿开多/平空，下穿平多/开空。

        交叉按两线的落定相对差（(fast_ma - slow_ma) / close，保留 11 位小数，见 ta.relative_gap）与 0 比较：
        相差不到收盘价的 5e-12 算作相等，浮点噪声不会造成假交叉。
        """
        gap = ta.relative_gap(df["fast_ma"], df["slow_ma"], df["close"])
        zero = pd.Series(0.0, index=gap.index)
        up = crossed_above(gap, zero)
        down = crossed_below(gap, zero)
        return pd.DataFrame({"enter_long": up, "exit_long": down, "enter_short": down, "exit_short": up})

    # ---- 逐根形式（实盘用）：与上面的 signals() 逐根相同 ----

    def reset(self) -> None:
        """逐根计算的初始状态：两条流式 SMA 与一个交叉检测器。"""
        # 快线与慢线（流式 SMA，与 ta.sma 逐位相同）
        self.fast_ma, self.slow_ma = ta.SMAStream(self.params["fast"]), ta.SMAStream(self.params["slow"])
        # 落定相对差对 0 的交叉
        self.cross = Crossing()

    def update(self, bar: Bar) -> dict[str, bool]:
        """一根收盘 K 线上的信号：同样的落定相对差、同样的交叉定义。"""
        gap = ta.relative_gap_value(self.fast_ma.update(bar.close), self.slow_ma.update(bar.close), bar.close)
        up, down = self.cross.update(gap)
        return {"enter_long": up, "exit_long": down, "enter_short": down, "exit_short": up}
