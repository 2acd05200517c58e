"""均值回归策略（MeanReversion）：价格偏离滚动均值过远时反向进场，回到均值附近时离场。"""

from __future__ import annotations

from typing import Any, ClassVar

import pandas as pd

from tradeterm import Bar, Strategy, indicators as ta
from tradeterm.strategy.base import MAX_WINDOW


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
    # 参数区间（闭区间）：窗口 2..MAX_WINDOW 根 K 线；阈值为标准差倍数，n 根窗口里 |z| 不超过 sqrt(n)（<= 317），
    # 所以 1000 以上的阈值永远不会触发
    param_ranges: ClassVar[dict[str, tuple[float | None, float | None]]] = {
        "window": (2, MAX_WINDOW), "entry_z": (0, 1000), "exit_z": (-1000, 1000)}

    @classmethod
    def validate_params(cls, params: dict[str, Any]) -> list[str]:
        """entry_z > 0，且 exit_z < entry_z（区间由 param_ranges 检查）。"""
        problems = []
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
        """添加 zscore 列，以及比较用的 zscore_dev（收盘价 - 均值）与 zscore_std（总体标准差），均为计价货币。"""
        moments = ta.rolling_moments(df["close"], self.params["window"])
        df["zscore"] = moments["zscore"].to_numpy()
        df["zscore_dev"] = moments["deviation"].to_numpy()
        df["zscore_std"] = moments["std"].to_numpy()
        return df

    def signals(self, df: pd.DataFrame) -> pd.DataFrame:
        """按 z 分数的阈值给出四个信号列。

        z 与阈值 k 的比较在价格尺度上做：z < k 等价于 (收盘价 - 均值) < k * 标准差，两边之差除以收盘价、
        落定到 11 位小数再与 0 比较（ta.relative_gap）。恰在阈值上的 z（十进制意义上的平局）按定义判定，
        标准差只有一两个最小价位时也不受浮点噪声影响。标准差为 0（常数窗口，z 为 NaN）时没有信号。
        """
        close, deviation, std = df["close"], df["zscore_dev"], df["zscore_std"]
        defined = df["zscore"].notna()
        entry, exit_ = self.params["entry_z"], self.params["exit_z"]

        def versus(k: float) -> pd.Series:
            """(收盘价 - 均值) 与 k * 标准差的落定相对差：< 0 即 z < k，= 0 即 z 恰为 k。"""
            return ta.relative_gap(deviation, k * std, close)

        return pd.DataFrame({"enter_long": defined & (versus(-entry) < 0),
                             "exit_long": defined & (versus(-exit_) >= 0),
                             "enter_short": defined & (versus(entry) > 0),
                             "exit_short": defined & (versus(exit_) <= 0)})

    # ---- 逐根形式（实盘用）：与上面的 signals() 逐根相同 ----

    def reset(self) -> None:
        """逐根计算的初始状态：流式的滚动均值与标准差。"""
        # 窗口的均值、标准差、偏离与 z 分数（流式，与 ta.rolling_moments 逐位相同）
        self.moments = ta.RollingMomentsStream(self.params["window"])

    def update(self, bar: Bar) -> dict[str, bool] | None:
        """一根收盘 K 线上的信号：同样在价格尺度上比较 z 与阈值；z 为 NaN（常数窗口、预热）时没有信号。"""
        moments, close = self.moments.update(bar.close), bar.close
        if moments.zscore != moments.zscore:
            return None
        entry, exit_ = self.params["entry_z"], self.params["exit_z"]

        def versus(k: float) -> float:
            """(收盘价 - 均值) 与 k * 标准差的落定相对差。"""
            return ta.relative_gap_value(moments.deviation, k * moments.std, close)

        return {"enter_long": versus(-entry) < 0, "exit_long": versus(-exit_) >= 0,
                "enter_short": versus(entry) > 0, "exit_short": versus(exit_) <= 0}
