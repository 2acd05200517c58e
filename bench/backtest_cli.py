"""整个进程的回测基准（脚本，不是测试）：`tradeterm backtest --strategy MACross --data FILE --json OUT --no-plot`
从启动到退出的墙上时间，对照同一次运行里量的 vectorbt 脚本（启动 + import vectorbt + read_csv + 同样的均线交叉 +
Portfolio.from_signals + 逐根权益与交易记录）。

两份数据：
- 约 100 万根 1 分钟 K 线的 CSV：与 bench/backtest.py 相同，由真实的 BTC/USDT 文件重复拼接（时间顺延、价格按比例
  缩放到从上一份的收盘价开始），再把价格四舍五入到 0.01（真实文件的最小价位，CSV 看起来像交易所导出的文件），
  写进临时目录；
- 真实的 30,240 根 `binanceus_BTCUSDT_1m_2023-03.csv`（共享目录，不复制）。
两边都用 0 手续费（与 bench/backtest.py 相同：2 万多笔交易下 0.1% 的手续费会把权益磨到接近 0，期末权益无从比较），
每次运行用一个新的临时目录作工作目录与日志库（`--journal 临时目录/j.db`），仓库里不留任何文件。

每项先跑一次不计时的热身（numba 的磁盘缓存、Python 字节码缓存、操作系统的文件缓存），再跑 REPEAT 次取最短；
子进程的字节码缓存放在临时目录里（见 child_env）。另在子进程里按阶段计时（本脚本的 --phases-child 模式：给命令
用到的函数套上计时器后调用同一个 main()；同样热身后跑 REPEAT 次，取整个进程最快的那一次），说明时间花在哪里：
解释器启动、导入、读 CSV、回测（其中 numba 从磁盘缓存载入机器码的时间）、指标、写 JSON、写日志库、解释器退出。

最后打印一张表和一行 JSON。

用法：python bench/backtest_cli.py [--bars N] [--repeat 3] [--skip-vectorbt]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# 仓库根目录
REPO = Path(__file__).resolve().parents[1]
# 真实行情文件（共享目录，不复制进仓库）
REAL_CSV = REPO.parent / "shared" / "data" / "binanceus_BTCUSDT_1m_2023-03.csv"
# 默认的生成 K 线根数
DEFAULT_BARS = 1_000_000
# 每项默认的计时次数（另有一次不计时的热身）
REPEAT = 3
# MACross 参数（K 线根数），与 vectorbt 脚本一致
FAST, SLOW = 10, 30
# 初始资金，USDT
CASH = 10_000.0
# 价格保留的小数位（真实文件的最小价位 0.01）
PRICE_DECIMALS = 2
# 入口命令：与 `tradeterm` 脚本相同的 main()，用本解释器运行
TRADETERM = [sys.executable, "-m", "tradeterm.cli.main"]
# 参照：vectorbt 脚本（bench/backtest.py 的 run_vectorbt 的同一套做法，加上启动、导入与读 CSV）；argv[1] 为 CSV
VECTORBT_SCRIPT = f"""
import sys
import numpy as np
import pandas as pd
import vectorbt as vbt
bars = pd.read_csv(sys.argv[1])
close = bars["close"]
fast = vbt.MA.run(close, {FAST}).ma
slow = vbt.MA.run(close, {SLOW}).ma
entries = (fast > slow) & (fast.shift(1) <= slow.shift(1))
exits = (fast < slow) & (fast.shift(1) >= slow.shift(1))
portfolio = vbt.Portfolio.from_signals(
    close=close.to_numpy(), entries=entries.shift(1, fill_value=False).to_numpy(),
    exits=exits.shift(1, fill_value=False).to_numpy(), price=bars["open"].to_numpy(), fees=0.0, size=np.inf,
    init_cash={CASH}, freq="1min")
