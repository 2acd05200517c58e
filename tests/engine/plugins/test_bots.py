"""引擎测试用的策略插件：按 K 线序号机械地进出（交易频繁、可预期），以及一个必然抛异常的策略。"""

from __future__ import annotations

from typing import Any, ClassVar

import pandas as pd

from tradeterm import Strategy
from tradeterm.config.markets import timeframe_ms


class Flip(Strategy):
    """第 n 根 K 线（开盘时间 / 周期）满足 n % period == 0 时开多，n % period == period // 2 时平多。"""

    # period：一个进出循环的 K 线根数
    params: ClassVar[dict[str, Any]] = {"period": 4}

    @property
    def warmup(self) -> int:
        """不需要预热。"""
        return 1

    def indicators(self, df: pd.DataFrame) -> pd.DataFrame:
        """K 线序号对 period 取余。"""
        df["phase"] = (df["timestamp"] // timeframe_ms(self.timeframe)) % self.params["period"]
        return df

    def signals(self, df: pd.DataFrame) -> pd.DataFrame:
        """相位 0 开多，相位 period//2 平多。"""
        enter = df["phase"] == 0
        leave = df["phase"] == self.params["period"] // 2
        return pd.DataFrame({"enter_long": enter, "exit_long": leave})


class Explodes(Strategy):
    """每次被调用都抛异常：用来证明一个实例出错不影响其他实例。"""

    # 没有参数
    params: ClassVar[dict[str, Any]] = {}

    @property
    def warmup(self) -> int:
        """不需要预热。"""
        return 1

    def indicators(self, df: pd.DataFrame) -> pd.DataFrame:
        """故意出错。"""
        raise RuntimeError("boom")

    def signals(self, df: pd.DataFrame) -> pd.DataFrame:
        """不会走到这里。"""
        return pd.DataFrame(index=df.index)
