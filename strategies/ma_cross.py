"""均线交叉策略（MACross）：快慢两条简单移动平均线交叉时进出场。"""

from __future__ import annotations

from typing import Any, ClassVar

import pandas as pd

from tradeterm import Strategy, crossed_above, crossed_below, indicators as ta


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

    @classmethod
    def validate_params(cls, params: dict[str, Any]) -> list[str]:
        """周期须为正，且 fast < slow。"""
        problems = [f"{k}={params[k]} must be at least 1" for k in ("fast", "slow") if params[k] < 1]
        if not problems and params["fast"] >= params["slow"]:
            problems.append(f"fast={params['fast']} must be below slow={params['slow']}")
        return problems

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
        """上穿开多/平空，下穿平多/开空。"""
        up = crossed_above(df["fast_ma"], df["slow_ma"])
        down = crossed_below(df["fast_ma"], df["slow_ma"])
        return pd.DataFrame({"enter_long": up, "exit_long": down, "enter_short": down, "exit_short": up})
