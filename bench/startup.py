"""启动速度（脚本，不是测试）：`tradeterm --version`、`tradeterm --help` 与 `import tradeterm` 的墙上时间，
对照同一次运行里量的“空的 Python 进程”（python -c pass）。每项跑 REPEAT 次取中位数；最后打印一张表和一行 JSON。

用法：python bench/startup.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

# 仓库根目录（命令在这里运行）
REPO = Path(__file__).resolve().parents[1]
# 默认每项的重复次数
REPEAT = 7
# 被量的命令：(名字, 参数)；第一项是参照
CASES = (
    ("python -c pass (reference)", [sys.executable, "-c", "pass"]),
    ("import tradeterm", [sys.executable, "-c", "import tradeterm"]),
    ("tradeterm --version", [sys.executable, "-m", "tradeterm.cli.main", "--version"]),
    ("tradeterm --help", [sys.executable, "-m", "tradeterm.cli.main", "--help"]),
)


def timed(command: list[str]) -> float:
    """运行一次命令（输出丢弃），返回墙上时间，秒。"""
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    """量每一项、打印表与 JSON。"""
    parser = argparse.ArgumentParser(description="Measure tradeterm start-up times.")
    parser.add_argument("--repeat", type=int, default=REPEAT, help=f"runs per case (default {REPEAT})")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat: {args.repeat} is below 1; use 1 or more runs")
    medians = {name: statistics.median(timed(command) for _ in range(args.repeat)) for name, command in CASES}
    reference = medians[CASES[0][0]]
    print(f"{'case':<30} {'median s':>9} {'x reference':>12}")
    print("-" * 53)
    for name, seconds in medians.items():
        print(f"{name:<30} {seconds:>9.3f} {seconds / reference:>12.1f}")
    print(json.dumps({"repeat": args.repeat, "median_s": {k: round(v, 4) for k, v in medians.items()},
                      "ratio_to_reference": {k: round(v / reference, 2) for k, v in medians.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
