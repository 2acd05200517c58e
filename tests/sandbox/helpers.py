"""沙盒测试的小工具：在回放序列里找“之后会被穿过”的价格，并把模拟时钟拨到那里。"""

from __future__ import annotations

from tradeterm.sandbox import SandboxExchange


def future_cross(sandbox: SandboxExchange, symbol: str, direction: int, distance: float = 0.002,
                 horizon: int = 600) -> tuple[float, int]:
    """找之后 horizon 根内第一根最低价（direction=-1）或最高价（+1）离当前价超过 distance（比例）的 K 线。

    返回（在那根 K 线里一定会被穿过的价格，落在价格网格上, 那根 K 线收盘时的模拟时间 UTC 毫秒）。
    """
    market = sandbox.market(symbol)
    series = market.series
    now = sandbox.clock.now()
    index, _ = series.position(now)
    series.ensure(index + horizon)
    current = market.price(now)
    tick = market.spec.price_tick
    for j in range(index + 1, index + horizon):
        if direction < 0 and series.low[j] < current * (1 - distance):
            return round((series.low[j] + 2 * tick) / tick) * tick, series.bar_ts(j + 1)
        if direction > 0 and series.high[j] > current * (1 + distance):
            return round((series.high[j] - 2 * tick) / tick) * tick, series.bar_ts(j + 1)
    raise AssertionError("no bar in the horizon crosses the wanted distance")


async def run_until(sandbox: SandboxExchange, ts: int) -> None:
    """把模拟时钟拨到 ts（UTC 毫秒）之后，并立即推进一个节拍（撮合期间经过的每根 K 线）。"""
    gap = ts - sandbox.clock.now()
    if gap > 0:
        sandbox.clock.advance(gap + 1)
    await sandbox.tick()
