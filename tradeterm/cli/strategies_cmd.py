"""`tradeterm strategies`：列出可用的策略插件及其参数默认值。"""

from __future__ import annotations

import argparse
from pathlib import Path

from tradeterm.cli.flags import plugin_dirs


def register(subparsers: argparse._SubParsersAction) -> None:
    """注册 strategies 子命令。"""
    parser = subparsers.add_parser("strategies", help="list available strategy plugins and their parameters")
    parser.add_argument("--dir", action="append", default=[], metavar="DIR",
                        help="extra plugin directory to search (the built-in strategies/ is always searched)")
    parser.set_defaults(handler=run_strategies)


def run_strategies(args: argparse.Namespace) -> int:
    """打印每个策略类的名称、参数默认值与所在文件；导入失败的插件文件也列出（此时返回 1）。"""
    # 按需导入：策略加载器与插件要加载 pandas，--help 不需要它们
    from tradeterm.strategy.loader import discover

    catalog = discover(plugin_dirs(args.dir) + [Path("strategies")])
    for name in catalog.names():
        cls = catalog.classes[name]
        params = ", ".join(f"{k}={v!r}" for k, v in cls.params.items()) or "no parameters"
        print(f"{name:<20} {params}")
        print(f"{'':<20} {catalog.sources[name]}")
    for path, error in catalog.broken.items():
        print(f"BROKEN {path}: {error}")
    return 1 if catalog.broken else 0
