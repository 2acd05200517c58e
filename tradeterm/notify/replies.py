"""聊天命令与每日汇总的文字：把引擎快照、`trades`、`pnl` 命令的结果排成手机上好读的几行英文纯文本。

输入都是引擎命令接口的结果（EngineClient.snapshot / command，键见 tradeterm/engine/client.py 与
tradeterm/engine/queries.py），所以这里的文字与控制台、`tradeterm ctl` 看到的是同一份数据。
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any


def num(value: Any, digits: int = 8) -> str:
    """数字的简短写法（最多 digits 位有效数字）；None 为 "-"。"""
    if value is None:
        return "-"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:.{digits}g}"
    return str(value)


def money(value: Any) -> str:
    """金额：两位小数，带正负号；None 为 "-"。"""
    return "-" if value is None else f"{value:+,.2f}"


def day(ts: int | None) -> str:
    """UTC 毫秒 -> 'YYYY-MM-DD HH:MM'；None 为 "-"。"""
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")


def account_line(snapshot: dict[str, Any]) -> str:
    """权益、现金与回撤一行。"""
    account = snapshot["account"]
    quote = account.get("quote", "")
    return (f"equity {account['equity']:,.2f} {quote} | cash {account['cash']:,.2f} | "
            f"drawdown {account['drawdown'] * 100:.2f}%")


def status_text(snapshot: dict[str, Any]) -> str:
    """/status：模式、账户、一键停止与熔断、每个实例的状态与持仓、陈旧行情、对账问题。"""
    lines = [f"tradeterm {snapshot['mode']} on {snapshot['exchange']}", account_line(snapshot)]
    account = snapshot["account"]
    if account.get("killed"):
        lines.append("KILL SWITCH ENGAGED: new orders are blocked (/kill_reset to reset)")
    if account.get("breaker"):
        lines.append(f"circuit breaker: {account['breaker']}")
    lines.append("")
    for row in snapshot["instances"]:
        position = f"pos {num(row['position'])}" if row["position"] else "flat"
        pnl = row["realized_pnl"] + (row["unrealized_pnl"] or 0.0)
        lines.append(f"{row['name']}: {row['status']} | {row['symbol']} {row['interval']} {row['strategy']} | "
                     f"{position} | pnl {money(pnl)}")
        if row.get("error"):
            lines.append(f"  error: {row['error']}")
    if not snapshot["instances"]:
        lines.append("no instances are running")
    for feed in snapshot.get("stale") or []:
        lines.append(f"STALE feed: {feed}")
    for problem in snapshot.get("problems") or []:
        lines.append(f"reconcile problem: {problem}")
    return "\n".join(lines)


def positions_text(snapshot: dict[str, Any]) -> str:
    """/positions：每个非零持仓的数量、开仓价、标记价与浮动盈亏。"""
    rows = snapshot["positions"]
    if not rows:
        return "No open positions."
    lines = [f"{len(rows)} open position(s):"]
    for row in rows:
        lines.append(f"{row['instance'] or 'manual'}: {num(row['amount'])} {row['symbol']} @ {num(row['entry_price'])} "
                     f"| mark {num(row['mark'])} | unrealized {money(row['unrealized_pnl'])}")
    return "\n".join(lines)


def orders_text(snapshot: dict[str, Any]) -> str:
    """/orders：挂单。"""
    rows = snapshot["orders"]
    if not rows:
        return "No open orders."
    lines = [f"{len(rows)} open order(s):"]
    for row in rows:
        price = f" @ {num(row.get('price'))}" if row.get("price") else ""
        lines.append(f"{row.get('instance') or 'manual'}: {str(row.get('side', '')).upper()} {num(row.get('amount'))} "
                     f"{row.get('symbol')} {row.get('type', '')}{price} | {row.get('status')} | "
                     f"{row.get('client_order_id')}")
    return "\n".join(lines)


def balance_text(snapshot: dict[str, Any]) -> str:
    """/balance：权益、现金、持仓市值、回撤。"""
    account = snapshot["account"]
    held = sum(row["amount"] * row["mark"] for row in snapshot["positions"] if row["mark"])
    quote = account.get("quote", "")
    return "\n".join([f"equity: {account['equity']:,.2f} {quote}", f"cash: {account['cash']:,.2f} {quote}",
                      f"positions value: {held:,.2f} {quote}", f"drawdown: {account['drawdown'] * 100:.2f}%"])


def summary_line(summary: dict[str, Any]) -> str:
    """一组已平仓回合的统计一行。"""
    if not summary["trades"]:
        return "no closed trades"
    rate = f"{summary['win_rate'] * 100:.0f}%" if summary["win_rate"] is not None else "-"
    factor = num(summary["profit_factor"], 3)
    return (f"{summary['trades']} trades, win rate {rate}, net {money(summary['pnl'])}, fees {summary['fees']:.2f}, "
            f"profit factor {factor}")


def profit_text(pnl: dict[str, Any]) -> str:
    """/profit：全部已平仓回合的统计与按实例的净盈亏。"""
    lines = [f"Realized: {summary_line(pnl['summary'])}"]
    for row in pnl["by_instance"]:
        lines.append(f"{row['instance'] or 'manual'}: {money(row['pnl'])} over {row['trades']} trade(s)")
    return "\n".join(lines)


def daily_text(pnl: dict[str, Any]) -> str:
    """/daily [n]：最近 n 个（UTC）日的已实现盈亏。"""
    rows = pnl["periods"]
    if not rows:
        return "No closed trades yet."
    lines = [f"Realized P&L per {pnl['period']} (UTC):"]
    for row in rows:
        lines.append(f"{row['start']}: {money(row['pnl'])} ({row['trades']} trade(s))")
    return "\n".join(lines)


def trades_text(trades: dict[str, Any]) -> str:
    """/trades [n]：最近的已平仓回合（新的在前）与仍持有的回合。"""
    lines = [f"Closed: {summary_line(trades['summary'])}"]
    for row in trades["trades"]:
        lines.append(f"{day(row['exit_ts'])} {row['instance'] or 'manual'} {row['side']} {num(row['amount'])} "
                     f"{row['symbol']} {num(row['entry_price'])} -> {num(row['exit_price'])} {money(row['pnl'])}")
    for row in trades["open"]:
        lines.append(f"open: {row['instance'] or 'manual'} {row['side']} {num(row['amount'])} {row['symbol']} "
                     f"since {day(row['entry_ts'])}")
    return "\n".join(lines)
