"""动量突破策略（MomentumStrategy）：收盘价突破唐奇安通道且变动率同向时顺势进场。"""

from __future__ import annotations

from typing import Any, ClassVar

import pandas as pd

from tradeterm import Bar, Strategy, indicators as ta
from tradeterm.strategy.base import MAX_WINDOW


class MomentumStrategy(Strategy):
    """动量突破（海龟式）：收盘价高于前 lookback 根的最高价，且 ROC(lookback) > min_roc 时开多；
    收盘价低于前 exit_lookback 根的最低价时平多。合约市场对称地开空/平空；现货只做多。

    通道用上一根 K 线为止的值（shift(1)），否则当前收盘价不可能高于含自身的最高价。

    参数：
    - lookback：突破通道与 ROC 的窗口，K 线根数，默认 20
    - exit_lookback：离场通道窗口，K 线根数，默认 10
    - min_roc：开多要求的最小变动率（小数，0.001 即 0.1%），默认 0.0；开空要求 ROC < -min_roc
    """

    # 参数默认值：20 根突破、10 根离场、ROC 为正即可
    params: ClassVar[dict[str, Any]] = {"lookback": 20, "exit_lookback": 10, "min_roc": 0.0}
    # 参数区间（闭区间）：两个窗口 1..MAX_WINDOW 根 K 线；min_roc 为小数变动率，0..100（即 0% 到 10000%）
    param_ranges: ClassVar[dict[str, tuple[float | None, float | None]]] = {
        "lookback": (1, MAX_WINDOW), "exit_lookback": (1, MAX_WINDOW), "min_roc": (0, 100)}

    @property
    def warmup(self) -> int:
        """通道向前平移一根，所以需要 lookback+1 根。"""
        return max(self.params["lookback"], self.params["exit_lookback"]) + 1

    def indicators(self, df: pd.DataFrame) -> pd.DataFrame:
        """添加 entry_high、entry_low（前 lookback 根的通道）、exit_high、exit_low（前 exit_lookback 根）与 roc。"""
        entry = ta.donchian(df["high"], df["low"], self.params["lookback"])
        exit_ = ta.donchian(df["high"], df["low"], self.params["exit_lookback"])
        df["entry_high"] = entry["upper"].shift(1).to_numpy()
        df["entry_low"] = entry["lower"].shift(1).to_numpy()
        df["exit_high"] = exit_["upper"].shift(1).to_numpy()
        df["exit_low"] = exit_["lower"].shift(1).to_numpy()
        df["roc"] = ta.roc(df["close"], self.params["lookback"])
        return df

    def signals(self, df: pd.DataFrame) -> pd.DataFrame:
        """突破上轨且动量为正开多，跌破离场下轨平多；空头对称。

        价格与通道直接取自 K 线，原样精确比较；ROC 是算出来的，先落定到 11 位小数（ta.settle）再与 min_roc 比较。
        """
        close, min_roc = df["close"], self.params["min_roc"]
        roc = ta.settle(df["roc"])
        return pd.DataFrame({
            "enter_long": (close > df["entry_high"]) & (roc > min_roc),
            "exit_long": close < df["exit_low"],
            "enter_short": (close < df["entry_low"]) & (roc < -min_roc),
            "exit_short": close > df["exit_high"],
        })

    # ---- 逐根形式（实盘用）：与上面的 signals() 逐根相同 ----

    def reset(self) -> None:
        """逐根计算的初始状态：两条流式唐奇安通道与流式 ROC。"""
        # 突破通道与离场通道（流式，与 ta.donchian 逐位相同；含当前 K 线）
        self.entry = ta.DonchianStream(self.params["lookback"])
        self.exit = ta.DonchianStream(self.params["exit_lookback"])
        # 变动率（流式，与 ta.roc 逐位相同）
        self.roc = ta.ROCStream(self.params["lookback"])

    def update(self, bar: Bar) -> dict[str, bool]:
        """一根收盘 K 线上的信号：与上一根为止的通道比较（update 之前的 value 即 shift(1)），ROC 落定后比较。"""
        entry, exit_ = self.entry.value, self.exit.value
        self.entry.update(bar.high, bar.low)
        self.exit.update(bar.high, bar.low)
        close, min_roc = bar.close, self.params["min_roc"]
        roc = ta.settle_value(self.roc.update(close))
        return {"enter_long": close > entry.upper and roc > min_roc, "exit_long": close < exit_.lower,
                "enter_short": close < entry.lower and roc < -min_roc, "exit_short": close > exit_.upper}
