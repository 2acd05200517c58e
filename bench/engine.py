"""交易引擎基准（脚本，不是测试）：模拟盘模式下 100 个实例、50 个交易对，连接沙盒交易所运行一段时间。

默认沙盒在独立子进程里运行（`tradeterm sandbox --port 0 ...`），本进程只跑引擎，测得的 CPU 与内存只属于引擎；
--in-process 时沙盒与引擎共用本进程（内存与 CPU 都包含沙盒，延迟也会被沙盒的节拍任务拖长）。
交易对为合成行情 S00/USDT..S49/USDT（起始价约 100 USDT，最小名义金额 5 USDT），每个交易对两个实例：
Flip（tests/engine/plugins，每 period 根 K 线进出一次，保证真的下单）与 MACross（strategies/，fast/slow 均线交叉）。
仓位为 fixed_notional（默认每笔 20 USDT），10,000 USDT 的账户可以同时持有全部实例的仓位。

引擎启动（加载市场、预热）后先等每个实例都收到第一根实时收盘 K 线（ccxt 逐个订阅，约十几秒），再测量 --seconds 秒：
- “K 线收盘到订单发出”的延迟（TraderEngine.latencies_ms：收到收盘 K 线 -> 即将把订单交给 OrderManager），p50/p99/max；
  另按实例在其交易对上的序号分开统计（同一交易对的实例由引擎逐个处理，后面的要等前面的下单 await 完）；
- 策略 signals()（Bot.signals，即窗口 -> DataFrame -> 指标 -> 信号）每次调用的耗时；
- 处理的收盘 K 线数（Bot.add_bar 接受的）、信号 / 订单 / 成交 / 拒绝数（订阅事件总线计数，与界面订阅的方式相同）；
- 每秒事件数（TraderEngine.events_published 的增量 / 秒）；
- 本进程的峰值常驻内存（ru_maxrss，含启动期间）与 CPU 时间；沙盒子进程的峰值内存（/proc/<pid>/status 的 VmHWM）。
计时与计数的钩子只包一层原方法（Probe），不改变引擎行为。
目标：p99 < 5 ms（引擎内部），峰值内存 < 500 MB。--profile 时用 cProfile 记录测量期间，并打印最耗时的函数。

用法：.venv/bin/python bench/engine.py [--seconds 30] [--speed 60] [--in-process] [--profile]
输出一张表，最后一行是 JSON。
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import pstats
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter, deque
from pathlib import Path

import yaml

from tradeterm.config import load_config
from tradeterm.engine.bot import Bot
from tradeterm.engine.factory import open_engine

# 仓库根目录
ROOT = Path(__file__).resolve().parents[1]
# 策略目录：内置策略（MACross）与引擎测试插件（Flip）
STRATEGY_DIRS = (ROOT / "strategies", ROOT / "tests" / "engine" / "plugins")
# 默认测量时长，秒
DEFAULT_SECONDS = 30.0
# 启动后等全部实例收到实时 K 线的最长时间，秒
DEFAULT_SETTLE = 60.0
# 默认沙盒回放倍速：60 为每秒一根 1 分钟 K 线（每个交易对）
DEFAULT_SPEED = 60.0
# 默认交易对数
DEFAULT_SYMBOLS = 50
# 每个交易对的实例数（Flip + MACross）
INSTANCES_PER_SYMBOL = 2
# 默认每笔开仓的名义金额，USDT（合成行情的最小名义金额为 5 USDT）
DEFAULT_NOTIONAL = 20.0
# Flip 的进出周期，K 线根数
FLIP_PERIOD = 4
# MACross 的快慢均线周期，K 线根数
MA_FAST, MA_SLOW = 5, 20
# 延迟目标：p99 上限，毫秒
TARGET_P99_MS = 5.0
# 内存目标：峰值常驻内存上限，MB
TARGET_RSS_MB = 500.0
# 等待沙盒子进程打印地址的最长时间，秒
SANDBOX_START_TIMEOUT_S = 60.0
# --profile 时打印的函数条数
PROFILE_ROWS = 25


def symbols(count: int) -> list[str]:
    """合成交易对 S00/USDT, S01/USDT, ...。"""
    return [f"S{k:02d}/USDT" for k in range(count)]


def write_config(folder: Path, url: str | None, names: list[str], notional: float, speed: float):
    """在 folder 里写 config.yml（日志库也在 folder），返回校验后的 AppConfig。url 为 None 时用进程内沙盒。"""
    instances = []
    for symbol in names:
        tag = symbol.split("/")[0].lower()
        instances.append({"name": f"flip_{tag}", "symbol": symbol, "interval": "1m", "class": "Flip",
                          "params": {"period": FLIP_PERIOD}})
        instances.append({"name": f"macross_{tag}", "symbol": symbol, "interval": "1m", "class": "MACross",
                          "params": {"fast": MA_FAST, "slow": MA_SLOW}})
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


def peak_rss_mb(pid: int | None = None) -> float:
    """峰值常驻内存，MB：本进程用 ru_maxrss（Linux 上单位为 KB），子进程读 /proc/<pid>/status 的 VmHWM。"""
    if pid is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return float("nan")
    found = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(found.group(1)) / 1024 if found else float("nan")


def cpu_seconds() -> float:
    """本进程到目前为止的 CPU 时间（用户 + 系统），秒。"""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(values: list[float], q: float) -> float | None:
    """最近秩分位数（与 TraderEngine.snapshot 相同的取法）；没有样本时为 None。"""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * q), len(ordered) - 1)]


class Probe:
    """测量用的钩子：给 Bot.signals 计时、数 Bot.add_bar 接受的收盘 K 线、给延迟样本标上实例在其交易对上的序号。

    引擎在一个 (交易对, 周期) 的收盘 K 线上按配置顺序逐个处理实例，并且 await 完前一个实例的下单才处理下一个，
    所以按序号分开统计延迟能看出排在后面的实例等了多久。
    """

    def __init__(self) -> None:
        """创建空的计数器（install 之后才生效）。"""
        # Bot.signals 每次调用的耗时，毫秒
        self.signal_ms: list[float] = []
        # 被接受的收盘 K 线数（全部实例合计）
        self.bars = 0
        # 收到过实时收盘 K 线的实例名
        self.live: set[str] = set()
        # 延迟样本：(毫秒, 实例在其交易对上的序号，0 为第一个)
        self.tagged: list[tuple[float, int]] = []
        # 正在下单的实例在其交易对上的序号（Executor.prepare 进入时设置，延迟样本追加时读取）
        self.position = 0
        # 实例名 -> 在其交易对上的序号
        self.order_in_symbol: dict[str, int] = {}
        # 安装前的原方法：(类, 方法名, 原函数)
        self._originals: list[tuple[type, str, object]] = []

    def install(self) -> None:
        """替换 Bot.signals、Bot.add_bar 与 Executor.prepare（只加计时与计数，行为不变）。"""
        from tradeterm.engine.execution import Executor

        probe = self
        signals, add_bar, prepare = Bot.signals, Bot.add_bar, Executor.prepare

        def timed_signals(self: Bot):
            """计时版 Bot.signals。"""
            started = time.perf_counter()
            try:
                return signals(self)
            finally:
                probe.signal_ms.append((time.perf_counter() - started) * 1000)

        def counted_add_bar(self: Bot, row: list[float]) -> bool:
            """计数版 Bot.add_bar。"""
            accepted = add_bar(self, row)
            if accepted:
                probe.bars += 1
                probe.live.add(self.name)
            return accepted

        def tagged_prepare(self, bot: Bot, intent, received):
            """记下下单实例的序号，再调用原来的 prepare（它在同步代码里追加延迟样本）。"""
            probe.position = probe.order_in_symbol.get(bot.name, 0)
            return prepare(self, bot, intent, received)

        self._originals = [(Bot, "signals", signals), (Bot, "add_bar", add_bar),
                           (Executor, "prepare", prepare)]
        Bot.signals, Bot.add_bar, Executor.prepare = timed_signals, counted_add_bar, tagged_prepare

    def uninstall(self) -> None:
        """恢复原方法。"""
        for owner, name, function in self._originals:
            setattr(owner, name, function)
        self._originals = []

    def attach(self, engine) -> None:
        """按引擎的实例顺序算出每个实例在其交易对上的序号，并把延迟样本换成带序号、不设上限的容器。"""
        seen: Counter = Counter()
        for bot in engine.bots.values():
            self.order_in_symbol[bot.name] = seen[bot.symbol]
            seen[bot.symbol] += 1
        engine.latencies_ms = TaggedLatencies(self)

    def reset(self) -> None:
        """清掉预热期间的样本（测量从此刻开始）。"""
        self.signal_ms.clear()
        self.tagged.clear()
        self.bars = 0


class TaggedLatencies(deque):
    """不设上限的延迟样本容器：引擎每追加一个样本，同时按当前下单实例的序号记一份。"""

    def __init__(self, probe: Probe):
        """probe 提供当前下单实例的序号。"""
        super().__init__()
        # 所属的测量钩子
        self.probe = probe

    def append(self, value: float) -> None:
        """追加一个样本（毫秒）。"""
        super().append(value)
        self.probe.tagged.append((value, self.probe.position))


async def count_events(subscription, counts: Counter) -> None:
    """按种类数事件总线上的事件（像界面一样订阅）。"""
    async for event in subscription:
        counts[event.kind.value] += 1


async def run(args: argparse.Namespace) -> dict:
    """启动沙盒与引擎，等全部实例都收到实时 K 线，再测量 args.seconds 秒，返回结果字典。"""
    names = symbols(args.symbols)
    process, url = (None, None) if args.in_process else start_sandbox(names, args.speed)
    probe, profiler = Probe(), None
    probe.install()
    try:
        with tempfile.TemporaryDirectory() as folder:
            config = write_config(Path(folder), url, names, args.notional, args.speed)
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
                sandbox_rss = peak_rss_mb(process.pid) if process is not None else None
            finally:
                await handle.close()
    finally:
        probe.uninstall()
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
        "latency_ms": _summary(latencies),
        "latency_ms_first_instance_on_symbol": _summary(first),
        "latency_ms_later_instances_on_symbol": _summary(later),
        "signals_call_ms": _summary(probe.signal_ms),
        "events_per_second": round(events / elapsed, 1), "events": events,
        "cpu_seconds": round(cpu, 2), "cpu_share": round(cpu / elapsed, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "sandbox_peak_rss_mb": round(sandbox_rss, 1) if sandbox_rss is not None else None,
    }
    p99 = result["latency_ms"]["p99"]
    result["targets"] = {"p99_under_5ms": p99 is not None and p99 < TARGET_P99_MS,
                         "peak_rss_under_500mb": result["peak_rss_mb"] < TARGET_RSS_MB}
    if profiler is not None:
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(PROFILE_ROWS)
        result["_profile"] = text.getvalue()
    return result


def _summary(values: list[float]) -> dict:
    """样本数与 p50 / p99 / max，毫秒（没有样本时为 None）。"""
    return {"count": len(values), "p50": _round(percentile(values, 0.5)), "p99": _round(percentile(values, 0.99)),
            "max": _round(max(values) if values else None)}


def _round(value: float | None) -> float | None:
    """毫秒保留 3 位小数；None 原样返回。"""
    return None if value is None else round(value, 3)


def print_table(result: dict) -> None:
    """打印结果表（英文）。"""
    latency, calls = result["latency_ms"], result["signals_call_ms"]
    met = {True: "met", False: "NOT met"}
    where = ("sandbox in this process (memory and CPU include it)" if result["sandbox"] == "in-process"
             else "sandbox in a separate process")
    print(f"{result['instances']} instances on {result['symbols']} symbols, paper mode, {where}, "
          f"speed x{result['speed']:g}; measured {result['seconds']:.1f} s after a {result['startup_seconds']:.1f} s "
          f"start-up and {result['settle_seconds']:.1f} s until {result['live_instances']} instances had live bars")
    first, later = result["latency_ms_first_instance_on_symbol"], result["latency_ms_later_instances_on_symbol"]
    rows = [
        ("bar close -> order sent p50", f"{latency['p50']} ms  ({latency['count']:,} orders)"),
        ("bar close -> order sent p99", f"{latency['p99']} ms  (target < {TARGET_P99_MS:g} ms: "
                                        f"{met[result['targets']['p99_under_5ms']]})"),
        ("bar close -> order sent max", f"{latency['max']} ms"),
        ("  1st instance on its symbol p50/p99", f"{first['p50']} / {first['p99']} ms  ({first['count']:,} orders)"),
        ("  2nd instance on its symbol p50/p99", f"{later['p50']} / {later['p99']} ms  ({later['count']:,} orders)"),
        ("strategy signals() per bar p50 / p99", f"{calls['p50']} / {calls['p99']} ms  ({calls['count']:,} calls)"),
        ("closed bars processed", f"{result['bars_processed']:,}  "
                                  f"({result['bars_processed'] / result['seconds']:,.0f} bars/s)"),
        ("signals / orders sent / fills", f"{result['signals']:,} / {result['orders_sent']:,} / {result['fills']:,}"),
        ("rejections / errors", f"{result['rejections']:,} / {result['errors']:,}"),
        ("events published", f"{result['events']:,}  ({result['events_per_second']:,.0f} events/s)"),
        ("engine CPU time", f"{result['cpu_seconds']:.2f} s  ({100 * result['cpu_share']:.0f}% of one core)"),
        ("peak RSS (this process)", f"{result['peak_rss_mb']:.1f} MB  (target < {TARGET_RSS_MB:g} MB: "
                                    f"{met[result['targets']['peak_rss_under_500mb']]})"),
    ]
    if result["sandbox_peak_rss_mb"] is not None:
        rows.append(("peak RSS (sandbox process)", f"{result['sandbox_peak_rss_mb']:.1f} MB"))
    rows.append(("instance status at the end", ", ".join(f"{k} {v}" for k, v in result["instance_status"].items())))
    width = max(len(name) for name, _ in rows) + 2
    for name, value in rows:
        print(f"{name:<{width}}{value}")


def main(argv: list[str] | None = None) -> int:
    """解析参数、运行基准，打印表格与一行 JSON。"""
    parser = argparse.ArgumentParser(description="Trading engine benchmark: 100 paper instances on 50 sandbox "
                                                 "symbols; latency from candle close to order sent, events/s, memory")
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS,
                        help=f"measurement time after start-up (default {DEFAULT_SECONDS:g})")
    parser.add_argument("--speed", type=float, default=DEFAULT_SPEED,
                        help=f"sandbox replay speed; 60 = one 1m bar per second per symbol (default {DEFAULT_SPEED:g})")
    parser.add_argument("--symbols", type=int, default=DEFAULT_SYMBOLS,
                        help=f"number of synthetic symbols, two instances each (default {DEFAULT_SYMBOLS})")
    parser.add_argument("--notional", type=float, default=DEFAULT_NOTIONAL,
                        help=f"fixed notional per entry in USDT (default {DEFAULT_NOTIONAL:g})")
    parser.add_argument("--settle", type=float, default=DEFAULT_SETTLE,
                        help=f"max seconds to wait for every instance to get live bars before measuring "
                             f"(default {DEFAULT_SETTLE:g})")
    parser.add_argument("--in-process", action="store_true",
                        help="run the sandbox inside this process (simpler, but inflates memory, CPU and latency)")
    parser.add_argument("--profile", action="store_true", help="cProfile the measured period and print the top "
                                                               "functions by cumulative time")
    args = parser.parse_args(argv)
    if not 1 <= args.symbols <= 100:
        parser.error(f"--symbols {args.symbols}: must be between 1 and 100")
    result = asyncio.run(run(args))
    profile = result.pop("_profile", None)
    if profile:
        print(profile)
    print_table(result)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
