"""动量突破策略（MomentumStrategy）：收盘价突破唐奇安通道且变动率同向时顺势进场。"""

from __future__ import annotations

from typing import Any, ClassVar

import pandas as pd

from tradeterm import Strategy, indicators as ta


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

    @classmethod
    def validate_params(cls, params: dict[str, Any]) -> list[str]:
        """两个窗口至少 1 根，min_roc 不为负。"""
        problems = [f"{k}={params[k]} must be at least 1" for k in ("lookback", "exit_lookback") if params[k] < 1]
        if params["min_roc"] < 0:
            problems.append(f"min_roc={params['min_roc']} must be 0 or above")
        return problems

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
        """突破上轨且动量为正开多，跌破离场下轨平多；空头对称。"""
        close, min_roc = df["close"], self.params["min_roc"]
        return pd.DataFrame({
            "enter_long": (close > df["entry_high"]) & (df["roc"] > min_roc),
            "exit_long": close < df["exit_low"],
            "enter_short": (close < df["entry_low"]) & (df["roc"] < -min_roc),
            "exit_short": close > df["exit_high"],
        })
