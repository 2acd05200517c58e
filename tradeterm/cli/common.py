"""子命令共用的小工具：加载数据（CSV 或合成）、解析 --param、格式化时间。

模块顶层只导入标准库：`register()` 与 `--help` 会导入本模块，pandas 等重库只在真正加载数据、解析参数时才导入。
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tradeterm.backtest.defaults import DEFAULT_SYNTHETIC_BARS  # 未给 --data 时合成行情的根数（与回测的默认相同）

if TYPE_CHECKING:
    import pandas as pd

# 合成行情的默认随机种子（同一种子总是同一段行情）
DEFAULT_SYNTHETIC_SEED = 7


def load_bars(data: str | None, timeframe: str = "1m") -> tuple[pd.DataFrame, str]:
    """--data 给了就读 CSV，否则生成带种子的合成行情；返回 (K 线表, 来源说明)。"""
    # 按需导入：数据层要加载 pandas 与 numpy，只在处理函数真正读数据时付出这份导入时间
    from tradeterm.data import load_ohlcv_csv, synthetic_ohlcv

    if data:
        return load_ohlcv_csv(Path(data)), data
    bars = synthetic_ohlcv(DEFAULT_SYNTHETIC_BARS, seed=DEFAULT_SYNTHETIC_SEED, timeframe=timeframe)
    return bars, f"synthetic market (seed {DEFAULT_SYNTHETIC_SEED}, {DEFAULT_SYNTHETIC_BARS} bars)"


def parse_params(items: list[str] | None) -> dict[str, Any]:
    """把多个 --param k=v 合成字典（值按 YAML 转成数字/布尔/文本）。"""
    # 按需导入：tradeterm.strategy 包会加载 pandas（策略基类）
    from tradeterm.strategy.params import parse_param_text

    return dict(parse_param_text(item) for item in items or [])


def format_ts(ts: int) -> str:
    """UTC 毫秒时间戳 -> 'YYYY-MM-DD HH:MM UTC'。"""
    return datetime.fromtimestamp(ts / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
