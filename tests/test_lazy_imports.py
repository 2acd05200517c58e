"""按需导出（tradeterm/lazy.py）：`import tradeterm` 与 `import tradeterm.config.credentials` 不加载 pandas、numba、
pydantic；导出的名字照常可用（策略插件的 `from tradeterm import Strategy`）；不存在的名字是 AttributeError。
`tradeterm --help` 与每个 `tradeterm COMMAND --help` 也不加载任何重库（子命令模块的顶层与 register() 只导入轻量模块）。
在全新的子进程里检查（本测试进程早已导入了这些库）。速度本身在 bench/startup.py 里量，这里不断言时间。"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tradeterm.cli.main import build_parser, command_names

# 启动路径上不该出现的重库
HEAVY = ("pandas", "numpy", "numba", "pydantic", "ccxt", "textual", "aiosqlite", "plotext")
# 要检查的 --help：根命令，以及每个已注册的子命令（新加的子命令自动在内）
HELP_COMMANDS = ["", *command_names(build_parser())]


def loaded_after(statement: str) -> dict[str, bool]:
    """在新的 Python 进程里执行 statement，返回每个重库是否已被导入。"""
    code = (f"import sys, json\n{statement}\n"
            f"print(json.dumps({{name: name in sys.modules for name in {HEAVY!r}}}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize("statement", ["import tradeterm", "import tradeterm.config.credentials",
                                       "from tradeterm.cli.main import main; main(['--version'])"])
def test_the_start_up_path_loads_no_heavy_library(statement):
    """包、凭据模块与 --version 都不导入重库。"""
    assert not any(loaded_after(statement).values()), loaded_after(statement)


def help_outcome(command: str) -> dict:
    """在新的 Python 进程里像 `python -m tradeterm.cli.main [command] --help` 那样运行入口模块，
    返回 {"code": 退出码, "heavy": 已导入的重库, "printed": 是否打印了用法}。"""
    argv = [*command.split(), "--help"]
    code = ("import io, json, runpy, sys\n"
            f"sys.argv = ['tradeterm', *{argv!r}]\n"
            "sys.stdout = out = io.StringIO()\n"
            "try:\n"
            "    runpy.run_module('tradeterm.cli.main', run_name='__main__', alter_sys=True)\n"
            "    code = None\n"
            "except SystemExit as exc:\n"
            "    code = exc.code\n"
            "sys.stdout = sys.__stdout__\n"
            f"print(json.dumps({{'code': code, 'heavy': [n for n in {HEAVY!r} if n in sys.modules],\n"
            "                  'printed': out.getvalue().startswith('usage: tradeterm')}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize("command", HELP_COMMANDS, ids=lambda c: f"{c or 'tradeterm'} --help")
def test_help_loads_no_heavy_library(command):
    """--help 打印用法、以退出码 0 结束，且没有导入任何重库（处理函数才导入它们）。"""
    outcome = help_outcome(command)
    assert outcome == {"code": 0, "heavy": [], "printed": True}, outcome


def test_exported_names_still_work():
    """导出的名字按需导入后就是原来的对象；未导出的名字是 AttributeError。"""
    import tradeterm
    import tradeterm.config as config
    from tradeterm.config.schema import AppConfig
    from tradeterm.strategy.base import Strategy

    assert tradeterm.Strategy is Strategy and config.AppConfig is AppConfig
    assert tradeterm.indicators.__name__ == "tradeterm.indicators"
    assert set(tradeterm.__all__) >= {"Strategy", "TradeSignal", "indicators", "__version__"}
    with pytest.raises(AttributeError, match="no attribute 'Strateg'"):
        getattr(tradeterm, "Strateg")


def subcommand_help(parser, name: str) -> str:
    """解析器上子命令 name 的帮助文本。"""
    return parser._subparsers._group_actions[0].choices[name].format_help()  # argparse 没有公开的取法


def test_the_command_table_matches_what_the_modules_register():
    """main.COMMANDS（子命令名 -> 模块）与各模块实际注册的子命令名、顺序一致。"""
    from tradeterm.cli.main import COMMANDS

    assert list(COMMANDS) == command_names(build_parser())


@pytest.mark.parametrize("command", HELP_COMMANDS[1:])
def test_registering_only_the_command_given_builds_the_same_parser(command):
    """只注册命令行给出的那个子命令时，它的解析器（用法、参数与帮助）与注册全部时完全相同。"""
    assert command_names(build_parser(only=command)) == [command]
    assert subcommand_help(build_parser(only=command), command) == subcommand_help(build_parser(), command)


def test_a_command_imports_only_its_own_cli_module():
    """`tradeterm config --help` 只导入 config 的命令模块，不导入其他子命令的模块；根级 --help 才导入全部。"""
    from tradeterm.cli.main import COMMANDS

    modules = [f"tradeterm.cli.{module}" for module in COMMANDS.values()]
    code = ("import io, json, sys\nfrom tradeterm.cli.main import main\nsys.stdout = io.StringIO()\n"
            "codes = [main({argv!r})]\nsys.stdout = sys.__stdout__\n"
            f"print(json.dumps([m for m in {modules!r} if m in sys.modules]))")
    loaded = [json.loads(subprocess.run([sys.executable, "-c", code.format(argv=argv)], capture_output=True,
                                        text=True, check=True).stdout.strip().splitlines()[-1])
              for argv in (["config", "--help"], ["--help"])]
    assert loaded == [["tradeterm.cli.config_cmd"], modules]
