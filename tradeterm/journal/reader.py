"""只读地取出一次模拟盘/实盘运行的记录（订单、成交、事件、K 线），供 `tradeterm replay-check` 与报表使用。

用同步 sqlite3 连接读（与界面、报表读库的方式相同，WAL 模式下不阻塞正在运行的引擎）。时间的两种来源要分清：
订单的 created_ts 与事件的 ts 是墙上时间；成交的 ts、K 线的 ts、订单与事件里的 bar_ts 是交易所时间
（沙盒快速回放时两者相差很大），比较只用交易所时间。
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from tradeterm.errors import UserError
from tradeterm.models.bar import OHLCV_COLUMNS

# 可以做回放对照的运行类型
TRADING_KINDS = ("paper", "live")


@dataclass(frozen=True)
class LiveOrder:
    """日志库里的一张订单（replay-check 需要的字段）。"""

    client_order_id: str  # 客户端订单号
    instance: str | None  # 策略实例名；手动订单为 None
    symbol: str           # 交易对
    side: str             # buy / sell
    amount: float         # 下单数量，基础货币
    status: str           # 最终（或当前）状态，如 filled / rejected
    filled: float         # 已成交数量，基础货币
    reason: str           # 原因标签：策略信号（如 MACross.enter_long）、stop_loss、flatten、manual、拒绝说明
    created_ts: int       # 创建时间，UTC 毫秒（墙上时间）
    bar_ts: int | None    # 决定下单时最后一根已收盘 K 线的开盘时间，UTC 毫秒（交易所时间）；旧库或手动单为 None


@dataclass(frozen=True)
class LiveFill:
    """日志库里的一笔成交。"""

    client_order_id: str  # 所属订单的客户端订单号
    instance: str | None  # 策略实例名；手动订单为 None
    side: str             # buy / sell
    price: float          # 成交价，计价货币
    amount: float         # 成交数量，基础货币
    fee: float            # 手续费金额，单位见 fee_currency
    fee_currency: str     # 手续费币种
    ts: int               # 成交时间，UTC 毫秒（交易所时间）


@dataclass(frozen=True)
class JournalEvent:
    """日志库 events 表的一行。"""

    kind: str              # 事件种类：instance、rejection、error、breaker、log 等
    ts: int                # 记录时间，UTC 毫秒（墙上时间）
    data: dict[str, Any]   # 负载（JSON 解出的字典）


@dataclass
class RunRecord:
    """一次模拟盘/实盘运行的全部记录。"""

    run_id: int                       # runs.id
    kind: str                         # paper 或 live
    started_ts: int                   # 开始时间，UTC 毫秒（墙上时间）
    finished_ts: int | None           # 结束时间，UTC 毫秒（墙上时间）；None 表示仍在运行或被杀掉
    first_bar_ts: int                 # 本次运行第一根实时收盘 K 线的开盘时间，UTC 毫秒（交易所时间）
    last_bar_ts: int                  # 本次运行最后一根实时收盘 K 线的开盘时间，UTC 毫秒（交易所时间）
    timeframe: str                    # 第一根实时 K 线的周期
    starting_cash: float              # 初始资金，计价货币
    settings: dict[str, Any]          # runs.settings：交易所、费率、仓位、风控与各实例（TraderEngine.run_settings）
    orders: list[LiveOrder] = field(default_factory=list)         # 本次运行的订单，按创建顺序
    fills: list[LiveFill] = field(default_factory=list)           # 本次运行的成交，按时间
    prior_fills: list[LiveFill] = field(default_factory=list)     # 之前各次运行的成交（决定开始时的持仓）
    events: list[JournalEvent] = field(default_factory=list)      # 本次运行的事件，按写入顺序


def open_readonly(path: str | Path) -> sqlite3.Connection:
    """只读打开日志库；文件不存在时抛 UserError。"""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"journal '{path}' does not exist; pass --journal PATH or --config with the config.yml "
                        f"whose journal.path holds the run")
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def latest_trading_run(conn: sqlite3.Connection) -> int:
    """最近一次模拟盘/实盘运行的 id；没有时抛 UserError。"""
    row = conn.execute(f"SELECT MAX(id) FROM runs WHERE kind IN {TRADING_KINDS}").fetchone()
    if row is None or row[0] is None:
        raise UserError("the journal has no paper or live run yet; run the engine first ('tradeterm run'), "
                        "then check that run")
    return int(row[0])


def read_run(conn: sqlite3.Connection, run_id: int) -> RunRecord:
    """读取一次运行的记录（不含 K 线，见 read_bars）。不是模拟盘/实盘运行或没有实时 K 线时抛 UserError。"""
    row = conn.execute("SELECT kind, started_ts, finished_ts, first_bar_ts, last_bar_ts, timeframe, starting_cash, "
                       "settings FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        raise UserError(f"run {run_id} is not in the journal; list runs with sqlite3 or omit RUN for the latest one")
    kind, started, finished, first, last, timeframe, cash, settings = row
    if kind not in TRADING_KINDS:
        raise UserError(f"run {run_id} is a {kind} run; replay-check compares a paper or live run with its backtest, "
                        f"pass the id of a paper/live run")
    if first is None or last is None:
        raise UserError(f"run {run_id} never saw a live closed bar (it stopped during start-up); nothing to compare")
    record = RunRecord(run_id, kind, int(started), finished, int(first), int(last), str(timeframe), float(cash),
                       json.loads(settings))
    record.orders = _orders(conn, run_id)
    record.fills = _fills(conn, "run_id = ?", run_id)
    record.prior_fills = _fills(conn, "run_id < ?", run_id)
    record.events = [JournalEvent(k, int(ts), json.loads(data)) for k, ts, data in conn.execute(
        "SELECT kind, ts, data FROM events WHERE run_id = ? ORDER BY id", (run_id,))]
    return record


def _orders(conn: sqlite3.Connection, run_id: int) -> list[LiveOrder]:
    """一次运行的订单，按创建时间。"""
    columns = {r[1] for r in conn.execute("PRAGMA table_info(orders)")}
    bar = "bar_ts" if "bar_ts" in columns else "NULL"  # 第 4 版之前的库没有这一列
    rows = conn.execute(f"SELECT client_order_id, instance, symbol, side, amount, status, filled, reason, created_ts, "
                        f"{bar} FROM orders WHERE run_id = ? ORDER BY created_ts, rowid", (run_id,))
    return [LiveOrder(*r) for r in rows]


def _fills(conn: sqlite3.Connection, where: str, run_id: int) -> list[LiveFill]:
    """按条件取成交，按时间。"""
    rows = conn.execute(f"SELECT client_order_id, instance, side, price, amount, fee, fee_currency, ts FROM fills "
                        f"WHERE {where} ORDER BY ts, trade_id", (run_id,))
    return [LiveFill(*r) for r in rows]


def read_bars(conn: sqlite3.Connection, symbol: str, timeframe: str, since: int, until: int) -> pd.DataFrame:
    """引擎记下的 K 线（开盘时间在 [since, until]），列为 timestamp,open,high,low,close,volume，按时间排序。"""
    rows = conn.execute("SELECT ts, open, high, low, close, volume FROM bars WHERE symbol = ? AND timeframe = ? "
                        "AND ts BETWEEN ? AND ? ORDER BY ts", (symbol, timeframe, int(since), int(until))).fetchall()
    frame = pd.DataFrame(rows, columns=list(OHLCV_COLUMNS))
    return frame.astype({"timestamp": "int64", **{c: "float64" for c in OHLCV_COLUMNS[1:]}})
