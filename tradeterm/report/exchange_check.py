"""交易所成交历史 vs 日志库：交易所上本账户的每笔成交都必须在日志库里（replay-check 的一部分）。

一笔成交的身份是（交易所订单号, 成交编号）；交易所上有而日志库没有的成交就是丢失的成交——无论它属于本引擎的订单
（宕机时成交、从未补记），还是不属于（有人在别处用同一个账户下了单）：两种都让日志库的持仓与交易所不符，都算失败。
交易所从哪里来：
- 进程内沙盒（默认配置）：用它的状态文件（`exchange.sandbox_state`）在本进程里起一个沙盒来读（引擎正在运行时
  状态文件被锁着，检查跳过并说明）；
- `sandbox_url`：连那个正在运行的沙盒；
- 实盘：用与引擎相同的密钥读 Binance 的成交历史（从日志库第一次运行开始）；
- 真实交易所上的模拟盘：没有交易所一侧的成交，跳过。
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tradeterm.config.schema import AppConfig
from tradeterm.errors import UserError
from tradeterm.models import Mode


@dataclass
class ExchangeCheck:
    """交易所成交历史与日志库的比较结果。"""

    checked: bool = False                               # 是否真的比较了（读不到交易所时为 False，见 note）
    exchange_trades: int = 0                            # 交易所上本账户在这些交易对上的成交笔数
    missing: list[str] = field(default_factory=list)    # 日志库缺的成交（英文一行一笔）
    note: str = ""                                      # 没有比较的原因，或比较范围的说明

    @property
    def passed(self) -> bool:
        """没有丢失的成交（没比较时也算通过，但 note 写明了原因）。"""
        return not self.missing

    def to_dict(self) -> dict[str, Any]:
        """JSON 用的字典。"""
        return {"checked": self.checked, "exchange_trades": self.exchange_trades, "missing": list(self.missing),
                "note": self.note}


def journal_fill_keys(journal: Path) -> tuple[set[tuple[str, str]], dict[str, str], list[str], int | None]:
    """日志库一侧：已记账成交的（交易所订单号, 成交编号）、交易所订单号 -> 客户端订单号、涉及的交易对、
    第一次运行的开始时间（UTC 毫秒；没有运行时为 None）。"""
    conn = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
    try:
        fills = {(str(r[0]), str(r[1])) for r in conn.execute("SELECT exchange_order_id, trade_id FROM fills")}
        orders = {str(r[0]): r[1] for r in conn.execute(
            "SELECT exchange_order_id, client_order_id FROM orders WHERE exchange_order_id IS NOT NULL")}
        symbols = sorted({r[0] for r in conn.execute("SELECT symbol FROM orders")})
        first = conn.execute("SELECT MIN(started_ts) FROM runs WHERE kind IN ('paper', 'live')").fetchone()[0]
    finally:
        conn.close()
    return fills, orders, symbols, first


def compare(trades: list[Any], fills: set[tuple[str, str]], orders: dict[str, str]) -> list[str]:
    """交易所成交（TradeReport 列表）里日志库没有的，每笔一行说明。"""
    missing = []
    for trade in trades:
        if (trade.exchange_order_id, trade.trade_id) in fills:
            continue
        owner = (f"order {orders[trade.exchange_order_id]} of this engine" if trade.exchange_order_id in orders
                 else "an order this journal does not know (placed elsewhere?)")
        missing.append(f"trade {trade.trade_id} on {trade.symbol}: {trade.side.value} {trade.amount:g} @ "
                       f"{trade.price:g} (exchange order {trade.exchange_order_id}, {owner}) is not in the journal")
    return missing


async def check_exchange_history(config: AppConfig, journal: Path) -> ExchangeCheck:
    """按配置找到交易所，比较它的成交历史与日志库。读不到交易所时返回 checked=False 与原因。"""
    if not config.exchange.sandbox and config.mode is not Mode.LIVE:
        return ExchangeCheck(note="paper trading on a real exchange: fills are simulated locally, there is no "
                                  "exchange-side trade history to compare")
    fills, orders, symbols, first = journal_fill_keys(journal)
    opened = await _open_exchange(config)
    if isinstance(opened, ExchangeCheck):
        return opened
    client, sandbox = opened
    from tradeterm.broker.ccxt_broker import CcxtBroker

    try:
        broker = CcxtBroker(client)
        await broker.load_markets()
        # 沙盒的成交时间是它的模拟时间（与墙上时间无关）：取全部历史；实盘从日志库第一次运行开始
        since = None if config.exchange.sandbox else first
        trades = [t for symbol in symbols for t in await broker.my_trades(symbol, since)]
    finally:
        await client.close()
        if sandbox is not None:
            await sandbox.stop()
    return ExchangeCheck(True, len(trades), compare(trades, fills, orders),
                         f"compared {len(trades)} exchange trade(s) on {', '.join(symbols) or 'no symbol'} "
                         f"with {len(fills)} journal fill(s)")


async def _open_exchange(config: AppConfig) -> tuple[Any, Any] | ExchangeCheck:
    """(ccxt 客户端, 进程内起的沙盒或 None)；读不到时返回说明原因的 ExchangeCheck。"""
    from tradeterm.exchange.client import make_client
    from tradeterm.sandbox.defaults import DEFAULT_API_KEY, DEFAULT_SECRET

    if config.exchange.sandbox and config.exchange.sandbox_url:
        return make_client(config.exchange.sandbox_url, api_key=DEFAULT_API_KEY, secret=DEFAULT_SECRET), None
    if config.exchange.sandbox:
        from tradeterm.engine.factory import config_symbols, sandbox_state_path
        from tradeterm.sandbox.server import SandboxExchange

        state = sandbox_state_path(config)
        if not state.exists():
            return ExchangeCheck(note=f"no sandbox state file {state}: nothing to compare")
        try:
            sandbox = await SandboxExchange(port=0, symbols=config_symbols(config) or ("BTC/USDT",),
                                            state_path=state).start()
        except UserError as exc:
            return ExchangeCheck(note=f"could not open the sandbox state ({exc}); stop the engine to compare "
                                      f"the exchange's trade history")
        return sandbox.client(), sandbox
    from tradeterm.config.credentials import load_credentials

    credentials = load_credentials(config.exchange.key_env_prefix, config.exchange.key_file)
    return make_client(None, api_key=credentials.api_key, secret=credentials.secret), None
