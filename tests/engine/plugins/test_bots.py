"""引擎测试用的策略插件：按 K 线序号机械地进出（交易频繁、可预期），以及必然抛异常的策略（向量化的与逐根的各一个）。

Flip 既有向量化的 indicators/signals（回测与 replay-check 用），也有逐根的 update（实盘走增量路径）；
FlipWindowed 是只有向量化形式的同一个策略，引擎对它走窗口重算的后备路径。"""

from __future__ import annotations

from typing import Any, ClassVar

import pandas as pd

from tradeterm import Bar, Strategy
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

    def update(self, bar: Bar) -> dict[str, bool]:
        """逐根形式：与 signals() 同一根的值相同（K 线序号只取决于这根的开盘时间）。"""
        phase = (bar.ts // timeframe_ms(self.timeframe)) % self.params["period"]
        return {"enter_long": phase == 0, "exit_long": phase == self.params["period"] // 2}


class FlipWindowed(Flip):
    """只有向量化形式的 Flip（去掉了逐根的 update）：实盘在最近的窗口上重算，即没有逐根形式的插件的后备路径。"""

    # 回到基类的 update（未实现），is_incremental 为假
    update = Strategy.update


class ExplodesLater(Strategy):
    """逐根形式在第 fuse 根之后抛异常（预热期间正常）：证明逐根路径的异常也只让这个实例出错。"""

    # fuse：在第几次 update（从 reset 起算）时抛异常
    params: ClassVar[dict[str, Any]] = {"fuse": 3}

    @property
    def warmup(self) -> int:
        """不需要预热。"""
        return 1

    def signals(self, df: pd.DataFrame) -> pd.DataFrame:
        """向量化形式：没有信号（只为满足接口）。"""
        return pd.DataFrame(index=df.index)

    def reset(self) -> None:
        """计数清零。"""
        # 从 reset 起调用 update 的次数
        self.calls = 0

    def update(self, bar: Bar) -> dict[str, bool]:
        """第 fuse 次调用起抛异常。"""
        self.calls += 1
        if self.calls >= self.params["fuse"]:
            raise RuntimeError("boom later")
        return {}


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
