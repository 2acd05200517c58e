"""启动速度（脚本，不是测试）：`tradeterm --version`、`tradeterm --help`、每个 `tradeterm COMMAND --help` 与
`import tradeterm` 的墙上时间，整个进程的小回测（`tradeterm backtest` 在 30,240 根的真实 CSV 上，--json --no-plot），
以及“首批报价上屏”：在伪终端里启动真正的 `tradeterm run`，到报价表里出现价格为止的秒数。
对照同一次运行里量的“空的 Python 进程”（python -c pass）与 `python -c "import pandas, numpy"`（issue 13 的参照）。

- 命令行各项先热身一次，再每项跑 REPEAT 次取中位数。子进程的字节码缓存写在临时目录里（bench/backtest_cli.py 的
  child_env：这个沙盒设了 PYTHONDONTWRITEBYTECODE=1，用户的机器上没有每次从源码重新编译这回事）。
- 首批报价：每次用 config.yml 的临时副本（journal.path 指向临时目录，沙盒状态与日志也因此在那里），在 120x40 的伪终端里
  启动 `python -m tradeterm.cli.main run --config 副本`，把终端输出喂给一个最小的终端模型（光标移动、清屏、写字符），
  直到屏幕上出现报价行（`│BTC/USDT     27,123.45 ...`）；记下从启动进程到这一刻的秒数（另记第一次画出报价窗格的时刻）。
  然后按 q、再按 y 确认退出（引擎与进程内沙盒随之停止），等进程退出；超时才 SIGTERM、最后 SIGKILL，并检查它的进程组里
  没有留下任何进程。先跑一次不计时的热身（numba 的磁盘缓存、操作系统的文件缓存），再跑 QUOTES_REPEAT 次取中位数。

最后打印一张表（中位数、相对两个参照的倍数、issue 13 的目标）和一行 JSON；表头注明内核用的是预编译模块（aot）
还是 njit（见 tradeterm/jit.py：njit 时回测要多付约 0.5 秒加载 numba）。

用法：python bench/startup.py [--repeat 7] [--quotes-repeat 3] [--no-quotes]
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # 直接 python bench/startup.py 时也能导入 tradeterm

from backtest_cli import child_env  # noqa: E402  （同目录的基准脚本：子进程的字节码缓存放在临时目录）
from suite_under_load import die_with_parent  # noqa: E402  （同目录的基准脚本：子进程随本脚本一起死）
from tests.cli.terminal_screen import TerminalScreen  # noqa: E402  （与 tests/cli/test_web.py 共用的终端模型）
from tradeterm import aot  # noqa: E402
from tradeterm.cli.main import build_parser, command_names  # noqa: E402

# 仓库根目录（命令在这里运行）
REPO = Path(__file__).resolve().parents[1]
# 默认每项的重复次数
REPEAT = 7
# “首批报价”默认的计时次数（另有一次不计时的热身）
QUOTES_REPEAT = 3
# 参照项的名字（其余各项的倍数相对它）
REFERENCE = "python -c pass (reference)"
# 第二个参照：导入 pandas 与 numpy 的进程（issue 13 里整个进程的小回测的参照）
PANDAS_REFERENCE = "python -c 'import pandas, numpy' (reference)"
# 整个进程的小回测那一项的名字
BACKTEST_CASE = "tradeterm backtest (30,240-bar CSV, --json)"
# 整个进程的小回测用的真实行情（共享目录，不复制进仓库）
BACKTEST_CSV = REPO.parent / "shared" / "data" / "binanceus_BTCUSDT_1m_2023-03.csv"
# 首批报价那一项的名字
QUOTES_CASE = "tradeterm run: first quotes on screen"
# issue 13 的目标（秒）：项名 -> 上限
TARGETS = {"tradeterm --version": 0.3, "tradeterm --help": 0.3, BACKTEST_CASE: 0.8, QUOTES_CASE: 3.0}
# 入口命令：与 `tradeterm` 脚本相同的 main()，用本解释器运行
TRADETERM = [sys.executable, "-m", "tradeterm.cli.main"]
# 伪终端的大小：列, 行
TERMINAL_SIZE = (120, 40)
# 报价窗格里的一行：窗格边框、交易对、紧跟着的千分位最新价（持仓、挂单与实例表里交易对后面先是方向或周期，不是价格）
QUOTE_ROW = re.compile(r"│BTC/USDT\s+\d{1,3}(?:,\d{3})*\.\d{2}\b")
# 报价窗格的标题（第一次画出主屏的标志）
QUOTES_TITLE = "Quotes"
# 退出确认框的标题（按 q 之后出现）
QUIT_TITLE = "Quit and stop the engine?"
# 等报价上屏的上限，秒（超过即报错并打印屏幕）
QUOTES_TIMEOUT_S = 60.0
# 等退出确认框的上限，秒
CONFIRM_TIMEOUT_S = 10.0
# 确认退出后等进程自己结束的上限，秒（停引擎、关沙盒）；之后 SIGTERM，再等同样久后 SIGKILL
EXIT_TIMEOUT_S = 30.0
# 读伪终端时每次 select 的等待上限，秒
POLL_S = 0.02
def help_cases(scratch: Path) -> list[tuple[str, list[str]]]:
    """被量的命令行各项：(名字, 参数)；前两项是参照，之后是导入、--version、--help、每个子命令的 --help 与小回测
    （它的 JSON 与日志库写在 scratch 临时目录里）。"""
    cases = [(REFERENCE, [sys.executable, "-c", "pass"]),
             (PANDAS_REFERENCE, [sys.executable, "-c", "import pandas, numpy"]),
             ("import tradeterm", [sys.executable, "-c", "import tradeterm"]),
             ("tradeterm --version", [*TRADETERM, "--version"]),
             ("tradeterm --help", [*TRADETERM, "--help"])]
    cases += [(f"tradeterm {name} --help", [*TRADETERM, name, "--help"]) for name in command_names(build_parser())]
    cases.append((BACKTEST_CASE, [*TRADETERM, "backtest", "--strategy", "MACross", "--data", str(BACKTEST_CSV),
                                  "--json", str(scratch / "result.json"), "--journal", str(scratch / "journal.db"),
                                  "--no-plot"]))
    return cases


def timed(command: list[str], env: dict[str, str]) -> float:
    """以环境 env 运行一次命令（输出丢弃），返回墙上时间，秒。"""
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def offline_config(directory: Path) -> Path:
    """在 directory 里写一份 config.yml 的副本，journal.path 指向该目录（日志库、沙盒状态与日志文件都落在那里）。"""
    config = yaml.safe_load((REPO / "config.yml").read_text(encoding="utf-8"))
    config.setdefault("journal", {})["path"] = str(directory / "tradeterm.db")
    path = directory / "config.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def attach_terminal() -> None:
    """子进程里（exec 之前）：成为新会话的首进程后把伪终端设为控制终端，并在本脚本死掉时一起死。"""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    die_with_parent()


class ConsoleRun:
    """一次在伪终端里运行的 `tradeterm run`：启动、读屏幕、按键、收尾。"""

    def __init__(self, config_path: Path, env: dict[str, str]) -> None:
        """启动进程（config_path 为配置文件，env 为它的环境）；计时从这里开始。"""
        columns, rows = TERMINAL_SIZE
        # 伪终端的主端（本脚本读写）与从端（子进程的标准输入输出）
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        # 子进程画出的屏幕
        self.screen = TerminalScreen(columns, rows)
        # 启动时刻，perf_counter 秒
        self.started = time.perf_counter()
        # tradeterm 进程（新会话、新进程组，组号即进程号）
        self.process = subprocess.Popen([*TRADETERM, "run", "--config", str(config_path)], cwd=REPO, env=env,
                                        stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
                                        preexec_fn=attach_terminal, close_fds=True)
        os.close(slave)

    def elapsed(self) -> float:
        """从启动到现在的秒数。"""
        return time.perf_counter() - self.started

    def pump(self, timeout_s: float) -> bool:
        """最多等 timeout_s 秒读一块输出喂给屏幕；返回是否还可能有输出（False：子进程已关掉终端）。"""
        ready, _, _ = select.select([self.master], [], [], timeout_s)
        if not ready:
            return True
        try:
            data = os.read(self.master, 65536)
        except OSError:  # 子进程退出、从端全部关闭后 Linux 报 EIO
            return False
        self.screen.feed(data)
        return bool(data)

    def wait_for(self, pattern: re.Pattern[str] | str, timeout_s: float) -> float:
        """读输出直到屏幕上出现 pattern；返回出现时刻（从启动算起的秒数）。超时或进程先退出时抛 RuntimeError。"""
        deadline = time.perf_counter() + timeout_s
        while not self.screen.shows(pattern):
            if time.perf_counter() > deadline or not self.pump(POLL_S) or self.process.poll() is not None:
                screen = "\n".join(self.screen.lines())
                raise RuntimeError(f"tradeterm did not show {getattr(pattern, 'pattern', pattern)!r} within "
                                   f"{timeout_s:g} s (exit code {self.process.poll()}); last screen:\n{screen}")
        return self.elapsed()

    def press(self, keys: str) -> None:
        """向终端输入按键。"""
        os.write(self.master, keys.encode())

    def quit(self) -> str:
        """按 q 并确认退出，等进程结束；不肯退出时依次 SIGTERM、SIGKILL。返回退出方式的说明。"""
        how = "q + y"
        try:
            if self.process.poll() is None:
                self.press("q")
                self.wait_for(QUIT_TITLE, CONFIRM_TIMEOUT_S)
                self.press("y")
        except RuntimeError:
            how = "no confirm dialog"
        for signum in (None, signal.SIGTERM, signal.SIGKILL):
            if signum is not None and self.process.poll() is None:
                how = f"{how}, then {signal.Signals(signum).name}"
                self.process.send_signal(signum)
            deadline = time.perf_counter() + EXIT_TIMEOUT_S
            while self.process.poll() is None and time.perf_counter() < deadline:
                self.pump(POLL_S)  # 一直读：终端缓冲满了子进程会卡在写输出上
            if self.process.poll() is not None:
                break
        self.process.wait()
        os.close(self.master)
        return f"{how}; exit code {self.process.returncode}; {leftover_processes(self.process.pid)}"


def leftover_processes(group: int) -> str:
    """进程组 group（tradeterm 的新会话）里是否还有进程；有就杀掉并如实说明。"""
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return "no process left behind"
    os.killpg(group, signal.SIGKILL)
    return "LEFTOVER processes in its group were killed"


def first_quotes(env: dict[str, str]) -> tuple[float, float, str]:
    """运行一次控制台（环境 env）：返回 (第一次画出报价窗格的秒数, 第一批报价上屏的秒数, 收尾说明)。"""
    directory = Path(tempfile.mkdtemp(prefix="tradeterm-startup-"))
    try:
        run = ConsoleRun(offline_config(directory), env)
        try:
            frame = run.wait_for(QUOTES_TITLE, QUOTES_TIMEOUT_S)
            quotes = run.wait_for(QUOTE_ROW, QUOTES_TIMEOUT_S)
        finally:
            ending = run.quit()
        return frame, quotes, ending
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """量每一项、打印表与 JSON。"""
    parser = argparse.ArgumentParser(description="Measure tradeterm start-up times.")
    parser.add_argument("--repeat", type=int, default=REPEAT, help=f"runs per command-line case (default {REPEAT})")
    parser.add_argument("--quotes-repeat", type=int, default=QUOTES_REPEAT,
                        help=f"timed console runs for 'first quotes on screen', after one warm-up run "
                             f"(default {QUOTES_REPEAT})")
    parser.add_argument("--no-quotes", action="store_true", help="skip the console ('first quotes') case")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat: {args.repeat} is below 1; use 1 or more runs")
    if args.quotes_repeat < 1:
        parser.error(f"--quotes-repeat: {args.quotes_repeat} is below 1; use 1 or more runs")
    kernels = aot.status()
    with tempfile.TemporaryDirectory(prefix="tradeterm-startup-") as scratch:
        env = child_env(Path(scratch) / "pycache")
        cases = help_cases(Path(scratch))
        for _, command in cases:
            timed(command, env)  # 热身，不计时（字节码缓存、numba 缓存、操作系统的文件缓存）
        medians = {name: statistics.median(timed(command, env) for _ in range(args.repeat)) for name, command in cases}
        endings: list[str] = []
        if not args.no_quotes:
            first_quotes(env)  # 热身，不计时
            runs = [first_quotes(env) for _ in range(args.quotes_repeat)]
            medians["tradeterm run: quotes pane drawn"] = statistics.median(frame for frame, _, _ in runs)
            medians[QUOTES_CASE] = statistics.median(quotes for _, quotes, _ in runs)
            endings = sorted({ending for _, _, ending in runs})
    print_table(medians, kernels)
    for ending in endings:
        print(f"console shutdown: {ending}")
    reference, pandas_reference = medians[REFERENCE], medians[PANDAS_REFERENCE]
    print(json.dumps({"repeat": args.repeat, "quotes_repeat": None if args.no_quotes else args.quotes_repeat,
                      "terminal": f"{TERMINAL_SIZE[0]}x{TERMINAL_SIZE[1]}",
                      "kernels": "aot" if kernels["aot"] else "jit",
                      "median_s": {k: round(v, 4) for k, v in medians.items()},
                      "ratio_to_reference": {k: round(v / reference, 2) for k, v in medians.items()},
                      "ratio_to_pandas_reference": {k: round(v / pandas_reference, 2) for k, v in medians.items()},
                      "targets_s": {k: v for k, v in TARGETS.items() if k in medians},
                      "meets_target": {k: medians[k] <= v for k, v in TARGETS.items() if k in medians}}))
    return 0


def print_table(medians: dict[str, float], kernels: dict) -> None:
    """打印结果表：中位数、相对两个参照的倍数与目标（有目标的项）。"""
    reference, pandas_reference = medians[REFERENCE], medians[PANDAS_REFERENCE]
    print(f"kernels: {'precompiled (aot)' if kernels['aot'] else 'njit (no up-to-date precompiled module)'}, "
          f"source key {kernels['source_key']}")
    width = max(len(name) for name in medians)
    print(f"{'case':<{width}} {'median s':>9} {'x python':>9} {'x pandas':>9} {'target s':>9}")
    print("-" * (width + 40))
    for name, seconds in medians.items():
        target = f"{TARGETS[name]:>9.1f}" if name in TARGETS else ""
        print(f"{name:<{width}} {seconds:>9.3f} {seconds / reference:>9.1f} {seconds / pandas_reference:>9.2f} "
              f"{target}")


if __name__ == "__main__":
    sys.exit(main())
