"""在人为的 CPU 负载下跑测试套件（脚本，不是测试）：证明测试不依赖机器快慢。

做法：先起 N 个（默认 2 个）纯 Python 死循环的忙进程（multiprocessing，各占满一个核），再在它们运行期间跑
`python -m pytest -q -p no:cacheprovider [参数...]`，跑完杀掉忙进程。运行期间每秒采样一次 1 分钟负载均值
（os.getloadavg），最后打印一张表（忙进程数、看到的负载均值、通过/失败/出错/跳过的测试数、耗时）和一行 JSON。
pytest 的输出照常打印到终端；退出码与 pytest 相同（0 表示全部通过）。

用法：python bench/suite_under_load.py [--busy 2] [--repeat 1] [pytest 参数...]
例：python bench/suite_under_load.py tests/engine/test_kill_restart.py tests/tui
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

# 仓库根目录（pytest 在这里运行）
REPO = Path(__file__).resolve().parents[1]
# 默认的忙进程数
DEFAULT_BUSY = 2
# 负载均值的采样间隔，秒
SAMPLE_S = 1.0
# pytest 结尾摘要里各类结果的名字（"3 passed, 1 failed in 12.3s"）
OUTCOMES = ("passed", "failed", "errors", "error", "skipped", "xfailed", "xpassed")


def die_with_parent() -> None:
    """Linux 上让本进程在父进程死掉时收到 SIGKILL（prctl PR_SET_PDEATHSIG）。

    为什么：脚本被 kill（而不是正常结束）时 multiprocessing 的守护进程不会被清理，忙进程会一直占着 CPU——上一次会话的
    负载运行里看到的“别的进程也在争用 CPU”（负载均值 5 以上），正是之前被中断的运行留下的忙进程。"""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    PR_SET_PDEATHSIG = 1  # prctl 的选项号（linux/prctl.h）
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def burn() -> None:
    """忙进程的主体：纯 Python 死循环，一直占着一个核，直到被杀掉（父进程死掉时一起死）。"""
    die_with_parent()
    x = 0
    while True:
        x = (x * 1_103_515_245 + 12_345) & 0x7FFFFFFF


def start_busy(count: int) -> list[multiprocessing.Process]:
    """起 count 个忙进程（守护进程：脚本意外退出时也不会留下）。"""
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=burn, name=f"busy-{k}", daemon=True) for k in range(count)]
    for worker in workers:
        worker.start()
    return workers


def stop_busy(workers: list[multiprocessing.Process]) -> None:
    """按进程号逐个杀掉本脚本起的忙进程，并等它们退出。"""
    for worker in workers:
        worker.kill()
    for worker in workers:
        worker.join(10)


class LoadSampler:
    """后台线程：每 SAMPLE_S 秒记一次 1 分钟负载均值，给出最大值与平均值。"""

    def __init__(self) -> None:
        """开始前没有样本。"""
        # 采到的 1 分钟负载均值
        self.samples: list[float] = []
        # 通知线程停止
        self._stop = threading.Event()
        # 采样线程
        self._thread = threading.Thread(target=self._run, name="loadavg", daemon=True)

    def _run(self) -> None:
        """采样循环。"""
        while not self._stop.wait(SAMPLE_S):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self) -> "LoadSampler":
        """开始采样。"""
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        """停止采样。"""
        self._stop.set()
        self._thread.join()

    @property
    def peak(self) -> float:
        """看到的最大 1 分钟负载均值（没有样本时取此刻的值）。"""
        return max(self.samples) if self.samples else os.getloadavg()[0]

    @property
    def mean(self) -> float:
        """1 分钟负载均值的平均值。"""
        return sum(self.samples) / len(self.samples) if self.samples else os.getloadavg()[0]


def parse_summary(output: str) -> dict[str, int]:
    """从 pytest 输出的最后一行摘要里读出各类结果的个数（没有的为 0）。"""
    counts = dict.fromkeys(("passed", "failed", "errors", "skipped", "xfailed", "xpassed"), 0)
    lines = [line for line in output.splitlines() if re.search(r"\b(passed|failed|error|errors|skipped)\b", line)]
    if not lines:
        return counts
    for number, name in re.findall(r"(\d+) (" + "|".join(OUTCOMES) + r")\b", lines[-1]):
        counts["errors" if name == "error" else name] += int(number)
    return counts


def run_once(busy: int, pytest_args: list[str]) -> dict:
    """起忙进程、跑一次 pytest（输出同时打到终端）、杀掉忙进程；返回这一次的结果。"""
    workers = start_busy(busy)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *pytest_args]
    started = time.monotonic()
    chunks: list[str] = []
    try:
        with LoadSampler() as sampler:
            process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       text=True, bufsize=1)
            assert process.stdout is not None
            for line in process.stdout:
                sys.stdout.write(line)
                chunks.append(line)
            returncode = process.wait()
    finally:
        if "process" in locals() and process.poll() is None:
            process.kill()  # 脚本被中断（SIGTERM、Ctrl-C）：pytest 子进程不留下
        stop_busy(workers)
    duration = time.monotonic() - started
    counts = parse_summary("".join(chunks))
    return {"busy": busy, "load_peak": round(sampler.peak, 2), "load_mean": round(sampler.mean, 2),
            "returncode": returncode, "duration_s": round(duration, 1), **counts}


def print_table(results: list[dict]) -> None:
    """打印结果表：每次运行一行。"""
    header = f"{'run':>3}  {'busy':>4}  {'load peak':>9}  {'load mean':>9}  {'passed':>6}  {'failed':>6}  " \
             f"{'errors':>6}  {'skipped':>7}  {'duration s':>10}  {'rc':>3}"
    print()
    print(header)
    print("-" * len(header))
    for k, r in enumerate(results, 1):
        print(f"{k:>3}  {r['busy']:>4}  {r['load_peak']:>9.2f}  {r['load_mean']:>9.2f}  {r['passed']:>6}  "
              f"{r['failed']:>6}  {r['errors']:>6}  {r['skipped']:>7}  {r['duration_s']:>10.1f}  "
              f"{r['returncode']:>3}")


def main(argv: list[str] | None = None) -> int:
    """解析参数，按 --repeat 次数在负载下跑套件，打印表与 JSON；退出码为最后一个失败运行的 pytest 退出码（全过为 0）。"""
    parser = argparse.ArgumentParser(description="Run the test suite while N CPU-bound busy processes run.")
    parser.add_argument("--busy", type=int, default=DEFAULT_BUSY,
                        help=f"number of CPU-bound busy processes (default {DEFAULT_BUSY})")
    parser.add_argument("--repeat", type=int, default=1, help="run the suite this many times in a row (default 1)")
    args, pytest_args = parser.parse_known_args(argv)
    if args.busy < 0:
        parser.error(f"--busy: {args.busy} is negative; use 0 or more busy processes, like 2")
    if args.repeat < 1:
        parser.error(f"--repeat: {args.repeat} is below 1; use 1 or more runs")
    # SIGTERM（kill、CI 超时）当作退出：run_once 的 finally 照样杀掉忙进程与 pytest 子进程
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    results = [run_once(args.busy, pytest_args) for _ in range(args.repeat)]
    print_table(results)
    summary = {"busy": args.busy, "runs": results, "pytest_args": pytest_args,
               "all_passed": all(r["returncode"] == 0 for r in results)}
    print(json.dumps(summary))
    failing = [r["returncode"] for r in results if r["returncode"] != 0]
    return failing[-1] if failing else 0


if __name__ == "__main__":
    sys.exit(main())
