"""均值回归策略（MeanReversion）：价格偏离滚动均值过远时反向进场，回到均值附近时离场。"""

from __future__ import annotations

from typing import Any, ClassVar

import pandas as pd

from tradeterm import Strategy, indicators as ta


class MeanReversion(Strategy):
    """均值回归（布林带 / z 分数）：z = (close - SMA(window)) / 标准差(window)。

    z < -entry_z（收盘价跌破 entry_z 倍标准差的布林下轨）开多，z >= -exit_z 平多；
    合约市场上 z > entry_z 开空，z <= exit_z 平空；现货只做多。

    参数：
    - window：均值与标准差的窗口，K 线根数，默认 20
    - entry_z：进场阈值，标准差倍数，默认 2.0
    - exit_z：离场阈值，标准差倍数，默认 0.0（回到均值即离场），须小于 entry_z
    """

    # 参数默认值：20 根窗口，偏离 2 倍标准差进场，回到均值离场
    params: ClassVar[dict[str, Any]] = {"window": 20, "entry_z": 2.0, "exit_z": 0.0}

    @classmethod
    def validate_params(cls, params: dict[str, Any]) -> list[str]:
        """window >= 2，entry_z > 0，且 exit_z < entry_z。"""
        problems = []
        if params["window"] < 2:
            problems.append(f"window={params['window']} must be at least 2")
        if params["entry_z"] <= 0:
            problems.append(f"entry_z={params['entry_z']} must be above 0")
        elif params["exit_z"] >= params["entry_z"]:
            problems.append(f"exit_z={params['exit_z']} must be below entry_z={params['entry_z']}")
        return problems

    @property
    def warmup(self) -> int:
        """z 分数需要 window 根。"""
        return self.params["window"]

    def indicators(self, df: pd.DataFrame) -> pd.DataFrame:
        """添加 zscore 列。"""
        df["zscore"] = ta.zscore(df["close"], self.params["window"])
        return df

    def signals(self, df: pd.DataFrame) -> pd.DataFrame:
        """按 z 分数的阈值给出四个信号列。"""
        z = df["zscore"]
        entry, exit_ = self.params["entry_z"], self.params["exit_z"]
        return pd.DataFrame({"enter_long": z < -entry, "exit_long": z >= -exit_,
                             "enter_short": z > entry, "exit_short": z <= exit_})
