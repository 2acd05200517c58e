"""优雅退出不丢成交：引擎停止的那一刻正有一张市价单在路上（沙盒把下单请求压住几秒），停止要等它落地，把成交记进
日志库；停止之后交易所上本账户的每笔成交都在日志库里，订单不再是 new。

行情用停住的沙盒时钟（测试一根一根地拨），“停止时订单在途”这一时刻由条件选出（沙盒已收到下单请求、引擎还在等回音），
与机器快慢无关。"""

from __future__ import annotations

import sqlite3

import pytest

from tests.engine.conftest import close, flip, frozen_sandbox, nudge_until, start_engine  # noqa: F401（夹具）
from tradeterm.models import OrderStatus

# 沙盒压住下单请求的秒数：足够让测试在这期间停止引擎，又远小于客户端 10 秒的超时
HOLD_S = 3.0
# 最多拨的 K 线根数（Flip period=2 每两根就有一张单）
MAX_BARS = 12


@pytest.fixture
async def sandbox(frozen_sandbox):
    """本模块的引擎连时钟停住的沙盒。"""
    yield frozen_sandbox


def journal_fills(path) -> set[tuple[str, str]]:
    """日志库里已记账的成交身份（交易所订单号, 成交编号）。"""
    conn = sqlite3.connect(path)
    try:
        return {(str(a), str(b)) for a, b in conn.execute("SELECT exchange_order_id, trade_id FROM fills")}
    finally:
        conn.close()


async def test_stopping_while_a_market_order_is_in_flight_books_its_fill(start_engine, sandbox):
    """停止时一张市价单已到沙盒、还没有回音：stop 等它落地，成交进了日志库，日志库与交易所的成交一一对上。"""
    handle = await start_engine([flip(period=2)])
    engine = handle.engine
    journal = engine.journal.path
    (status,) = engine.feeds.status.values()
    # 先等订阅收到第一条推送（它只报正在走的那根；登记订阅时已记下一个时刻，要比它新）
    registered = status.last_update_ms
    await nudge_until(sandbox, lambda: status.last_update_ms > registered, "the bar feed's first push")
    sandbox.faults.slow_http(HOLD_S, path="/api/v3/order", method="POST")
    rule = sandbox.faults.http_rules[-1]

    def held() -> bool:
        """下单请求已被沙盒压住（规则的次数已用掉），引擎还在等回音。"""
        return bool(engine.execution.in_flight) and rule.times == 0

    for _ in range(MAX_BARS):
        sandbox.clock.advance(status.step_ms)
        target = sandbox.clock.now() // status.step_ms * status.step_ms - status.step_ms
        # 要么这根收盘了没有下单（相位不对），要么下单请求已被沙盒压住（规则已取走）而引擎还在等回音
        await nudge_until(sandbox, lambda: status.last_bar_ts >= target or held(), "the bar to close")
        if held():
            break
    assert held(), f"no order was sent within {MAX_BARS} bars"
    sent = set(engine.execution.in_flight)
    await close(handle)
    # 交易所一侧：这张单成交了
    trades = sandbox.account().trades
    assert trades, "stop returned before the held order landed on the exchange"
    exchange_keys = {(str(t.order_id), str(t.trade_id)) for t in trades}
    # 日志库一侧：每笔交易所成交都记下了（旧代码在这里少一笔：行情任务被取消时下单协程随之取消，成交没有记账）
    assert exchange_keys <= journal_fills(journal)
    conn = sqlite3.connect(journal)
    try:
        rows = dict(conn.execute(f"SELECT client_order_id, status FROM orders WHERE client_order_id IN "
                                 f"({','.join('?' * len(sent))})", sorted(sent)).fetchall())
    finally:
        conn.close()
    assert rows and all(value == OrderStatus.FILLED.value for value in rows.values()), rows