equity = portfolio.value().to_numpy()
assert len(portfolio.trades.records) > 0
print(float(equity[-1]))
"""
# 阶段计时子进程里被计时的函数：(阶段名, 模块, 函数名)；命令在运行时按模块属性取它们，换掉属性即可计时
TIMED_FUNCTIONS = [
    ("load CSV and check the timeframe", "tradeterm.backtest.prepare", "load_candles"),
    ("  of which: read and validate the CSV", "tradeterm.backtest.prepare", "load_ohlcv_csv"),
    ("backtest (run_backtest)", "tradeterm.backtest.engine", "run_backtest"),
    ("metrics (result_metrics)", "tradeterm.report.metrics", "result_metrics"),
    ("write JSON (write_json)", "tradeterm.cli.backtest", "write_json"),
    ("journal (record_backtest)", "tradeterm.journal.runs", "record_backtest"),
]
# 命令一开始按需导入的模块（run_command 里的那几行），阶段计时时单独量它们的导入
COMMAND_IMPORTS = ["tradeterm.backtest.engine", "tradeterm.backtest.prepare", "tradeterm.journal.runs",
                   "tradeterm.report.charts", "tradeterm.report.metrics"]
# 阶段表里 numba 持有编译锁（载入缓存的机器码）的那一行（大部分在回测阶段里）
NUMBA_PHASE = "  of which: numba loads cached kernels"
# 阶段表里的两个导入阶段：命令行入口模块；命令按需导入的模块（COMMAND_IMPORTS）
STARTUP_PHASE, IMPORT_PHASE = "start-up: import tradeterm.cli.main", "imports the command needs (engine, pandas, ...)"
# 阶段表里解释器启动（到本脚本第一行代码，含导入本脚本顶部的几个标准库模块）与退出（打印结果之后的清理）的两行
START_PHASE, EXIT_PHASE = "interpreter start", "interpreter exit"
# 阶段表里命令的其余部分：main() 里计时的函数之外（参数检查、加载策略、打印指标表）
OTHER_PHASE = "rest of the command: flags, strategy load, summary table"
# 阶段表里“未计入”的那一行：整个进程减去各阶段（进程创建与管道之类）
REST_PHASE = "unaccounted"
# 阶段表的行序（缩进的是上一行的一部分）
PHASE_ORDER = [START_PHASE, STARTUP_PHASE, IMPORT_PHASE, *(name for name, _, _ in TIMED_FUNCTIONS[:3]), NUMBA_PHASE,
               *(name for name, _, _ in TIMED_FUNCTIONS[3:]), OTHER_PHASE, EXIT_PHASE, REST_PHASE, "whole process"]


def write_bars_csv(count: int, path: Path) -> int:
    """生成 count 根 K 线（bench/backtest.py 的 repeated_bars，价格取到 0.01）写成 CSV，返回根数。"""
    sys.path.insert(0, str(REPO / "bench"))
    from backtest import repeated_bars  # noqa: E402  （同目录的基准脚本：同一种拼接方法）

    from tradeterm.data.csv import save_ohlcv_csv

    bars = repeated_bars(count)
    prices = ["open", "high", "low", "close"]
    # 四舍五入是单调的，low <= open/close <= high 的关系保持不变
    bars[prices] = bars[prices].round(PRICE_DECIMALS)
    save_ohlcv_csv(bars, path)
    return len(bars)


def ours_command(csv: Path, folder: Path) -> list[str]:
    """我们的整条命令：单策略、0 手续费、--json 与日志库都写进 folder。"""
    return [*TRADETERM, "backtest", "--strategy", "MACross", "--data", str(csv), "--param", f"fast={FAST}",
            "--param", f"slow={SLOW}", "--cash", str(CASH), "--fee", "0", "--json", str(folder / "r.json"),
            "--journal", str(folder / "j.db"), "--no-plot"]


def child_env(pycache: Path) -> dict[str, str]:
    """子进程的环境：字节码缓存写在 pycache（临时目录）里。

    为什么：这个沙盒设了 PYTHONDONTWRITEBYTECODE=1，改过的模块每次启动都从源码重新编译（约 0.1 秒），用户的机器上
    没有这回事；设 PYTHONPYCACHEPREFIX 后热身那次把全部字节码（两边的库都一样）写进临时目录，仓库里不留 .pyc。"""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def run_once(command: list[str], folder: Path, env: dict[str, str]) -> tuple[float, str]:
    """在 folder 里以环境 env 运行一次命令，返回 (墙上时间秒, 标准输出)；失败时把它的 stderr 带进异常。"""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])} ... exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    return seconds, done.stdout


def best_of(make_command, repeat: int, env: dict[str, str], final_equity=None) -> tuple[float, float | None]:
    """热身一次，再计时 repeat 次取最短；每次一个新的临时目录（make_command(目录) 给出命令）。返回 (最短秒数,
    最后一次的期末权益)；final_equity(目录, 标准输出) 在临时目录删除之前读出期末权益，缺省时为 None。"""
    best, final = float("inf"), None
    for attempt in range(repeat + 1):
        with tempfile.TemporaryDirectory() as name:
            folder = Path(name)
            seconds, output = run_once(make_command(folder), folder, env)
            if final_equity is not None:
                final = final_equity(folder, output)
        if attempt > 0:
            best = min(best, seconds)
    return best, final


def json_final_equity(folder: Path, output: str) -> float:
    """我们的命令写出的 JSON 里的期末权益。"""
    return float(json.loads((folder / "r.json").read_text(encoding="utf-8"))["metrics"]["final_equity"])


def printed_final_equity(folder: Path, output: str) -> float:
    """vectorbt 脚本最后一行打印的期末权益。"""
    return float(output.strip().splitlines()[-1])


def phases(csv: Path, repeat: int, env: dict[str, str]) -> dict[str, float]:
    """在子进程里按阶段计时命令（本脚本的 --phases-child 模式）：热身一次，再跑 repeat 次，返回整个进程最快的那一次的
    阶段名 -> 秒。解释器启动与退出由墙上时钟（time.time，跨进程可比）算出：启动 = 子进程第一行代码的时刻 - 启动进程的
    时刻，退出 = 进程结束的时刻 - 子进程打印结果的时刻。"""
    best: dict[str, float] = {"whole process": float("inf")}
    for attempt in range(repeat + 1):
        with tempfile.TemporaryDirectory() as name:
            folder = Path(name)
            command = [sys.executable, str(Path(__file__).resolve()), "--phases-child", *ours_command(csv, folder)[3:]]
            launched = time.time()
            total, output = run_once(command, folder, env)
            ended = time.time()
        measured = json.loads(output.strip().splitlines()[-1])
        # 子进程的墙上时刻与“numba 是否进了这个进程”（没有时 numba 那一行为 0）不是阶段秒数，先取出来
        wall_start, wall_end = measured.pop("wall_start"), measured.pop("wall_end")
        numba_imported = bool(measured.pop("numba_imported"))
        if attempt > 0 and total < best["whole process"]:
            inside = sum(measured[name] for name, _, _ in TIMED_FUNCTIONS if not name.startswith(" "))
            best = {**measured, "whole process": total, START_PHASE: wall_start - launched,
                    EXIT_PHASE: ended - wall_end, OTHER_PHASE: measured["command (main)"] - inside,
                    "numba imported": float(numba_imported)}
    return best


def phases_child(argv: list[str]) -> int:
    """阶段计时的子进程：导入、给命令用到的函数套上计时器、调用 main(argv)，最后一行打印各阶段秒数的 JSON。"""
    wall_start, started = time.time(), time.perf_counter()
    # 作为脚本运行时 sys.path[0] 是 bench/（里面有 engine.py、data.py 这样的名字）：换成仓库根目录，像正常的命令一样
    sys.path[0] = str(REPO)
    import importlib

    from tradeterm.cli.main import main
    seconds: dict[str, float] = {STARTUP_PHASE: time.perf_counter() - started}
    mark = time.perf_counter()
    for module in COMMAND_IMPORTS:
        importlib.import_module(module)
    seconds[IMPORT_PHASE] = time.perf_counter() - mark
    for phase, module, function in TIMED_FUNCTIONS:
        owner = importlib.import_module(module)
        setattr(owner, function, timer(seconds, phase, getattr(owner, function)))
    # 只在命令的导入已经带进 numba 时才挂监听器：本脚本自己去导入 numba 会给进程多加约 0.2 秒（命令可能根本不用它）
    numba_time = numba_lock_timer() if "numba" in sys.modules else None
    with contextlib.ExitStack() as stack:
        if numba_time is not None:
            from numba.core import event

            stack.enter_context(event.install_listener("numba:compiler_lock", numba_time))
        mark = time.perf_counter()
        code = main(argv)
        seconds["command (main)"] = time.perf_counter() - mark
    seconds[NUMBA_PHASE] = numba_time.seconds if numba_time is not None else 0.0
    print(json.dumps({**seconds, "wall_start": wall_start, "wall_end": time.time(),
                      "numba_imported": "numba" in sys.modules}))
    return code


def timer(seconds: dict[str, float], phase: str, function):
    """把 function 包成累计耗时到 seconds[phase] 的同名函数。"""
    def timed(*args, **kwargs):
        """计时地调用原函数。"""
        mark = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            seconds[phase] = seconds.get(phase, 0.0) + time.perf_counter() - mark

    return timed


def numba_lock_timer():
    """numba 事件监听器（numba.core.event 的公开 Listener 接口）：累计持有编译锁的秒数（属性 seconds）——从磁盘缓存
    载入已编译的机器码（缓存失效时则是编译）都在这把锁里。锁可重入，只计最外层。numba 在调用时才导入。"""
    from numba.core import event

    class LockTimer(event.Listener):
        """累计编译锁的持有时间。"""

        def __init__(self) -> None:
            """从 0 开始累计。"""
            # 累计秒数
            self.seconds = 0.0
            # 当前的嵌套层数
            self.depth = 0
            # 最外层进入的时刻，perf_counter 秒
            self.started = 0.0

        def on_start(self, event) -> None:
            """拿到锁（可能是嵌套的）。"""
            if self.depth == 0:
                self.started = time.perf_counter()
            self.depth += 1

        def on_end(self, event) -> None:
            """放开锁；最外层放开时累计。"""
            self.depth -= 1
            if self.depth == 0:
                self.seconds += time.perf_counter() - self.started

    return LockTimer()


def main(argv: list[str] | None = None) -> int:
    """运行基准并打印表格与一行 JSON。"""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--phases-child"]:
        return phases_child(argv[1:])
    parser = argparse.ArgumentParser(description="Whole-process `tradeterm backtest --json` vs a vectorbt script")
    parser.add_argument("--bars", type=int, default=DEFAULT_BARS, help=f"generated 1m bars (default {DEFAULT_BARS})")
    parser.add_argument("--repeat", type=int, default=REPEAT, help=f"timed runs per item, best taken (default {REPEAT})")
    parser.add_argument("--skip-vectorbt", action="store_true", help="do not run the vectorbt reference")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as name:
        generated = Path(name) / "bars.csv"
        env = child_env(Path(name) / "pycache")
        count = write_bars_csv(args.bars, generated)
        datasets = {f"{count:,} bars (generated)": generated, f"30,240 bars ({REAL_CSV.name})": REAL_CSV}
        rows: dict[str, dict[str, float]] = {}
        finals: dict[str, dict[str, float]] = {}
        breakdown: dict[str, dict[str, float]] = {}
        for label, csv in datasets.items():
            row, final = rows.setdefault(label, {}), finals.setdefault(label, {})
            row["python -c pass"], _ = best_of(lambda folder: [sys.executable, "-c", "pass"], args.repeat, env)
            row["python -c 'import numpy, pandas'"], _ = best_of(
                lambda folder: [sys.executable, "-c", "import numpy, pandas"], args.repeat, env)
            row["tradeterm backtest --json"], final["tradeterm"] = best_of(
                lambda folder: ours_command(csv, folder), args.repeat, env, json_final_equity)
            if not args.skip_vectorbt:
                row["vectorbt script"], final["vectorbt"] = best_of(
                    lambda folder: [sys.executable, "-c", VECTORBT_SCRIPT, str(csv)], args.repeat, env,
                    printed_final_equity)
            breakdown[label] = phases(csv, args.repeat, env)
    report(rows, finals, breakdown)
    return 0


def report(rows: dict[str, dict[str, float]], finals: dict[str, dict[str, float]],
           breakdown: dict[str, dict[str, float]]) -> None:
    """打印每份数据的计时表（含相对 vectorbt 的倍数）、阶段表与最后一行 JSON。"""
    ratios: dict[str, float] = {}
    for label, row in rows.items():
        print(f"\nMACross {FAST}/{SLOW}, whole process, {label} (best of the timed runs)")
        print(f"{'command':<36}{'seconds':>10}{'x vectorbt':>12}")
        reference = row.get("vectorbt script")
        for name, seconds in row.items():
            ratio = f"{seconds / reference:>12.2f}" if reference else ""
            print(f"{name:<36}{seconds:>10.3f}{ratio}")
        if reference:
            ratios[label] = row["tradeterm backtest --json"] / reference
        print("final equity: " + ", ".join(f"{k} {v:,.4f}" for k, v in finals[label].items()))
    for label, measured in breakdown.items():
        print(f"\nwhere the time goes, {label} (fastest run with timers, after a warm-up run)")
        # 各阶段（缩进的“其中”行不重复计入）之外的部分：解释器启动与退出、策略加载、参数检查、打印指标表
        measured[REST_PHASE] = measured["whole process"] - sum(
            measured.get(name, 0.0) for name in PHASE_ORDER if not name.startswith(" ")
            and name not in (REST_PHASE, "whole process"))
        for name in PHASE_ORDER:
            print(f"{name:<60}{measured.get(name, 0.0):>8.3f}")
        print(f"numba imported by the process: {'yes' if measured.get('numba imported') else 'no'}")
    for label, ratio in ratios.items():
        print(f"{label}: tradeterm / vectorbt = {ratio:.2f} (target <= 0.3)")
    print(json.dumps({"seconds": {label: {k: round(v, 4) for k, v in row.items()} for label, row in rows.items()},
                      "ratio_vs_vectorbt": {k: round(v, 3) for k, v in ratios.items()},
                      "phases": {label: {k.strip(): round(v, 4) for k, v in m.items()} for label, m in breakdown.items()},
                      "final_equity": finals}))


if __name__ == "__main__":
    sys.exit(main())
