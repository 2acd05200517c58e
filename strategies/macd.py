"""MACD 策略（MACDStrategy）：MACD 线与信号线交叉时进出场。"""

from __future__ import annotations

from typing import Any, ClassVar

import pandas as pd

from tradeterm import Bar, Crossing, Strategy, crossed_above, crossed_below, indicators as ta
from tradeterm.strategy.base import MAX_WINDOW


class MACDStrategy(Strategy):
    """MACD 交叉：MACD 线（EMA(fast) - EMA(slow)）上穿信号线（MACD 的 EMA(signal)）开多，下穿平多。

    可选零轴过滤 `above_zero`：为 true 时只在 MACD 线大于 0 时开多（小于 0 时开空）。
    合约市场上下穿开空、上穿平空；现货只做多。

    参数：
    - fast：快线 EMA 周期，K 线根数，默认 12
    - slow：慢线 EMA 周期，K 线根数，默认 26，须大于 fast
    - signal：信号线 EMA 周期，K 线根数，默认 9
    - above_zero：是否要求 MACD 线在零轴同侧才开仓，默认 false
    """

    # 参数默认值：经典的 12/26/9，不加零轴过滤
    params: ClassVar[dict[str, Any]] = {"fast": 12, "slow": 26, "signal": 9, "above_zero": False}
    # 参数区间（K 线根数，闭区间）：三个 EMA 周期都在 1..MAX_WINDOW
    param_ranges: ClassVar[dict[str, tuple[float | None, float | None]]] = {
        "fast": (1, MAX_WINDOW), "slow": (1, MAX_WINDOW), "signal": (1, MAX_WINDOW)}

    @classmethod
    def validate_params(cls, params: dict[str, Any]) -> list[str]:
        """fast < slow（区间由 param_ranges 检查）。"""
        if params["fast"] >= params["slow"]:
            return [f"fast={params['fast']} must be below slow={params['slow']}"]
        return []

    @property
    def warmup(self) -> int:
        """信号线第一个值在 slow+signal-2，判断交叉还要前一根。"""
        return self.params["slow"] + self.params["signal"] - 1

    def indicators(self, df: pd.DataFrame) -> pd.DataFrame:
        """添加 macd、macd_signal、macd_hist 三列。"""
        lines = ta.macd(df["close"], self.params["fast"], self.params["slow"], self.params["signal"])
        df["macd"] = lines["macd"].to_numpy()
        df["macd_signal"] = lines["signal"].to_numpy()
        df["macd_hist"] = lines["histogram"].to_numpy()
        return df

    def signals(self, df: pd.DataFrame) -> pd.DataFrame:
        """MACD 上穿信号线开多/平空，下穿平多/开空；开仓可要求零轴同侧。

        交叉与零轴都按落定的相对值判断（(macd - macd_signal) / close 与 macd / close，保留 11 位小数，
        见 ta.relative_gap）：平坦行情里 EMA 种子留下的 1 ulp 差不会变成交叉。
        """
        gap = ta.relative_gap(df["macd"], df["macd_signal"], df["close"])
        zero = pd.Series(0.0, index=gap.index)
        up = crossed_above(gap, zero)
        down = crossed_below(gap, zero)
        level = ta.relative_gap(df["macd"], zero, df["close"])
        long_ok = level > 0 if self.params["above_zero"] else True
        short_ok = level < 0 if self.params["above_zero"] else True
        return pd.DataFrame({"enter_long": up & long_ok, "exit_long": down,
                             "enter_short": down & short_ok, "exit_short": up})

    # ---- 逐根形式（实盘用）：与上面的 signals() 逐根相同 ----

    def reset(self) -> None:
        """逐根计算的初始状态：流式 MACD 与一个交叉检测器。"""
        # MACD 线、信号线与柱（流式，与 ta.macd 逐位相同）
        self.lines = ta.MACDStream(self.params["fast"], self.params["slow"], self.params["signal"])
        # MACD 线对信号线的落定相对差对 0 的交叉
        self.cross = Crossing()

    def update(self, bar: Bar) -> dict[str, bool]:
        """一根收盘 K 线上的信号：同样的落定相对差、交叉定义与零轴过滤。"""
        lines = self.lines.update(bar.close)
        up, down = self.cross.update(ta.relative_gap_value(lines.macd, lines.signal, bar.close))
        long_ok = short_ok = True
        if self.params["above_zero"]:
            level = ta.relative_gap_value(lines.macd, 0.0, bar.close)
            long_ok, short_ok = level > 0, level < 0
        return {"enter_long": up and long_ok, "exit_long": down, "enter_short": down and short_ok, "exit_short": up}
