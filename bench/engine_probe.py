"""bench/engine.py 的测量工具：计时与计数的钩子（Probe）、带序号的延迟样本、两条信号路径的参照耗时、
--windowed 的开关，以及内存、CPU 与分位数的小函数。钩子只包一层原方法，不改变引擎行为。"""

from __future__ import annotations

import re
import resource
import time
from collections import Counter, deque
from pathlib import Path

from tradeterm.engine.bot import Bot
from tradeterm.strategy.base import Strategy
from tradeterm.strategy.loader import build_strategy


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
    """测量用的钩子：给 FeedRunner.decide 计时、数 Bot.add_bar 接受的收盘 K 线、给延迟样本标上实例在其交易对上的序号。

    引擎在一个 (交易对, 周期) 的收盘 K 线上按配置顺序逐个处理实例，并且 await 完前一个实例的下单才处理下一个，
    所以按序号分开统计延迟能看出排在后面的实例等了多久。
    """

    def __init__(self) -> None:
        """创建空的计数器（install 之后才生效）。"""
        # FeedRunner.decide（一个实例对一根收盘 K 线的决定）每次调用的耗时，毫秒
        self.decide_ms: list[float] = []
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
        """替换 FeedRunner.decide、Bot.add_bar 与 Executor.prepare（只加计时与计数，行为不变）。"""
        from tradeterm.engine.execution import Executor
        from tradeterm.engine.feeds import FeedRunner

        probe = self
        decide, add_bar, prepare = FeedRunner.decide, Bot.add_bar, Executor.prepare

        def timed_decide(self, bot: Bot, update):
            """计时版 FeedRunner.decide。"""
            started = time.perf_counter()
            try:
                return decide(self, bot, update)
            finally:
                probe.decide_ms.append((time.perf_counter() - started) * 1000)

        def counted_add_bar(self: Bot, row: list[float]) -> bool:
            """计数版 Bot.add_bar。"""
            accepted = add_bar(self, row)
            if accepted:
                probe.bars += 1
                probe.live.add(self.name)
            return accepted

        def tagged_prepare(self, bot: Bot, intent, received, account=None):
            """记下下单实例的序号，再调用原来的 prepare（它在同步代码里追加延迟样本）。"""
            probe.position = probe.order_in_symbol.get(bot.name, 0)
            return prepare(self, bot, intent, received, account)

        self._originals = [(FeedRunner, "decide", decide), (Bot, "add_bar", add_bar),
                           (Executor, "prepare", prepare)]
        FeedRunner.decide, Bot.add_bar, Executor.prepare = timed_decide, counted_add_bar, tagged_prepare

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
        self.decide_ms.clear()
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


def windowed_only():
    """--windowed 用：让每个策略都像没有逐根形式一样（Strategy.is_incremental 恒为假），返回恢复原样的函数。"""
    original = Strategy.is_incremental
    Strategy.is_incremental = property(lambda self: False)

    def restore() -> None:
        """恢复 Strategy.is_incremental。"""
        Strategy.is_incremental = original
    return restore


def reference_costs(bots: list[Bot]) -> dict:
    """参照：在每个实例此刻的窗口上各测一次两条信号路径的耗时，毫秒（不动运行中的策略对象）。

    逐根路径：新建同参数的策略，用窗口除最后一根之外的 K 线建立状态，只计最后一根 on_bar 的时间（实盘每根的代价）；
    窗口重算：on_data(窗口 DataFrame)，含构造 DataFrame（没有逐根形式的插件每根的代价，也是改动之前的实盘路径）。"""
    incremental, windowed = [], []
    if bots:  # 第一次调用含一次性的开销（导入、缓存），不计入
        bots[0].strategy.on_data(bots[0].frame())
    for bot in bots:
        strategy = bot.strategy
        fresh = build_strategy(type(strategy), dict(strategy.params), name=strategy.name, symbol=strategy.symbol,
                               timeframe=strategy.timeframe, market_type=strategy.market_type)
        rows = bot.bars.tolist()
        # 直接看类有没有 update（--windowed 时 is_incremental 被临时改成恒假，参照仍要测两条路径）
        if type(fresh).update is not Strategy.update and rows:
            fresh.seed(rows[:-1])
            started = time.perf_counter()
            fresh.on_bar(rows[-1])
            incremental.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        fresh.on_data(bot.frame())
        windowed.append((time.perf_counter() - started) * 1000)
    return {"incremental_ms": summary(incremental), "window_recompute_ms": summary(windowed)}


def summary(values: list[float]) -> dict:
    """样本数与 p50 / p99 / max，毫秒（没有样本时为 None）。"""
    return {"count": len(values), "p50": rounded(percentile(values, 0.5)), "p99": rounded(percentile(values, 0.99)),
            "max": rounded(max(values) if values else None)}


def rounded(value: float | None) -> float | None:
    """毫秒保留 3 位小数；None 原样返回。"""
    return None if value is None else round(value, 3)
