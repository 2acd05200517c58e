"""命令行旗标的取值检查：数字旗标只收有限的数（拒绝 inf、nan、1e400、true 之类），输出文件在运行前先查路径。

argparse 的 `type=` 用 `finite_number(...)`、`whole_number(...)`：解析失败时 argparse 以退出码 2 报
`argument --cash: 'inf' is not a finite number; ...`，什么都还没打开或创建。取值范围由各子命令在解析之后检查
（消息写明旗标、值与修正方法）。`output_file_problem` 在回测开始之前检查 --json/--trades 这类要写的文件。
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Callable

from tradeterm.config.markets import normalize_symbol, symbol_problem
from tradeterm.errors import UserError


def finite_number(example: str) -> Callable[[str], float]:
    """argparse 的 type：把文本转成有限的 float；不是数或不是有限数（inf、nan、溢出成 inf 的 1e400）时报错。

    example 是错误消息里给出的正确写法，如 "--cash 10000"。"""

    def parse(text: str) -> float:
        """解析一个旗标值。"""
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number; write a plain number, e.g. {example}") \
                from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number; write a plain number, "
                                             f"e.g. {example}")
        return value

    parse.__name__ = "number"
    return parse


def whole_number(example: str) -> Callable[[str], int]:
    """argparse 的 type：把文本转成整数（十进制，不收 1e3、2.5、true）；失败时报错并给出 example。"""

    def parse(text: str) -> int:
        """解析一个旗标值。"""
        try:
            return int(text.strip(), 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; e.g. {example}") from None

    parse.__name__ = "whole number"
    return parse


def checked_symbol(text: str, flag: str, market_type=None) -> str:
    """规范一个交易对参数（flag 为旗标名，如 --symbol）；写法不对、基础与计价货币相同、与市场类型不符
    （market_type 给出时）时抛 UserError。"""
    problem = symbol_problem(text, market_type)
    if problem:
        raise UserError(f"{flag} {problem}")
    return normalize_symbol(text)


def directory_problem(path: str | Path) -> str | None:
    """要用作目录的路径（--cache-dir ...）：已存在但不是目录、或名字不能用时返回问题说明，否则 None（不存在的会被创建）。"""
    text = str(path)
    if not text.strip() or "\0" in text:
        return "is not a directory name; give a directory, e.g. ~/.cache/tradeterm"
    target = Path(text).expanduser()
    if target.exists() and not target.is_dir():
        return "exists and is not a directory; give a directory, e.g. ~/.cache/tradeterm"
    for parent in target.parents:
        if parent.exists() and not parent.is_dir():
            return f"is inside {parent}, which is a file, not a directory; give a directory, e.g. ~/.cache/tradeterm"
    return None


def plugin_dirs(items: list[str]) -> list[Path]:
    """--dir 的取值（策略插件目录）-> 路径列表；不是已存在的目录时抛 UserError（不再悄悄忽略写错的目录）。"""
    for item in items:
        if "\0" in item or not item.strip() or not Path(item).is_dir():
            raise UserError(f"--dir {item!r}: not a directory; give a directory that holds strategy .py files, "
                            f"e.g. --dir strategies")
    return [Path(item) for item in items]


def output_file_problem(path: str | Path, example: str = "out.json") -> str | None:
    """要写的输出文件（--json、--trades ...）能否写：是目录、上级目录不存在或不是目录时返回问题说明（不含路径本身，
    调用方把它接在旗标与值后面），否则 None。example 为修正建议里的文件名。

    在耗时的工作开始之前调用，免得算完了才发现结果无处可写；不创建任何文件或目录。"""
    text = str(path)
    if not text.strip() or "\0" in text:
        return f"not a file name; give a file, e.g. {example}"
    target = Path(text)
    if target.is_dir():
        return f"is a directory; give a file inside it, e.g. {target / example}"
    parent = target.parent
    if not parent.exists():
        return f"the directory {parent} does not exist; create it first, or write to an existing directory"
    if not parent.is_dir():
        return f"{parent} is not a directory; give a file path, e.g. {example}"
    return None
