"""`tradeterm run`（也是不带子命令时的默认）：按 config.yml 启动交易控制台，默认离线模拟盘。

在界面与实盘引擎完成之前，它校验配置、说明将运行什么，并在内置的合成行情上为每个实例算出信号，
让新用户一条命令就看到策略在动。它从不需要网络或 API 密钥。
"""

from __future__ import annotations

import argparse

from tradeterm.cli.common import format_ts
from tradeterm.cli.config_cmd import describe_config
from tradeterm.config import load_config
from tradeterm.data import synthetic_ohlcv
from tradeterm.strategy.loader import build_strategy, load_strategy_class

# 离线演示为每个实例生成的合成 K 线根数
DEMO_BARS = 2_000


def register(subparsers: argparse._SubParsersAction) -> None:
    """注册 run 子命令。"""
    parser = subparsers.add_parser("run", help="start tradeterm with config.yml (default: offline paper mode)")
    parser.add_argument("--config", default="config.yml", help="config file (default: ./config.yml)")
    parser.set_defaults(handler=run_app)


def run_app(args: argparse.Namespace) -> int:
    """校验配置、打印运行计划，并在合成行情上演示每个实例最近的信号。"""
    config = load_config(args.config)
    print(describe_config(config, args.config))
    if not config.exchange.sandbox or config.mode.value == "live":
        print("note: only the offline sandbox is available in this version; nothing was sent to an exchange")
    print("\nOffline demo: signals of each instance on a synthetic market (no network, no API keys):")
    for index, instance in enumerate(i for i in config.strategies if i.enabled):
        cls = load_strategy_class(instance.class_name, config.plugin_dirs())
        strategy = build_strategy(cls, instance.params, name=instance.name, symbol=instance.symbol,
                                  timeframe=instance.interval, market_type=config.exchange.market_type)
        bars = synthetic_ohlcv(DEMO_BARS, seed=index + 1, timeframe=instance.interval)
        frame = strategy.compute(bars)
        entries, exits = int(frame["enter_long"].sum()), int(frame["exit_long"].sum())
        last = bars.iloc[-1]
        print(f"  {instance.name:<24} last {last['close']:>12,.2f} at {format_ts(int(last['timestamp']))}  "
              f"long entries {entries:>4}  exits {exits:>4}")
    return 0
