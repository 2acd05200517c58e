"""引擎的只读查询：状态快照（snapshot_of），以及查询命令 `history`（控制台启动与附着时的近期历史）、`trades`（回合）、`pnl`（按周期、实例、交易对的盈亏）。

数据都来自引擎自己的日志库：在线程里用只读连接读（tradeterm/journal/history.py），不占事件循环、不阻塞写者。
两种客户端（进程内、控制套接字）与 `tradeterm ctl trades` / `ctl pnl` 拿到的是同一份数据。
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import TYPE_CHECKING, Any, Callable

from tradeterm.journal import history
from tradeterm.journal.reader import open_readonly
from tradeterm.report.round_trips import RoundTrip, pnl_by_key, pnl_by_period, round_trips, summarize

if TYPE_CHECKING:  # 只为类型标注
    from tradeterm.engine.trader import TraderEngine

# 日志窗格历史的事件种类（与控制台日志窗格显示的种类相同）
LOG_KINDS = ("fill", "signal", "rejection", "error", "breaker", "instance", "log", "order", "stale", "kill_switch",
             "reconcile")
# history 缺省给的日志条数
HISTORY_EVENTS = 300
# history 缺省给的每个 (交易对, 周期) 的 K 线根数（与控制台保留的根数相同）
HISTORY_BARS = 240
# history 缺省给的成交标记条数
HISTORY_FILLS = 500
# history 缺省给的权益采样点数
HISTORY_EQUITY = 2000
# trades 缺省给的回合数（最近的）
TRADES_LIMIT = 100
# pnl 缺省的周期个数
PNL_COUNT = 7


async def _read(engine: "TraderEngine", query: Callable[[sqlite3.Connection], Any]) -> Any:
    """在线程里对引擎的日志库执行一个只读查询。"""
    def run() -> Any:
        """打开只读连接、查询、关闭。"""
        conn = open_readonly(engine.journal.path)
        try:
            return query(conn)
        finally:
            conn.close()

    return await asyncio.to_thread(run)


async def history_of(engine: "TraderEngine", events: int | None, bars: int | None) -> dict[str, Any]:
    """近期历史：日志事件、每个实例的 (交易对, 周期) 的 K 线、成交标记与本次运行的权益曲线（键见 README 的控制台一节）。"""
    series = list(dict.fromkeys((bot.symbol, bot.strategy.timeframe) for bot in engine.bots.values()))
    symbols = list(dict.fromkeys(symbol for symbol, _ in series))
    run_id = engine.journal.run_id or 0
    bar_count = bars or HISTORY_BARS

    def query(conn: sqlite3.Connection) -> dict[str, Any]:
        """一次读出全部历史。"""
        return {"events": history.recent_events(conn, LOG_KINDS, events or HISTORY_EVENTS),
                "bars": [{"symbol": symbol, "timeframe": timeframe,
                          "rows": history.recent_bars(conn, symbol, timeframe, bar_count)}
                         for symbol, timeframe in series],
                "fills": history.recent_fills(conn, symbols, HISTORY_FILLS),
                "equity": history.equity_curve(conn, run_id, HISTORY_EQUITY)}

    return await _read(engine, query)


async def all_round_trips(engine: "TraderEngine") -> list[RoundTrip]:
    """日志库里全部模拟盘/实盘成交组成的回合（已平仓的与仍持有的）。"""
    return round_trips(await _read(engine, history.trading_fills))


def _matching(trips: list[RoundTrip], instance: str | None) -> list[RoundTrip]:
    """只留某个实例的回合（instance 为 None 时全部；手动订单的实例名写 manual）。"""
    if instance is None:
        return trips
    wanted = "" if instance == "manual" else instance
    return [t for t in trips if t.instance == wanted]


def trades_result(trips: list[RoundTrip], instance: str | None, limit: int | None) -> dict[str, Any]:
    """`trades` 命令的结果：最近的已平仓回合（新的在前）、仍持有的回合与全部已平仓回合的统计。"""
    trips = _matching(trips, instance)
    closed = [t for t in trips if not t.is_open]
    recent = sorted(closed, key=lambda t: t.exit_ts or 0, reverse=True)[:limit or TRADES_LIMIT]
    return {"trades": [t.to_dict() for t in recent], "open": [t.to_dict() for t in trips if t.is_open],
            "summary": summarize(closed)}


def pnl_result(trips: list[RoundTrip], period: str | None, count: int | None, instance: str | None,
               until_ts: int | None = None) -> dict[str, Any]:
    """`pnl` 命令的结果：最近 count 个日/周/月、按实例、按交易对的已实现盈亏，以及合计。"""
    trips = _matching(trips, instance)
    period = period or "day"
    return {"period": period, "periods": pnl_by_period(trips, period, count or PNL_COUNT, until_ts=until_ts),
            "by_instance": pnl_by_key(trips, "instance"), "by_symbol": pnl_by_key(trips, "symbol"),
            "summary": summarize([t for t in trips if not t.is_open])}


async def trades_of(engine: "TraderEngine", instance: str | None, limit: int | None) -> dict[str, Any]:
    """引擎日志库里的回合（见 trades_result）。"""
    return trades_result(await all_round_trips(engine), instance, limit)


async def pnl_of(engine: "TraderEngine", period: str | None, count: int | None,
                 instance: str | None) -> dict[str, Any]:
    """引擎日志库里的已实现盈亏（见 pnl_result）。"""
    return pnl_result(await all_round_trips(engine), period, count, instance)


def snapshot_of(engine: "TraderEngine") -> dict[str, Any]:
    """引擎状态快照（可 JSON 序列化）：模式、实例、持仓、挂单、账户、行情订阅、陈旧行情、对账问题、通知渠道的统计、
    “收盘 -> 下单”延迟的分位数。"""
    from tradeterm.engine.execution import order_dict

    equity = engine.equity()
    latencies = sorted(engine.latencies_ms)
    return {
        "mode": engine.mode, "exchange": engine.exchange_label, "run_id": engine.journal.run_id,
        "instances": [b.summary() for b in engine.bots.values()],
        "positions": [{"instance": name, "symbol": p.symbol, "amount": p.amount, "entry_price": p.entry_price,
                       "mark": mark, "unrealized_pnl": p.unrealized_pnl(mark)} for name, p, mark in
                      engine.all_positions()],
        "orders": [order_dict(o) for o in engine.orders.open_orders()],
        "account": {"equity": equity, "cash": engine.cash(), "drawdown": engine.risk.breakers.drawdown(equity),
                    "breaker": engine.risk.breakers.blocking_at(int(time.time() * 1000)) or "",
                    "killed": engine.risk.killed,
                    "quote": engine.config.account.quote_currency},
        "feeds": engine.feeds.summaries(),
        "stale": [f"{s['symbol']} {s['timeframe']}" for s in engine.feeds.summaries() if s["stale"]],
        "problems": list(engine.problems),
        "notify": engine.notify_stats(),
        "latency_ms": {"count": len(latencies),
                       "p50": latencies[len(latencies) // 2] if latencies else None,
                       "p99": latencies[int(len(latencies) * 0.99)] if latencies else None},
    }
