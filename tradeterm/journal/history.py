"""只读地取出控制台要的近期历史：日志窗格的事件、图表的 K 线、成交标记与权益曲线，以及算回合用的全部成交。

用同步 sqlite3 只读连接（`open_readonly`）读，WAL 模式下不阻塞正在写库的引擎；引擎在线程里调用（tradeterm/engine/queries.py）。
时间：events.ts 是墙上时间；bars、fills、equity 的 ts 是交易所时间（沙盒快速回放时两者相差很大）。
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any, Iterable

# 还没迁移过的空库、只有回测的旧库可能没有交易引擎的表：每个查询先看表在不在
from tradeterm.journal.schema import has_table


@dataclass(frozen=True)
class JournalFill:
    """日志库里的一笔成交，连同它所属订单的原因标签（回合的开仓、平仓原因）。"""

    ts: int               # 成交时间，UTC 毫秒（交易所时间）
    instance: str         # 策略实例名；手动订单为空串
    symbol: str           # 交易对
    side: str             # buy / sell
    price: float          # 成交价，计价货币
    amount: float         # 成交数量，基础货币
    fee: float            # 手续费金额，单位见 fee_currency
    fee_currency: str     # 手续费币种
    reason: str           # 所属订单的原因标签：策略信号（如 MACross.exit_long）、stop_loss、flatten、manual ...
    run_id: int           # 记账时的运行


def recent_events(conn: sqlite3.Connection, kinds: Iterable[str], limit: int) -> list[dict[str, Any]]:
    """最近 limit 条所给种类的事件（所有运行的），按写入先后：[{kind, ts, data}]；ts 为墙上时间，UTC 毫秒。"""
    kinds = tuple(kinds)
    if not kinds or not has_table(conn, "events"):
        return []
    marks = ", ".join("?" * len(kinds))
    rows = conn.execute(f"SELECT kind, ts, data FROM events WHERE kind IN ({marks}) ORDER BY id DESC LIMIT ?",
                        (*kinds, int(limit))).fetchall()
    return [{"kind": kind, "ts": int(ts), "data": json.loads(data)} for kind, ts, data in reversed(rows)]


def recent_bars(conn: sqlite3.Connection, symbol: str, timeframe: str, limit: int) -> list[list[float]]:
    """引擎记下的最近 limit 根已收盘 K 线，按时间：[[ts, open, high, low, close, volume]]，ts 为交易所时间。"""
    if not has_table(conn, "bars"):
        return []
    rows = conn.execute("SELECT ts, open, high, low, close, volume FROM bars WHERE symbol = ? AND timeframe = ? "
                        "ORDER BY ts DESC LIMIT ?", (symbol, timeframe, int(limit))).fetchall()
    return [list(row) for row in reversed(rows)]


def recent_fills(conn: sqlite3.Connection, symbols: Iterable[str], limit: int) -> list[dict[str, Any]]:
    """这些交易对上最近 limit 笔成交（所有运行的），按时间：[{ts, instance, symbol, side, price, amount}]；
    ts 为交易所时间，手动订单的 instance 为空串。"""
    symbols = tuple(symbols)
    if not symbols or not has_table(conn, "fills"):
        return []
    marks = ", ".join("?" * len(symbols))
    rows = conn.execute(f"SELECT ts, COALESCE(instance, ''), symbol, side, price, amount FROM fills "
                        f"WHERE symbol IN ({marks}) ORDER BY ts DESC, trade_id DESC LIMIT ?",
                        (*symbols, int(limit))).fetchall()
    keys = ("ts", "instance", "symbol", "side", "price", "amount")
    return [dict(zip(keys, row)) for row in reversed(rows)]


def equity_curve(conn: sqlite3.Connection, run_id: int, limit: int) -> list[list[float]]:
    """一次运行最近 limit 个账户权益采样，按时间：[[ts, equity]]，ts 为交易所时间，权益为计价货币。"""
    if not has_table(conn, "equity"):
        return []
    rows = conn.execute("SELECT ts, equity FROM equity WHERE run_id = ? AND instance = '' ORDER BY ts DESC LIMIT ?",
                        (int(run_id), int(limit))).fetchall()
    return [[int(ts), float(value)] for ts, value in reversed(rows)]


def trading_fills(conn: sqlite3.Connection) -> list[JournalFill]:
    """全部模拟盘/实盘成交（所有运行的），按时间，连同所属订单的原因标签（算回合用）。"""
    if not has_table(conn, "fills"):
        return []
    # 同一时刻的成交按交易所订单号与成交编号排（一张单的几笔部分成交保持交易所给的先后）
    rows = conn.execute(
        "SELECT f.ts, COALESCE(f.instance, ''), f.symbol, f.side, f.price, f.amount, f.fee, f.fee_currency, "
        "COALESCE(o.reason, ''), f.run_id FROM fills f LEFT JOIN orders o ON o.client_order_id = f.client_order_id "
        "ORDER BY f.ts, f.exchange_order_id, f.trade_id").fetchall()
    return [JournalFill(int(ts), instance, symbol, side, float(price), float(amount), float(fee), fee_currency,
                        reason, int(run_id))
            for ts, instance, symbol, side, price, amount, fee, fee_currency, reason, run_id in rows]
