"""交易引擎基准（脚本，不是测试）：模拟盘模式下许多实例（默认 100 个、50 个交易对），连接沙盒交易所运行一段时间。

默认沙盒在独立子进程里运行（`tradeterm sandbox --port 0 ...`），本进程只跑引擎，测得的 CPU 与内存只属于引擎；
--in-process 时沙盒与引擎共用本进程（内存与 CPU 都包含沙盒，延迟也会被沙盒的节拍任务拖长）。
交易对为合成行情 S00/USDT, S01/USDT, ...（起始价约 100 USDT，最小名义金额 5 USDT）。每个交易对上的实例依次取自
Flip（tests/engine/plugins，每 period 根 K 线进出一次，保证真的下单）、MACross、MACDStrategy、MeanReversion、
MomentumStrategy（strategies/）：
- 默认 --instances 100：50 个交易对，每个 Flip + MACross（与 issue 13 的测量相同）；
- --instances 1000：200 个交易对，每个交易对五个实例（上面五个策略各一个）。
仓位为 fixed_notional（默认每笔 20 USDT）；沙盒账户 10,000 USDT，100 个实例可以同时持有全部仓位，1,000 个实例时
同时持仓的主要是 Flip（约一半时间持仓），其余策略信号稀疏，资金同样够用（拒绝数在表里）。

引擎启动（加载市场、预热）后先等每个实例都收到第一根实时收盘 K 线（ccxt 逐个订阅，约十几秒），再测量 --seconds 秒：
- “K 线收盘到订单发出”的延迟（TraderEngine.latencies_ms：收到收盘 K 线 -> 即将把订单交给 OrderManager），p50/p99/max；
  另按实例在其交易对上的序号分开统计（同一交易对的实例由引擎逐个处理，后面的要等前面的下单 await 完）；
- 每个实例每根收盘 K 线的决定（FeedRunner.decide：追加 K 线 + 策略信号 + 下单意图）的耗时；
- 参照（同一次运行、同样的窗口上当场测）：测量结束时对每个实例各测一次两条信号路径——逐根路径（新建同参数的策略，
  用它的窗口建立状态，再对最后一根 update，即实盘每根的策略代价）与窗口重算（on_data(窗口 DataFrame)，
  即没有逐根形式的插件、也是改动之前的实盘路径），报告两者的 p50 / p99 与倍数；
- 处理的收盘 K 线数（Bot.add_bar 接受的）、信号 / 订单 / 成交 / 拒绝数（订阅事件总线计数，与界面订阅的方式相同）；
- 每秒事件数（TraderEngine.events_published 的增量 / 秒）；
- 本进程的峰值常驻内存（ru_maxrss，含启动期间）与 CPU 时间；沙盒子进程的峰值内存（/proc/<pid>/status 的 VmHWM）。
计时与计数的钩子只包一层原方法（Probe），不改变引擎行为。
目标（issue 13）：100 个实例 p99 < 1 ms、峰值内存 < 500 MB；1,000 个实例（200 个交易对）p99 < 20 ms、峰值内存 < 1 GB。
--windowed 时所有策略都走窗口重算的后备路径（改动之前的实盘路径），用来在同一台机器上对照端到端的延迟。
--profile 时用 cProfile 记录测量期间，并打印最耗时的函数。

用法：.venv/bin/python bench/engine.py [--instances 100] [--seconds 30] [--speed 60] [--in-process] [--windowed]
[--profile]。输出一张表，最后一行是 JSON。
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import pstats
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml

from engine_probe import (Probe, cpu_seconds, peak_rss_mb, reference_costs,  # noqa: E402  （同目录：测量钩子）
                          summary, windowed_only)
from tradeterm.config import load_config
from tradeterm.engine.factory import open_engine

# 仓库根目录
ROOT = Path(__file__).resolve().parents[1]
# 策略目录：内置策略与引擎测试插件（Flip）
STRATEGY_DIRS = (ROOT / "strategies", ROOT / "tests" / "engine" / "plugins")
# 以下三个默认值都是 (实例数不超过 SMALL_RUN 时, 更多时)。
# 默认测量时长，秒
DEFAULT_SECONDS = (30.0, 60.0)
# 启动后等全部实例收到实时 K 线的最长时间，秒（两百个交易对逐个订阅要一两分钟）
DEFAULT_SETTLE = (60.0, 240.0)
# 默认沙盒回放倍速：60 为每个交易对每秒收盘一根 1 分钟 K 线，6 为每 10 秒一根。两百个交易对时用 6：独立进程的沙盒
# 按真实交易所对待，ccxt 的 REST 限流（约每秒 10 次 K 线请求）保留着，启动后的补缺口要对每个交易对各取一次，
# 60 倍速下补完之前每个交易对又落后了十几根、再补又落后（订阅一直陈旧，风控拒绝开仓）；6 倍速下一轮补取就追上
DEFAULT_SPEED = (60.0, 6.0)
# 默认实例数
DEFAULT_INSTANCES = 100
# 实例数不超过 SMALL_RUN 时每个交易对两个实例（Flip + MACross），更多时每个交易对五个（ROSTER 全部）
SMALL_RUN = 100
# 一个交易对上的实例依次取用的策略：(实例名前缀, 策略类, 参数)
ROSTER = (("flip", "Flip", {"period": 4}), ("macross", "MACross", {"fast": 5, "slow": 20}),
          ("macd", "MACDStrategy", {}), ("meanrev", "MeanReversion", {}), ("momentum", "MomentumStrategy", {}))
# 实例数的上限
MAX_INSTANCES = 2500
# 默认每笔开仓的名义金额，USDT（合成行情的最小名义金额为 5 USDT）
DEFAULT_NOTIONAL = 20.0
# 目标（issue 13），按实例数分档：(实例数上限, p99 上限毫秒, 峰值常驻内存上限 MB)；取第一个实例数上限不小于本次的档
TARGETS = ((100, 1.0, 500.0), (1000, 20.0, 1024.0))
# 等待沙盒子进程打印地址的最长时间，秒
SANDBOX_START_TIMEOUT_S = 60.0
# --profile 时打印的函数条数
PROFILE_ROWS = 25


def symbols(count: int) -> list[str]:
    """合成交易对 S00/USDT, S01/USDT, ...。"""
    return [f"S{k:02d}/USDT" for k in range(count)]


def layout(instances: int) -> tuple[int, int]:
    """实例数 -> (交易对数, 每个交易对的实例数)：不超过 SMALL_RUN 时每个交易对 2 个，否则 len(ROSTER) 个。"""
    per_symbol = 2 if instances <= SMALL_RUN else len(ROSTER)
    return -(-instances // per_symbol), per_symbol


def targets(instances: int) -> tuple[float, float]:
    """本次实例数对应的目标：(p99 上限毫秒, 峰值常驻内存上限 MB)。"""
    for limit, p99, rss in TARGETS:
        if instances <= limit:
            return p99, rss
    return TARGETS[-1][1], TARGETS[-1][2]


def write_config(folder: Path, url: str | None, names: list[str], count: int, notional: float, speed: float):
    """在 folder 里写 config.yml（日志库也在 folder），count 个实例按 ROSTER 轮流分到各交易对上；返回校验后的 AppConfig。
    url 为 None 时用进程内沙盒。"""
    instances = []
    per_symbol = layout(count)[1]
    for k in range(count):
        symbol = names[k // per_symbol]
        prefix, class_name, params = ROSTER[k % per_symbol]
        instances.append({"name": f"{prefix}_{symbol.split('/')[0].lower()}", "symbol": symbol, "interval": "1m",
                          "class": class_name, "params": dict(params)})
    exchange = {"sandbox": True, "sandbox_speed": speed}
    if url is not None:
        exchange["sandbox_url"] = url
    data = {"mode": "paper", "exchange": exchange, "fees": {"maker": 0.001, "taker": 0.001},
            "sizing": {"method": "fixed_notional", "notional": notional},
            "journal": {"path": str(folder / "journal.db")},
            "strategy_dirs": [str(d) for d in STRATEGY_DIRS], "strategies": instances}
    path = folder / "config.yml"
    path.write_text(yaml.safe_dump(data))
    return load_config(path)


def start_sandbox(names: list[str], speed: float) -> tuple[subprocess.Popen, str]:
    """在子进程里启动 `tradeterm sandbox --port 0`，读它打印的地址；返回 (进程, 地址)。"""
    command = [sys.executable, "-u", "-c", "import sys; from tradeterm.cli.main import main; sys.exit(main())",
               "sandbox", "--port", "0", "--speed", str(speed), "--symbols", *names]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    deadline = time.monotonic() + SANDBOX_START_TIMEOUT_S
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        found = re.search(r"listening on (http://\S+)", line)
        if found:
            return process, found.group(1)
    process.kill()
    raise RuntimeError("the sandbox subprocess did not print its URL")


async def count_events(subscription, counts: Counter) -> None:
    """按种类数事件总线上的事件（像界面一样订阅）。"""
    async for event in subscription:
        counts[event.kind.value] += 1


async def run(args: argparse.Namespace) -> dict:
    """启动沙盒与引擎，等全部实例都收到实时 K 线，再测量 args.seconds 秒，返回结果字典。"""
    names = symbols(layout(args.instances)[0])
    process, url = (None, None) if args.in_process else start_sandbox(names, args.speed)
    probe, profiler = Probe(), None
    probe.install()
    restore = windowed_only() if args.windowed else (lambda: None)
    try:
        with tempfile.TemporaryDirectory() as folder:
            config = write_config(Path(folder), url, names, args.instances, args.notional, args.speed)
            started = time.perf_counter()
            handle = await open_engine(config)
            startup = time.perf_counter() - started
            engine = handle.engine
            try:
                probe.attach(engine)
                counts: Counter = Counter()
                subscription = engine.bus.subscribe(maxsize=1_000_000)
                counter = asyncio.create_task(count_events(subscription, counts))
                # ccxt 逐个订阅 K 线流，全部实例收到第一根实时收盘 K 线要等一会儿；之前的不计入测量
                started = time.perf_counter()
                while len(probe.live) < len(engine.bots) and time.perf_counter() - started < args.settle:
                    await asyncio.sleep(0.1)
                settle, live = time.perf_counter() - started, len(probe.live)
                probe.reset()
                counts.clear()
                events0, cpu0 = engine.events_published, cpu_seconds()
                profiler = cProfile.Profile() if args.profile else None
                t0 = time.perf_counter()
                if profiler is not None:
                    profiler.enable()
                await asyncio.sleep(args.seconds)
                if profiler is not None:
                    profiler.disable()
                elapsed = time.perf_counter() - t0
                cpu = cpu_seconds() - cpu0
                events = engine.events_published - events0
                bars = probe.bars
                tagged = list(probe.tagged)
                counter.cancel()
                await asyncio.gather(counter, return_exceptions=True)
                subscription.close()
                statuses = Counter(b.state.status.value for b in engine.bots.values())
                reference = reference_costs(list(engine.bots.values()))
                sandbox_rss = peak_rss_mb(process.pid) if process is not None else None
            finally:
                await handle.close()
    finally:
        probe.uninstall()
        restore()
        if process is not None:
            process.terminate()
            process.wait(timeout=10)
    latencies = [value for value, _ in tagged]
    first = [value for value, position in tagged if position == 0]
    later = [value for value, position in tagged if position > 0]
    result = {
        "instances": len(engine.bots), "symbols": len(names), "speed": args.speed,
        "sandbox": "in-process" if args.in_process else "subprocess", "seconds": round(elapsed, 2),
        "startup_seconds": round(startup, 2), "settle_seconds": round(settle, 2), "live_instances": live,
        "bars_processed": bars, "signals": counts["signal"], "orders_sent": len(latencies), "fills": counts["fill"],
        "rejections": counts["rejection"], "errors": counts["error"], "instance_status": dict(statuses),
        "latency_ms": summary(latencies),
        "latency_ms_first_instance_on_symbol": summary(first),
        "latency_ms_later_instances_on_symbol": summary(later),
        "path": "windowed" if args.windowed else "incremental",
        "decide_ms": summary(probe.decide_ms), "reference": reference,
        "events_per_second": round(events / elapsed, 1), "events": events,
        "cpu_seconds": round(cpu, 2), "cpu_share": round(cpu / elapsed, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "sandbox_peak_rss_mb": round(sandbox_rss, 1) if sandbox_rss is not None else None,
    }
    p99, (target_p99, target_rss) = result["latency_ms"]["p99"], targets(len(engine.bots))
    incremental, windowed = (reference[k]["p50"] for k in ("incremental_ms", "window_recompute_ms"))
    result["reference"]["window_recompute_over_incremental_p50"] = (
        round(windowed / incremental, 1) if incremental and windowed else None)
    result["targets"] = {"p99_ms": target_p99, "p99_met": p99 is not None and p99 < target_p99,
                         "peak_rss_mb": target_rss, "peak_rss_met": result["peak_rss_mb"] < target_rss}
    if profiler is not None:
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(PROFILE_ROWS)
        result["_profile"] = text.getvalue()
    return result


def print_table(result: dict) -> None:
    """打印结果表（英文）。"""
    latency, decide, reference = result["latency_ms"], result["decide_ms"], result["reference"]
    incremental, windowed = reference["incremental_ms"], reference["window_recompute_ms"]
    goals = result["targets"]
    met = {True: "met", False: "NOT met"}
    where = ("sandbox in this process (memory and CPU include it)" if result["sandbox"] == "in-process"
             else "sandbox in a separate process")
    path = ("every strategy forced onto the window recompute (--windowed)" if result["path"] == "windowed"
            else "incremental strategies updated bar by bar")
    print(f"{result['instances']} instances on {result['symbols']} symbols, paper mode, {where}, "
          f"speed x{result['speed']:g}, {path}; measured {result['seconds']:.1f} s after a "
          f"{result['startup_seconds']:.1f} s start-up and {result['settle_seconds']:.1f} s until "
          f"{result['live_instances']} instances had live bars")
    first, later = result["latency_ms_first_instance_on_symbol"], result["latency_ms_later_instances_on_symbol"]
    ratio = reference["window_recompute_over_incremental_p50"]
    rows = [
        ("bar close -> order sent p50", f"{latency['p50']} ms  ({latency['count']:,} orders)"),
        ("bar close -> order sent p99", f"{latency['p99']} ms  (target < {goals['p99_ms']:g} ms: "
                                        f"{met[goals['p99_met']]})"),
        ("bar close -> order sent max", f"{latency['max']} ms"),
        ("  1st instance on its symbol p50/p99", f"{first['p50']} / {first['p99']} ms  ({first['count']:,} orders)"),
        ("  later instances on it p50/p99", f"{later['p50']} / {later['p99']} ms  ({later['count']:,} orders)"),
        ("decide() per instance per bar p50/p99", f"{decide['p50']} / {decide['p99']} ms  "
                                                  f"({decide['count']:,} calls)"),
        ("strategy per bar, incremental p50/p99", f"{incremental['p50']} / {incremental['p99']} ms  "
                                                  f"(reference, same windows, same run)"),
        ("strategy per bar, window recompute", f"{windowed['p50']} / {windowed['p99']} ms  "
                                               f"(= {ratio}x the incremental p50)"),
        ("closed bars processed", f"{result['bars_processed']:,}  "
                                  f"({result['bars_processed'] / result['seconds']:,.0f} bars/s)"),
        ("signals / orders sent / fills", f"{result['signals']:,} / {result['orders_sent']:,} / {result['fills']:,}"),
        ("rejections / errors", f"{result['rejections']:,} / {result['errors']:,}"),
        ("events published", f"{result['events']:,}  ({result['events_per_second']:,.0f} events/s)"),
        ("engine CPU time", f"{result['cpu_seconds']:.2f} s  ({100 * result['cpu_share']:.0f}% of one core)"),
        ("peak RSS (this process)", f"{result['peak_rss_mb']:.1f} MB  (target < {goals['peak_rss_mb']:g} MB: "
                                    f"{met[goals['peak_rss_met']]})"),
    ]
    if result["sandbox_peak_rss_mb"] is not None:
        rows.append(("peak RSS (sandbox process)", f"{result['sandbox_peak_rss_mb']:.1f} MB"))
    rows.append(("instance status at the end", ", ".join(f"{k} {v}" for k, v in result["instance_status"].items())))
    width = max(len(name) for name, _ in rows) + 2
    for name, value in rows:
        print(f"{name:<{width}}{value}")


def main(argv: list[str] | None = None) -> int:
    """解析参数、运行基准，打印表格与一行 JSON。"""
    parser = argparse.ArgumentParser(description="Trading engine benchmark: paper instances on sandbox symbols "
                                                 "(default 100 on 50); latency from candle close to order sent, "
                                                 "events/s, memory")
    parser.add_argument("--instances", type=int, default=DEFAULT_INSTANCES,
                        help=f"number of instances: up to {SMALL_RUN} two per symbol (Flip, MACross), more five per "
                             f"symbol (Flip and the four built-in strategies); default {DEFAULT_INSTANCES}")
    parser.add_argument("--seconds", type=float, default=None,
                        help=f"measurement time after start-up (default {DEFAULT_SECONDS[0]:g}, "
                             f"{DEFAULT_SECONDS[1]:g} above {SMALL_RUN} instances)")
    parser.add_argument("--speed", type=float, default=None,
                        help=f"sandbox replay speed; 60 = one 1m bar per second per symbol (default "
                             f"{DEFAULT_SPEED[0]:g}, {DEFAULT_SPEED[1]:g} above {SMALL_RUN} instances)")
    parser.add_argument("--notional", type=float, default=DEFAULT_NOTIONAL,
                        help=f"fixed notional per entry in USDT (default {DEFAULT_NOTIONAL:g})")
    parser.add_argument("--settle", type=float, default=None,
                        help=f"max seconds to wait for every instance to get live bars before measuring "
                             f"(default {DEFAULT_SETTLE[0]:g}, {DEFAULT_SETTLE[1]:g} above {SMALL_RUN} instances)")
    parser.add_argument("--in-process", action="store_true",
                        help="run the sandbox inside this process (simpler, but inflates memory, CPU and latency)")
    parser.add_argument("--windowed", action="store_true",
                        help="force every strategy onto the window recompute (the live path before incremental "
                             "strategies) to compare end to end")
    parser.add_argument("--profile", action="store_true", help="cProfile the measured period and print the top "
                                                               "functions by cumulative time")
    args = parser.parse_args(argv)
    if not 1 <= args.instances <= MAX_INSTANCES:
        parser.error(f"--instances {args.instances}: must be between 1 and {MAX_INSTANCES}")
    large = int(args.instances > SMALL_RUN)
    for name, defaults in (("seconds", DEFAULT_SECONDS), ("speed", DEFAULT_SPEED), ("settle", DEFAULT_SETTLE)):
        if getattr(args, name) is None:
            setattr(args, name, defaults[large])
    result = asyncio.run(run(args))
    profile = result.pop("_profile", None)
    if profile:
        print(profile)
    print_table(result)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
