"""`tradeterm` 命令的入口：解析参数、分派到子命令；用户错误只打印消息并以非零码退出，不打印 traceback。

每个子命令是本包里的一个模块，提供 `register(subparsers)`：在其中 add_parser 并用
`parser.set_defaults(handler=函数)` 指定处理函数；处理函数接收 argparse.Namespace，返回退出码。

启动速度：子命令模块的顶层与 `register()` 只导入 argparse 级别的轻量模块（tradeterm/cli/flags.py、common.py、
各包的 defaults 模块）；pandas、numba、pydantic、ccxt、textual 等由处理函数在函数体里按需导入。`tradeterm --help` 与
`tradeterm COMMAND --help` 因此不加载任何重库（tests/test_lazy_imports.py 检查，bench/startup.py 计时）。
命令行给出了子命令时（包括默认的 run）只注册那一个（约省 40 毫秒：十几个模块的导入与几百个 add_argument）；
根级的 --help 与拼错的子命令（argparse 要列出全部可选项）才注册全部。
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import NoReturn

from tradeterm import __version__
from tradeterm.errors import UserError

# 子命令名 -> 注册它的模块（tradeterm.cli 下），按 --help 中的顺序排列
COMMANDS = {"run": "run", "attach": "attach", "web": "web", "ctl": "ctl", "check": "check", "config": "config_cmd",
            "strategies": "strategies_cmd", "sandbox": "sandbox", "backtest": "backtest",
            "replay-check": "replay_check", "fetch": "fetch", "data": "data_cmd", "notify": "notify_cmd"}
# 子命令模块，按 --help 中的顺序排列
COMMAND_MODULES = tuple(COMMANDS.values())
# 根级的帮助与版本选项
ROOT_INFO_FLAGS = frozenset({"-h", "--help", "--version"})
# 用户错误的退出码（与 argparse 的用法错误 2 一致）
EXIT_USER_ERROR = 2


class CommandParser(argparse.ArgumentParser):
    """参数解析器：用法错误只打印一行（哪个旗标、什么值、去看哪个 --help），以退出码 2 结束，不打印整段用法。

    子命令的解析器由 add_subparsers 以同一个类创建，所以每一级的错误都是这一种格式。"""

    def error(self, message: str) -> NoReturn:
        """打印一行错误并以退出码 2 退出（argparse 的约定）。"""
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """构建根解析器并注册全部子命令；only 为子命令名时只注册它（见模块说明）。"""
    parser = CommandParser(
        prog="tradeterm",
        description="tradeterm: a quantitative trading console in the terminal. "
                    "With no command it runs 'tradeterm run' (offline, paper mode, built-in sandbox exchange).",
    )
    parser.add_argument("--version", action="version", version=f"tradeterm {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details to stderr")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in [only] if only is not None else COMMANDS:
        importlib.import_module(f"tradeterm.cli.{COMMANDS[name]}").register(subparsers)
    return parser


def command_of(argv: list[str]) -> str | None:
    """argv 要运行的子命令：第一个不以 - 开头的参数是已知子命令、且它前面没有根级的 -h/--help 时返回它，否则 None。

    根解析器只有不带值的选项（-v、--version），所以第一个位置参数就是 argparse 眼里的子命令。"""
    for token in argv:
        if token in ("-h", "--help"):
            return None
        if not token.startswith("-"):
            return token if token in COMMANDS else None
    return None


def command_names(parser: argparse.ArgumentParser) -> list[str]:
    """build_parser 返回的根解析器上已注册的子命令名，按 --help 中的顺序。"""
    # argparse 没有列出子命令的公开接口：子命令动作是根解析器唯一的 subparsers 动作
    return list(parser._subparsers._group_actions[0].choices)


def main(argv: list[str] | None = None) -> int:
    """命令行入口；返回退出码（console script 会把它交给 sys.exit）。"""
    argv = list(argv if argv is not None else sys.argv[1:])
    if argv == ["--version"]:
        # 只问版本：不注册子命令，不解析参数，立刻回答
        print(f"tradeterm {__version__}")
        return 0
    if not set(COMMANDS) & set(argv) and not ROOT_INFO_FLAGS & set(argv):
        # 没有子命令就是 run：tradeterm --config x.yml 等同于 tradeterm run --config x.yml（-v 留在根上）
        root = [a for a in argv if a in ("-v", "--verbose")]
        argv = [*root, "run", *[a for a in argv if a not in root]]
    parser = build_parser(only=command_of(argv))
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        # 用法错误（2）与 --help/--version（0）：返回退出码而不是抛出，进程内调用 main() 的测试也能拿到它
        return exc.code if isinstance(exc.code, int) else EXIT_USER_ERROR
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        return int(args.handler(args) or 0)
    except UserError as exc:
        # 消息里可能带着交易所的原话：先去掉已加载的密钥（按需导入：凭据模块要加载 yaml，--help 与 --version 不需要）
        from tradeterm.config.credentials import redact

        print(f"error: {redact(str(exc))}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
