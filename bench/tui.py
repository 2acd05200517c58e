"""终端控制台基准（脚本，不是测试）：100 个交易对、每个每秒 10 次报价（共 1000 条/秒），持续 60 秒，
驱动真实的 TradetermApp（无头，`app.run_test(size=(200, 50))`）。

负载在客户端边界生成：`SyntheticClient` 实现 EngineClient（tradeterm/engine/client.py），快照里有 100 个实例
（每个交易对一个），一个生产者任务按节拍把报价事件放进队列（相当于引擎事件总线给这个订阅者的队列），
`events()` 从队列里取。事件里带着生产时刻（perf_counter 秒），基准包住界面处理路径的三处来测延迟：
- applied：`app.model.apply_event` 归并该事件的时刻（事件到达界面模型）；
- shown：报价表（`QuotesTable.refresh_symbols` 节拍刷新，或快照时的 `refresh_from`）把该交易对的新价格写进表格的时刻；
- painted：之后主屏第一次合成输出（`Screen._compositor_refresh`，无头模式下也会算出要写给终端的更新）的时刻。
另测：积压（队列长度，每 0.5 秒采样，看是否增长）、进程 CPU（process_time / 墙钟时间，1.0 即一个核）、
每秒处理的事件数。目标：积压不增长、painted 延迟 p99 < 100 ms、CPU < 一个核。输出一张表，最后一行是 JSON。

用法：python bench/tui.py [--seconds 60] [--symbols 100] [--rate 10] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import math
import pstats
import random
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # 直接 python bench/tui.py 时也能导入 tradeterm

from tradeterm.engine.events import Event, EventKind  # noqa: E402
from tradeterm.tui.app import TradetermApp  # noqa: E402
from tradeterm.tui.widgets.tables import QuotesTable  # noqa: E402

# 默认持续时间，秒
DEFAULT_SECONDS = 60.0
# 默认交易对个数
DEFAULT_SYMBOLS = 100
# 默认每个交易对每秒的报价次数
DEFAULT_RATE = 10.0
# 生产者的节拍，秒（每拍补齐到期的事件）
TICK_S = 0.01
# 积压的采样间隔，秒
SAMPLE_S = 0.5
# 无头终端的大小：列, 行
SIZE = (200, 50)
# 目标：painted 延迟 p99 上限，毫秒
TARGET_P99_MS = 100.0
# 目标：CPU 上限，核
TARGET_CPU = 1.0
# 事件数据里放生产时刻的键（界面不认识它，原样忽略）
STAMP = "bench_t"


class SyntheticClient:
    """合成负载的 EngineClient：固定快照（n 个实例）+ 按速率生成的报价事件；命令只记录。"""

    def __init__(self, symbols: int, rate: float):
        """symbols 为交易对个数；rate 为每个交易对每秒的报价次数。"""
        # 交易对名，如 S000/USDT
        self.symbols = [f"S{i:03d}/USDT" for i in range(symbols)]
        # 总速率，条/秒
        self.total_rate = symbols * rate
        # 事件队列（引擎事件总线给一个订阅者的队列）；长度即积压，条
        self.queue: asyncio.Queue[Event] = asyncio.Queue()
        # 已生产的事件数，条
        self.produced = 0
        # 每个交易对的当前价格，计价货币
        self.prices = {s: 100.0 + 10 * i for i, s in enumerate(self.symbols)}
        # 收到的命令（基准里不应该有）
        self.commands: list[str] = []
        # 随机数（固定种子，运行之间可比）
        self.random = random.Random(7)

    async def snapshot(self) -> dict[str, Any]:
        """见 EngineClient.snapshot：每个交易对一个运行中的实例。"""
        instances = [{"name": f"bot_{i:03d}", "symbol": s, "interval": "1m", "strategy": "MACross",
                      "params": {"fast": 10, "slow": 30}, "status": "running", "error": "", "position": 0.0,
                      "entry_price": 0.0, "mark": self.prices[s], "realized_pnl": 0.0, "unrealized_pnl": 0.0,
                      "stop_loss": None, "take_profit": None, "last_signal": ""}
                     for i, s in enumerate(self.symbols)]
        return {"mode": "paper", "exchange": "bench (synthetic)", "run_id": 1, "instances": instances,
                "positions": [], "orders": [],
                "account": {"equity": 10_000.0, "cash": 10_000.0, "drawdown": 0.0, "breaker": "", "killed": False,
                            "quote": "USDT"},
                "problems": [], "latency_ms": {"count": 0, "p50": None, "p99": None}}

    async def command(self, name: str, **args: Any) -> Any:
        """见 EngineClient.command：只记录。"""
        self.commands.append(name)
        return None

    async def events(self) -> AsyncIterator[Event]:
        """见 EngineClient.events：从队列里取。"""
        while True:
            yield await self.queue.get()

    async def close(self) -> None:
        """见 EngineClient.close。"""

    async def produce(self, seconds: float) -> None:
        """按总速率生产 seconds 秒的报价事件（交易对轮流，每条带生产时刻）。"""
        start = time.perf_counter()
        count = len(self.symbols)
        while True:
            now = time.perf_counter()
            elapsed = now - start
            if elapsed >= seconds:
                return
            due = int(elapsed * self.total_rate)
            while self.produced < due:
                symbol = self.symbols[self.produced % count]
                price = self.prices[symbol] = self.prices[symbol] * (1 + self.random.gauss(0, 0.001))
                self.queue.put_nowait(Event(EventKind.QUOTE, int(time.time() * 1000),
                                            {"symbol": symbol, "last": price, STAMP: time.perf_counter()}))
                self.produced += 1
            await asyncio.sleep(TICK_S)


class Probe:
    """包住界面处理路径，记每条事件的 applied / shown / painted 延迟（秒）。"""

    def __init__(self, app: TradetermApp):
        """app 为要测量的控制台（已挂载）。"""
        # applied 延迟样本，秒
        self.applied: list[float] = []
        # shown 延迟样本，秒
        self.shown: list[float] = []
        # painted 延迟样本，秒
        self.painted: list[float] = []
        # 已归并、还没写进报价表的事件的生产时刻，秒
        self._unshown: list[float] = []
        # 已写进报价表、还没合成输出的事件的生产时刻，秒
        self._unpainted: list[float] = []
        # 是否在记录（预热期间不记）
        self.recording = False
        # 处理过的事件数，条
        self.handled = 0
        # 报价表刷新次数
        self.table_refreshes = 0
        # 主屏合成输出次数
        self.paints = 0
        self._wrap(app)

    def _wrap(self, app: TradetermApp) -> None:
        """在实例上替换三个方法（不改类，不改界面代码）。"""
        model = app.model
        apply_event = model.apply_event

        def applied(event: Event) -> str | None:
            """归并事件并记 applied 延迟。"""
            line = apply_event(event)
            stamp = event.data.get(STAMP)
            if stamp is not None and self.recording:
                now = time.perf_counter()
                self.handled += 1
                self.applied.append(now - stamp)
                self._unshown.append(stamp)
            return line
        model.apply_event = applied

        table = app.main_screen.query_one(QuotesTable)
        table.refresh_from = self._shown(table.refresh_from)        # 快照刷新：整表
        table.refresh_symbols = self._shown(table.refresh_symbols)  # 报价节拍：只写变了的行

        screen = app.main_screen
        compositor_refresh = screen._compositor_refresh

        def painted() -> None:
            """主屏合成输出并记 painted 延迟。"""
            compositor_refresh()
            self.paints += 1
            if self._unpainted:
                now = time.perf_counter()
                self.painted.extend(now - t for t in self._unpainted)
                self._unpainted.clear()
        screen._compositor_refresh = painted

    def _shown(self, refresh: Any) -> Any:
        """包住报价表的一个刷新方法：刷新后记 shown 延迟（刷新前已归并的事件，其交易对都在这次刷新里）。"""
        def shown(*args: Any, **kwargs: Any) -> None:
            """刷新报价表并记 shown 延迟。"""
            refresh(*args, **kwargs)
            self.table_refreshes += 1
            if self._unshown:
                now = time.perf_counter()
                self.shown.extend(now - t for t in self._unshown)
                self._unpainted.extend(self._unshown)
                self._unshown.clear()
        return shown


def percentile(values: list[float], q: float) -> float:
    """第 q 百分位（0..100，最近秩法）；没有样本时为 NaN。"""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


async def run(seconds: float, symbols: int, rate: float, profile: cProfile.Profile | None) -> dict[str, Any]:
    """跑一次基准，返回结果字典。"""
    client = SyntheticClient(symbols, rate)
    app = TradetermApp(client, attached=True)
    async with app.run_test(size=SIZE) as pilot:
        probe = Probe(app)
        await pilot.pause(1.0)  # 第一份快照、表格建好
        probe.recording = True
        backlog: list[tuple[float, int]] = []
        producer = asyncio.create_task(client.produce(seconds))
        wall0, cpu0 = time.perf_counter(), time.process_time()
        if profile is not None:
            profile.enable()
        while not producer.done():
            await asyncio.sleep(SAMPLE_S)
            backlog.append((time.perf_counter() - wall0, client.queue.qsize()))
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        if profile is not None:
            profile.disable()
        await producer
        await pilot.pause(1.0)  # 收尾：剩下的事件处理完
        leftover = client.queue.qsize()
    sizes = [n for _, n in backlog]
    quarter = max(1, len(sizes) // 4)
    ms = {name: {"p50": round(percentile(v, 50) * 1000, 2), "p99": round(percentile(v, 99) * 1000, 2),
                 "max": round(max(v) * 1000, 2) if v else math.nan}
          for name, v in (("applied", probe.applied), ("shown", probe.shown), ("painted", probe.painted))}
    return {
        "seconds": round(wall, 2), "symbols": symbols, "quotes_per_symbol_per_s": rate,
        "produced": client.produced, "handled": probe.handled, "events_per_s": round(probe.handled / wall, 1),
        "latency_ms": ms,
        "backlog": {"max": max(sizes, default=0), "first_quarter_mean": round(sum(sizes[:quarter]) / quarter, 1),
                    "last_quarter_mean": round(sum(sizes[-quarter:]) / quarter, 1), "after_end": leftover},
        "cpu_cores": round(cpu / wall, 3), "table_refreshes_per_s": round(probe.table_refreshes / wall, 1),
        "paints_per_s": round(probe.paints / wall, 1),
    }


def main(argv: list[str] | None = None) -> int:
    """运行基准并打印表格与一行 JSON。"""
    parser = argparse.ArgumentParser(description="Console (TUI) load benchmark: N symbols quoting R times a second")
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS, help="duration (default 60)")
    parser.add_argument("--symbols", type=int, default=DEFAULT_SYMBOLS, help="number of symbols (default 100)")
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE, help="quotes per symbol per second (default 10)")
    parser.add_argument("--profile", action="store_true", help="print the top cProfile entries (slows the run)")
    args = parser.parse_args(argv)
    profile = cProfile.Profile() if args.profile else None
    result = asyncio.run(run(args.seconds, args.symbols, args.rate, profile))
    lat, backlog = result["latency_ms"], result["backlog"]
    print(f"{args.symbols} symbols x {args.rate:g} quotes/s for {result['seconds']} s, app at {SIZE[0]}x{SIZE[1]}")
    print(f"{'latency (ms)':<34}{'p50':>10}{'p99':>10}{'max':>10}")
    for name, label in (("applied", "event -> model (applied)"), ("shown", "event -> quotes table (shown)"),
                        ("painted", "event -> screen update (painted)")):
        print(f"{label:<34}{lat[name]['p50']:>10.2f}{lat[name]['p99']:>10.2f}{lat[name]['max']:>10.2f}")
    print(f"events produced / handled: {result['produced']:,} / {result['handled']:,} "
          f"({result['events_per_s']:,.0f} events/s)")
    print(f"backlog (queued events): max {backlog['max']}, first-quarter mean {backlog['first_quarter_mean']}, "
          f"last-quarter mean {backlog['last_quarter_mean']}, left after the run {backlog['after_end']}")
    print(f"CPU: {result['cpu_cores']:.2f} cores (target < {TARGET_CPU:g}); quotes table refreshes "
          f"{result['table_refreshes_per_s']}/s, screen updates {result['paints_per_s']}/s")
    growing = backlog["last_quarter_mean"] > backlog["first_quarter_mean"] + 10
    ok = (not growing and lat["painted"]["p99"] < TARGET_P99_MS and result["cpu_cores"] < TARGET_CPU)
    print(f"targets (no growing backlog, painted p99 < {TARGET_P99_MS:g} ms, CPU < 1 core): "
          f"{'met' if ok else 'MISSED'}")
    if profile is not None:
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(30)
        print(out.getvalue())
    result["targets_met"] = ok
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
