"""回测的准备工作（命令行 `tradeterm backtest` 与终端控制台的回测屏共用）：读 CSV 并核对周期、
按参数建单策略实例、写进日志库的运行设置。

放在回测包里而不是命令行模块里：界面与命令行用同一套规则（同样的校验、同样的默认值、同样的 runs.settings），
回测屏在后台线程里调用它们，然后调用 `run_backtest`、`result_metrics` 与 `record_backtest`，与命令行一样。
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from tradeterm.backtest.broker import FeeSchedule
# 默认值定义在轻量的 defaults 模块里（命令行帮助要用）；这里照旧可以导入它们
from tradeterm.backtest.defaults import DEFAULT_CASH, DEFAULT_FEE, DEFAULT_SLIPPAGE_BPS, DEFAULT_SYNTHETIC_BARS
from tradeterm.backtest.engine import BacktestSettings, InstanceSpec, ProgressFunction
from tradeterm.execution.fills import MarketRules
from tradeterm.sizing.sizers import ALL_IN, SizingFunction, PositionSizer
from tradeterm.config.markets import TIMEFRAME_MS, timeframe_ms
from tradeterm.data.csv import load_ohlcv_csv
from tradeterm.errors import DataError
from tradeterm.models import MarketType
from tradeterm.strategy.base import Strategy
from tradeterm.strategy.loader import build_strategy

if TYPE_CHECKING:
    from tradeterm.config.schema import RiskConfig  # 只用于类型标注（配置结构要加载 pydantic）


@dataclass
class PreparedRun:
    """一次准备好的回测：实例规格、回测设置，以及写进日志库 runs.settings 的说明。"""

    specs: list[InstanceSpec]   # 策略实例（单策略模式只有一个）
    settings: BacktestSettings  # 资金、费率、风控、路径与进度回调
    described: dict[str, Any]   # runs.settings 的内容（describe_run 的结果）


def load_candles(path: Path, timeframe: str) -> pd.DataFrame:
    """读 CSV 并检查它的 K 线间隔与声明的周期一致（最常见的间隔）；不一致时抛 DataError。"""
    data = load_ohlcv_csv(path)
    if len(data) < 2:
        raise DataError(f"{path}: needs at least 2 candles, found {len(data)}")
    step = int(pd.Series(data["timestamp"].diff().dropna()).mode().iloc[0])
    if step != timeframe_ms(timeframe):
        actual = next((k for k, v in TIMEFRAME_MS.items() if v == step), f"{step} ms")
        raise DataError(f"{path}: candles are {actual} apart but the timeframe is {timeframe}; "
                        f"pass --timeframe {actual} (or the instance's interval in config.yml)")
    return data


def warmup_warnings(specs: list[InstanceSpec]) -> list[str]:
    """K 线不够预热的实例，每个一条警告（实例名、可用根数、需要的根数）；都够时为空列表。

    按 Strategy.warmup 的定义，第一个信号之前要有 warmup 根历史：信号最早出在第 warmup + 1 根收盘，
    在再下一根的开盘成交，所以少于 warmup + 2 根时这个实例一笔也成交不了。回测照跑（结果是 0 笔交易），
    但要让用户知道原因。命令行把每条警告打印到 stderr。
    """
    out = []
    for spec in specs:
        strategy = spec.strategy
        bars, warmup = len(spec.data), int(strategy.warmup)
        if bars < warmup + 2:
            out.append(f"instance '{strategy.name}' ({strategy.describe()} on {strategy.symbol} {strategy.timeframe}) "
                       f"has {bars} bars but needs at least {warmup + 2} to trade (warm-up of {warmup} bars before "
                       f"its first signal, then one bar to signal and one to fill); it will make no trades: use "
                       f"more candles or smaller window parameters")
    return out


def describe_run(settings: BacktestSettings, specs: list[InstanceSpec], sources: dict[str, str],
                 exchange: str | None, markets: Path | None, sizings: list[dict]) -> dict:
    """写进日志库 runs.settings 的运行设置（含生效的风控限制与每个实例的仓位计算）。"""
    return {
        "cash": settings.cash, "maker_fee": settings.fees.maker, "taker_fee": settings.fees.taker,
        "slippage_bps": settings.fees.slippage_bps, "data": sources, "exchange": exchange,
        "markets": str(markets) if markets else None, "engine": settings.path,
        "risk": settings.risk.active_limits() if settings.risk else {},
        "instances": [{"name": s.strategy.name, "strategy": s.strategy.describe(), "symbol": s.strategy.symbol,
                       "timeframe": s.strategy.timeframe, "market_type": s.strategy.market_type.value,
                       "rules": {"price_tick": s.rules.price_tick, "amount_step": s.rules.amount_step,
                                 "min_amount": s.rules.min_amount, "min_notional": s.rules.min_notional},
                       "sizing": sizing, "trailing_stop": s.trailing_stop} for s, sizing in zip(specs, sizings)],
    }


def prepare_single(cls: type[Strategy], params: dict[str, Any], data: pd.DataFrame, source: str, *,
                   symbol: str = "BTC/USDT", timeframe: str = "1m", market_type: MarketType = MarketType.SPOT,
                   cash: float = DEFAULT_CASH, fee: float = DEFAULT_FEE, slippage_bps: float = DEFAULT_SLIPPAGE_BPS,
                   rules: MarketRules | None = None, risk: RiskConfig | None = None,
                   sizer: SizingFunction | PositionSizer = ALL_IN, sizing: dict | None = None,
                   trailing_stop: float = 0.0, path: str = "auto", progress: ProgressFunction | None = None,
                   exchange: str | None = None, markets: Path | None = None) -> PreparedRun:
    """单策略回测：校验参数并建策略（参数有问题抛 StrategyError，逐条列出），组装规格、设置与运行说明。

    data 为 K 线表，source 为它的来源说明（CSV 路径或 synthetic(...)）；fee 同时作 maker 与 taker 费率（小数）；
    sizing 为写进说明的仓位配置（缺省为全仓）。
    """
    strategy = build_strategy(cls, params, symbol=symbol, timeframe=timeframe, market_type=market_type)
    settings = BacktestSettings(cash=float(cash), fees=FeeSchedule(fee, fee, float(slippage_bps)), risk=risk,
                                path=path, progress=progress)
    spec = InstanceSpec(strategy, data, rules=rules or MarketRules(), sizer=sizer, trailing_stop=trailing_stop)
    described = describe_run(settings, [spec], {symbol: source}, exchange, markets,
                             [sizing or {"method": "all_in"}])
    return PreparedRun([spec], settings, described)
