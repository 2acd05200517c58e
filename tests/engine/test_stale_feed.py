"""陈旧行情报警：沙盒的故障注入让 BTC 的 K 线流落后（REST 仍是当前行情），引擎的看门狗按交易所时间发现它落后
超过界限：发 STALE 事件、快照点名、风控拒绝 BTC 上的新开仓（ETH 不受影响）；落后期间窗口用 REST 分页一次追上，
故障解除后报警解除。
"""

from __future__ import annotations

import json
import sqlite3

from tests.engine.conftest import flip, wait_for
from tradeterm.engine.events import EventKind
from tradeterm.models import Side

# 注入的流滞后，毫秒（模拟时间）：40 根 1 分钟 K 线（600 倍速下约 4 秒）
LAG_MS = 40 * 60_000
# 测试的陈旧界限，根（比默认的 2 宽：600 倍速下 2 根只有 0.2 秒，负载很重的机器上未受干扰的 ETH 也可能短暂超过）
BOUND = 8


class Collector:
    """记下收到的每个通知事件的通知器（测试用）。"""

    def __init__(self) -> None:
        """空列表。"""
        # 收到的事件
        self.events: list = []

    def notify(self, event) -> None:
        """记下事件。"""
        self.events.append(event)


def events_of(handle, kind: str) -> list[dict]:
    """日志库里某种事件的负载（按写入顺序）。"""
    conn = sqlite3.connect(handle.engine.journal.path)
    try:
        return [json.loads(r[0]) for r in conn.execute("SELECT data FROM events WHERE kind = ? ORDER BY id", (kind,))]
    finally:
        conn.close()


async def test_lagging_feed_raises_the_alarm_refuses_entries_and_catches_up(start_engine, sandbox):
    """BTC 流落后 10 根：报警、拒绝 BTC 开仓（规则 stale_after）、ETH 照常；解除后追上、报警解除。"""
    handle = await start_engine([flip("flip_btc", "BTC/USDT", 4), flip("flip_eth", "ETH/USDT", 4)],
                                risk={"stale_feed_bars": BOUND})
    engine = handle.engine
    subscription = engine.bus.subscribe(maxsize=200_000)
    notified = Collector()
    engine.notifier.add(notified)
    await wait_for(lambda: engine.mark_price("BTC/USDT") > 0 and engine.mark_price("ETH/USDT") > 0, 20, "prices")
    sandbox.faults.lag_stream("BTCUSDT", LAG_MS)
    feed = engine.feeds.status[("BTC/USDT", "1m")]
    await wait_for(lambda: feed.stale, 30, "the BTC feed to be marked stale")
    assert feed.lag_bars > BOUND
    assert engine.feeds.status[("ETH/USDT", "1m")].lag_bars < feed.lag_bars

    snapshot = engine.snapshot()
    assert "BTC/USDT 1m" in snapshot["stale"]
    # 事件经唯一的写者落盘：等它提交（内存里的状态先变，日志库随后）
    await wait_for(lambda: any(e["stale"] for e in events_of(handle, "stale")), 10, "the journaled stale event")
    stale_events = [e for e in events_of(handle, "stale") if e["stale"]]
    assert stale_events and stale_events[0]["symbol"] == "BTC/USDT"
    # 风控：BTC 上的新开仓被拒（stale_after），减仓与 ETH 不受影响
    _, decision = engine.check_manual("BTC/USDT", Side.BUY, 0.001)
    assert not decision.allowed and decision.rule == "stale_after" and "behind the exchange" in decision.reason
    if not engine.feeds.status[("ETH/USDT", "1m")].stale:
        _, decision = engine.check_manual("ETH/USDT", Side.BUY, 0.01)
        assert decision.allowed, decision.reason
    # 策略自己的开仓也被拒：等 BTC 实例的一次 stale_after 拒绝（Flip 每 4 根开一次仓）
    await wait_for(lambda: any(e.get("rule") == "stale_after" and e.get("instance") == "flip_btc"
                               for e in events_of(handle, "rejection")), 30, "a refused BTC entry")

    sandbox.faults.lag_stream("BTCUSDT", 0)
    await wait_for(lambda: not feed.stale, 30, "the BTC feed to catch up")
    assert feed.lag_bars <= BOUND
    # 追上是一次 REST 分页补取（缺口事件），不是逐根交易落后的 K 线
    def gaps_of_btc() -> list[dict]:
        """日志库里 BTC 的缺口事件。"""
        return [e for e in events_of(handle, "log") if "gap:" in e.get("message", "") and e.get("symbol") == "BTC/USDT"]

    await wait_for(lambda: bool(gaps_of_btc()), 10, "a journaled BTC gap event")
    gaps = gaps_of_btc()
    assert gaps and max(g["gap_last_ts"] - g["gap_first_ts"] for g in gaps) >= 2 * 60_000
    seen = subscription.drain()
    subscription.close()
    assert any(e.kind is EventKind.STALE and e.data["stale"] for e in seen)
    assert any(e.kind is EventKind.STALE and not e.data["stale"] for e in seen)
    # 通知挂钩收到了报警与解除
    assert [e.data["stale"] for e in notified.events if e.kind is EventKind.STALE][:1] == [True]
    assert any(e.kind is EventKind.STALE and not e.data["stale"] for e in notified.events)
