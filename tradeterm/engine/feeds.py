"""引擎的行情：每个 (交易对, 周期) 一条实时 K 线订阅，收盘时交给订阅它的各实例；以及陈旧行情的报警。

一根 K 线收盘时：补上缺口（REST）-> 熔断按这根收盘的权益更新 -> 各实例算信号、备好订单并发出 -> 记 K 线 ->
发 BAR 事件 -> 记权益。正在走的 K 线只更新标记价并检查止损止盈。

陈旧行情：看门狗每秒问一次交易所时间，算出交易所最新一根已收盘 K 线与本订阅最新一根已收盘 K 线之差（根数）。
超过 `risk.stale_feed_bars`（默认 2 根）并持续 STALE_CONFIRM_S 即为陈旧：发 STALE 事件（横幅变橙色并点名、通知）、
风控的 stale_after 规则拒绝这个交易对上的新开仓。窗口落后交易所超过界限时，落后的 K 线不再逐根交易，而是一次用 REST
分页补进窗口（不据此交易），最新的一根照常收盘，之后从它接着走。
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import ccxt

from tradeterm.config.markets import timeframe_ms
from tradeterm.data.market_data import CandleUpdate
from tradeterm.engine.bot import Bot, Intent
from tradeterm.engine.events import EventKind
from tradeterm.engine.instance import InstanceStatus
from tradeterm.models import Side

if TYPE_CHECKING:  # 只为类型标注
    from tradeterm.engine.trader import TraderEngine

log = logging.getLogger(__name__)

# 看门狗问交易所时间的间隔，墙上秒
STALE_CHECK_S = 1.0
# 落后超过界限要持续这么久（墙上秒）才报警：沙盒几百倍速回放时 2 根 K 线不到半秒，一次偶然的停顿不该报警；
# 真实交易所上 2 根 1 分钟 K 线本身就是 2 分钟，这点确认时间无关紧要
STALE_CONFIRM_S = 2.0


def wall_ms() -> int:
    """当前墙上时间，UTC 毫秒。"""
    return int(time.time() * 1000)


@dataclass
class FeedStatus:
    """一条 K 线订阅的健康状况。时间为 UTC 毫秒（K 线时间为交易所时间，其余为墙上时间）。"""

    symbol: str                 # 交易对
    timeframe: str              # K 线周期
    step_ms: int                # 周期长度，毫秒
    last_bar_ts: int = 0        # 实例窗口里最新一根已收盘 K 线的开盘时间（交易所时间；含 REST 补进来的）
    stream_bar_ts: int = 0      # 实时流到达的最新一根已收盘 K 线的开盘时间（交易所时间）：落后与否看它
    exchange_bar_ts: int = 0    # 交易所最新一根已收盘 K 线的开盘时间（看门狗按交易所时间算出）
    last_update_ms: int = 0     # 最近一次收到更新的墙上时间
    stale: bool = False         # 是否陈旧（实时流落后超过界限，并持续了 STALE_CONFIRM_S）
    stale_since_ms: int = 0     # 变成陈旧的墙上时间；不陈旧时为 0
    behind_since_ms: int = 0    # 落后超过界限开始的墙上时间（还在确认期）；没有落后时为 0

    @property
    def lag_bars(self) -> int:
        """实时流落后交易所的根数（不为负）。"""
        if not self.stream_bar_ts or not self.exchange_bar_ts:
            return 0
        return max(0, (self.exchange_bar_ts - self.stream_bar_ts) // self.step_ms)

    def saw(self, update: CandleUpdate) -> None:
        """记下实时流的位置：已收盘的那根，或正在走的那根的前一根。"""
        self.stream_bar_ts = max(self.stream_bar_ts, update.ts if update.closed else update.ts - self.step_ms)

    def summary(self) -> dict[str, Any]:
        """快照与事件用的字典（age_s 为距最近一次更新的墙上秒数）。"""
        age = (wall_ms() - self.last_update_ms) / 1000.0 if self.last_update_ms else None
        return {"symbol": self.symbol, "timeframe": self.timeframe, "lag_bars": self.lag_bars, "stale": self.stale,
                "last_bar_ts": self.last_bar_ts, "exchange_bar_ts": self.exchange_bar_ts, "age_s": age}


class FeedRunner:
    """全部 K 线订阅的运行者：每条订阅一个任务，外加一个陈旧行情的看门狗。"""

    def __init__(self, engine: "TraderEngine"):
        """engine 为所属引擎。"""
        # 所属引擎
        self.engine = engine
        # (交易对, 周期) -> 订阅的健康状况
        self.status: dict[tuple[str, str], FeedStatus] = {}

    @property
    def bound(self) -> int:
        """陈旧的界限：落后超过这么多根即为陈旧。"""
        return self.engine.config.risk.stale_feed_bars

    def register(self, symbol: str, timeframe: str, bots: list[Bot]) -> FeedStatus:
        """登记一条订阅（预热之后）：它最新一根已收盘 K 线取自实例的窗口。"""
        status = FeedStatus(symbol, timeframe, timeframe_ms(timeframe))
        status.last_bar_ts = max((int(b.bars[-1, 0]) for b in bots if len(b.bars)), default=0)
        status.stream_bar_ts = status.last_bar_ts
        status.last_update_ms = wall_ms()
        self.status[(symbol, timeframe)] = status
        return status

    def stale_symbols(self) -> dict[str, str]:
        """陈旧的交易对 -> 说明（英文，风控拒绝时写进原因）。"""
        return {s.symbol: f"{s.symbol} {s.timeframe} feed is {s.lag_bars} bar(s) behind the exchange "
                          f"(limit {self.bound})" for s in self.status.values() if s.stale}

    def summaries(self) -> list[dict[str, Any]]:
        """全部订阅的健康状况（快照用）。"""
        return [s.summary() for s in self.status.values()]

    # ---- 看门狗 ------------------------------------------------------------------------------------

    async def watch(self) -> None:
        """每 STALE_CHECK_S 秒：按交易所时间更新每条订阅的落后根数，越过界限时报警或解除。"""
        while True:
            await asyncio.sleep(STALE_CHECK_S)
            try:
                now = await self.engine.market.exchange_now()
            except ccxt.NetworkError as exc:  # 问不到交易所时间（重试已用尽）：这一轮不判断，下一秒再问
                log.warning("stale-feed watchdog could not read the exchange time error=%s", type(exc).__name__)
                continue
            await self.check(now)

    async def check(self, exchange_now: int) -> None:
        """按交易所时间 exchange_now（UTC 毫秒）检查一次全部订阅（测试可直接调用）。"""
        for status in self.status.values():
            status.exchange_bar_ts = exchange_now // status.step_ms * status.step_ms - status.step_ms
            await self._judge(status)

    async def _judge(self, status: FeedStatus) -> None:
        """按落后根数决定陈旧与否（落后要持续 STALE_CONFIRM_S 才算）；状态变化时记事件（陈旧会通知、横幅点名）。"""
        behind = status.lag_bars > self.bound
        now = wall_ms()
        if not behind:
            status.behind_since_ms = 0
        elif not status.behind_since_ms:
            status.behind_since_ms = now
        if behind and now - status.behind_since_ms < STALE_CONFIRM_S * 1000:
            return  # 还在确认期
        if behind == status.stale:
            return
        status.stale = behind
        status.stale_since_ms = wall_ms() if behind else 0
        if behind:
            message = (f"feed {status.symbol} {status.timeframe} is stale: {status.lag_bars} bar(s) behind the "
                       f"exchange (limit {self.bound}); new entries on {status.symbol} are refused")
            log.warning("stale feed symbol=%s timeframe=%s lag_bars=%s", status.symbol, status.timeframe,
                        status.lag_bars)
        else:
            message = f"feed {status.symbol} {status.timeframe} caught up with the exchange"
        await self.engine.record(EventKind.STALE, message=message, **status.summary())

    # ---- 一条订阅 ----------------------------------------------------------------------------------

    async def run(self, symbol: str, timeframe: str, bots: list[Bot]) -> None:
        """一个 (交易对, 周期) 的实时 K 线：更新标记价、检查止损止盈；收盘时交给各实例。"""
        engine = self.engine
        status = self.status.get((symbol, timeframe)) or self.register(symbol, timeframe, bots)
        # 本订阅是否已收到过一根收盘的 K 线（第一根要在日志库里记下：replay-check 从它开始比较这个交易对）
        live = False
        async for update in engine.market.subscribe(symbol, timeframe):
            received = time.perf_counter()
            status.last_update_ms = engine.last_update_ms[symbol] = wall_ms()
            status.saw(update)
            if status.exchange_bar_ts > status.last_bar_ts + self.bound * status.step_ms:
                # 窗口落后交易所超过界限（流积压，或流突然落后）：一次 REST 分页追上，不逐根交易过去的 K 线；
                # 看门狗每秒才更新一次交易所的位置，所以这最多每秒一次
                await self.catch_up(status, bots, received)
            if update.ts <= status.last_bar_ts:
                continue  # 已经用 REST 追上的旧 K 线：它的价格是过去的，不能拿来标记持仓或触发止损
            if not update.closed:
                engine.broker.observe(symbol, update.close)
                for bot in bots:
                    bot.mark = update.close
                    await self.check_exits(bot)
                engine.publish(EventKind.QUOTE, symbol=symbol, last=update.close, ts_bar=update.ts)
                continue
            await self._close_bar(status, bots, update, received)
            if not live:
                live = True
                await self._log_feed(f"feed {symbol} {timeframe} live", symbol=symbol, timeframe=timeframe,
                                     first_live_bar_ts=update.ts)

    async def _close_bar(self, status: FeedStatus, bots: list[Bot], update: CandleUpdate, received: float) -> None:
        """一根收盘的 K 线（来自流或 REST 追赶）：标记价与止损止盈 -> 补缺口 -> 收盘处理 -> 更新订阅状态。"""
        engine = self.engine
        engine.broker.observe(status.symbol, update.close)
        for bot in bots:
            bot.mark = update.close
            await self.check_exits(bot)
        await self.fill_gap(status.symbol, status.timeframe, bots, update.ts)
        await self._on_close(status, bots, update, received)
        status.last_bar_ts = max(status.last_bar_ts, update.ts)
        await self._judge(status)

    async def _on_close(self, status: FeedStatus, bots: list[Bot], update: CandleUpdate, received: float) -> None:
        """一根收盘的 K 线：熔断 -> 各实例下单 -> 记 K 线 -> 事件 -> 权益。"""
        engine = self.engine
        row = [update.ts, update.open, update.high, update.low, update.close, update.volume]
        # 熔断先按这根收盘的权益更新，再决定下单（与回测相同：触发那根之后不再开新仓）
        tripped = engine.risk.update_equity(update.ts, engine.equity())
        # 每个实例算完信号就同步备好订单（只有一个意图时，最常见），各实例的下单往返再并发进行：
        # 一个实例的计算与网络往返都不拖慢下一个实例；有多个意图（合约反手：先平后开）的实例按顺序执行
        execution = engine.execution
        sends = []
        # 账户状态（遍历全部实例）在这段同步代码里不会变：本交易对上各实例的订单共用一份，第一次要用时才算
        account = None
        for bot in bots:
            intents = self.decide(bot, update)
            if len(intents) == 1:
                account = account or engine.account_snapshot()
                order = execution.prepare(bot, intents[0], received, account)
                sends.append(execution.reject(bot.name, *order) if isinstance(order, tuple)
                             else execution.submit(bot, order))
            elif intents:
                sends.append(execution.execute_all(bot, intents, received))
        try:
            # shield：引擎停止时行情任务被取消，这根 K 线的订单也要全部发完、记完（要么不备单，备了就发到底），
            # 不会出现“备好了却没发”或“发出了却没记成交”
            await asyncio.shield(asyncio.gather(*sends))
        finally:
            # 下单之后再记 K 线，不占“收盘 -> 下单”的延迟；下单出了意外（任务会被重启）这根 K 线也照样记下
            await engine.journal.record_bars(status.symbol, status.timeframe, [row], live=True)
        engine.publish(EventKind.BAR, symbol=status.symbol, timeframe=status.timeframe, ts=update.ts,
                       open=update.open, high=update.high, low=update.low, close=update.close, volume=update.volume)
        await engine.bookkeeper.sample_equity(update.ts, tripped=tripped)

    async def catch_up(self, status: FeedStatus, bots: list[Bot], received: float) -> None:
        """实时流落后交易所超过界限：用 REST 分页一次取到交易所最新一根已收盘的 K 线——之前的补进窗口（不据此交易），
        最新的一根照常收盘（陈旧期间风控拒绝新开仓，平仓与止损照常）。之后流里更旧的更新都被跳过。"""
        target = status.exchange_bar_ts
        if target <= status.last_bar_ts:
            return
        await self.fill_gap(status.symbol, status.timeframe, bots, target)
        frame = await self.engine.market.get_ohlcv(status.symbol, status.timeframe, since=target,
                                                   until=target + status.step_ms)
        rows = [r for r in frame[["timestamp", "open", "high", "low", "close", "volume"]].to_numpy(dtype=float).tolist()
                if int(r[0]) == target]
        if not rows:
            return
        ts, bar_open, high, low, close, volume = rows[-1]
        update = CandleUpdate(status.symbol, status.timeframe, int(ts), bar_open, high, low, close, volume, True)
        await self._close_bar(status, bots, update, received)

    def feed_sizer(self, bot: Bot, rows: list[list[float]]) -> None:
        """把已收盘的 K 线交给需要行情的仓位函数（波动率目标的 ATR），与回测逐根喂给它的方式相同。"""
        sizer = self.engine.sizers[bot.name]
        if sizer.needs_bars:
            for row in rows:
                sizer.on_bar(row[2], row[3], row[4])

    async def fill_gap(self, symbol: str, timeframe: str, bots: list[Bot], ts: int) -> None:
        """窗口的最后一根与开盘时间为 ts 的 K 线之间缺了 K 线（预热之后、订阅之前收盘的，或订阅落后的）：
        用 REST 分页补进窗口（不据此交易），并记一条缺口事件。"""
        engine = self.engine
        step = timeframe_ms(timeframe)
        # 只看会收 K 线的实例：停止的实例什么都不运行（窗口也不补），重新 start 后的第一次收盘再把它补齐
        bots = [b for b in bots if b.state.receives_bars]
        last = min((int(b.bars[-1, 0]) for b in bots if len(b.bars)), default=None)
        if last is None or ts <= last + step:
            return
        # 漏了 K 线的实例
        behind = [b.name for b in bots if len(b.bars) and b.bars[-1, 0] < ts - step]
        missing = await engine.market.get_ohlcv(symbol, timeframe, since=last + step, until=ts)
        rows = missing[["timestamp", "open", "high", "low", "close", "volume"]].to_numpy(dtype=float).tolist()
        rows = [r for r in rows if int(r[0]) < ts]
        # 先记日志库、再进窗口：窗口里的每根（除了正在处理的这根）都已在日志库里（replay-check 按它们重放）
        await engine.journal.record_bars(symbol, timeframe, rows)
        for row in rows:
            for bot in bots:
                if bot.add_bar(row):
                    self.feed_sizer(bot, [row])
        gap = [int(r[0]) for r in rows]
        if behind and gap:
            # 记下没有据以交易的 K 线：replay-check 据此解释回测在这些 K 线上的信号为什么实盘没有
            await self._log_feed(f"feed {symbol} {timeframe} gap: {len(gap)} bar(s) filled from REST, not traded",
                                 symbol=symbol, timeframe=timeframe, gap_first_ts=gap[0], gap_last_ts=gap[-1],
                                 instances=behind)

    async def _log_feed(self, message: str, **data: Any) -> None:
        """行情订阅的一条日志事件（开始实时、缺口），同时写进日志库。"""
        await self.engine.record(EventKind.LOG, message=message, **data)

    # ---- 决定与止损 --------------------------------------------------------------------------------

    def decide(self, bot: Bot, update: CandleUpdate) -> list[Intent]:
        """一根 K 线收盘：追加到窗口，问策略要信号，返回要执行的下单意图。

        running 执行全部意图；paused 只执行平仓意图（暂停 = 不开新仓，退出照常）；error 与 stopped 不问策略。"""
        engine = self.engine
        row = [update.ts, update.open, update.high, update.low, update.close, update.volume]
        if not bot.state.receives_bars or not bot.add_bar(row):
            return []
        self.feed_sizer(bot, [row])
        if not bot.state.exits_run or bot.state.status is InstanceStatus.ERROR:
            return []
        try:
            signals = bot.signals()
        except Exception as exc:  # 策略代码的异常只影响这个实例
            engine.fail_soon(bot, exc)
            return []
        if signals:
            bot.last_signal = ", ".join(s.intent.value for s in signals)
        intents = bot.intents(signals, bool(engine.orders.open_orders(bot.name)))
        acted = [i for i in intents if bot.state.trading or not i.opening]
        # 向量化策略的进出标志常常连续多根为真：只有会变成订单的信号才发事件，日志里才看得清
        for intent in intents:
            engine.publish(EventKind.SIGNAL, instance=bot.name, side=intent.side.value, opening=intent.opening,
                           reason=intent.reason, acted=intent in acted)
        return acted

    async def check_exits(self, bot: Bot) -> None:
        """最新价触发止损/止盈时市价平仓（每个持仓只触发一次）；running、paused、error 都执行，stopped 不执行。"""
        hit = bot.exit_hit(bot.mark)
        if hit is None or not bot.state.exits_run:
            return
        bot.stop_loss = bot.take_profit = None
        await self.engine.journal.save_position(bot.name, bot.position, None, None)
        side = Side.SELL if bot.position.amount > 0 else Side.BUY
        await self.engine.execution.execute(bot, Intent(side, False, hit), None)
