"""`tradeterm ctl trades` 与 `tradeterm ctl pnl`：参数换成引擎的 `trades` / `pnl` 命令参数，结果排成人读的表。

数字与控制台的交易屏相同（同一个命令）；时间是成交的交易所时间（UTC）。
"""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from typing import Any

from tradeterm.errors import UserError


def report_args(args: argparse.Namespace) -> dict[str, Any]:
    """ctl trades / pnl 的命令行参数 -> 引擎命令的参数；个数不是正整数时抛 UserError（写明旗标与修正方法）。"""
    for flag in ("limit", "daily", "weekly", "monthly"):
        value = getattr(args, flag, None)
        if value is not None and value < 1:
            raise UserError(f"--{flag} {value}: must be 1 or more, e.g. --{flag} 7")
    if args.action == "trades":
        for flag in ("daily", "weekly", "monthly"):
            if getattr(args, flag) is not None:
                raise UserError(f"--{flag} is for 'ctl pnl'; 'ctl trades' takes --limit N")
        return {"instance": args.target, "limit": args.limit}
    if args.limit is not None:
        raise UserError("--limit is for 'ctl trades'; 'ctl pnl' takes --daily N, --weekly N or --monthly N")
    period, count = "day", args.daily
    if args.weekly is not None:
        period, count = "week", args.weekly
    elif args.monthly is not None:
        period, count = "month", args.monthly
    return {"instance": args.target, "period": period, "count": count}


def _when(ts: int | None) -> str:
    """交易所时间（UTC 毫秒）-> 'YYYY-MM-DD HH:MM'。"""
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")


def _summary(summary: dict[str, Any]) -> str:
    """统计的一行。"""
    if not summary.get("trades"):
        return "no closed trades yet"
    factor = summary["profit_factor"]
    return (f"{summary['trades']} closed trades  win rate {summary['win_rate'] * 100:.1f}%  P&L {summary['pnl']:+,.2f}"
            f"  fees {summary['fees']:,.2f}  best {summary['best']:+,.2f}  worst {summary['worst']:+,.2f}"
            f"  profit factor {'-' if factor is None else f'{factor:.2f}'}")


def format_trades(result: dict[str, Any]) -> str:
    """trades 命令的结果 -> 表（新的在前）+ 仍持有的回合 + 统计。"""
    lines = [f"{'exit (UTC)':<17} {'instance':<20} {'symbol':<12} {'side':<5} {'amount':>11} {'entry':>12} "
             f"{'exit':>12} {'fees':>9} {'pnl':>11} {'return':>8}  reason"]
    for t in result["trades"]:
        lines.append(f"{_when(t['exit_ts']):<17} {t['instance'] or 'manual':<20} {t['symbol']:<12} {t['side']:<5} "
                     f"{t['amount']:>11.6g} {t['entry_price']:>12,.2f} {t['exit_price']:>12,.2f} {t['fees']:>9,.2f} "
                     f"{t['pnl']:>+11,.2f} {t['return_pct'] * 100:>+7.2f}%  {t['exit_reason']}")
    for t in result.get("open", []):
        lines.append(f"open since {_when(t['entry_ts'])}: {t['instance'] or 'manual'} {t['side']} "
                     f"{t['amount']:.6g} {t['symbol']} @ {t['entry_price']:,.2f}")
    lines.append(_summary(result["summary"]))
    return "\n".join(lines)


def format_pnl(result: dict[str, Any]) -> str:
    """pnl 命令的结果 -> 按周期的表、按实例与按交易对的表、合计。"""
    lines = [f"{result['period']:<12} {'trades':>7} {'wins':>5} {'pnl':>12} {'fees':>10}"]
    for row in result["periods"]:
        lines.append(f"{row['start']:<12} {row['trades']:>7} {row['wins']:>5} {row['pnl']:>+12,.2f} "
                     f"{row['fees']:>10,.2f}")
    for key in ("instance", "symbol"):
        lines.append("")
        lines.append(f"{key:<24} {'trades':>7} {'win rate':>9} {'pnl':>12} {'best':>10} {'worst':>10}")
        for row in result[f"by_{key}"]:
            rate = "-" if row["win_rate"] is None else f"{row['win_rate'] * 100:.1f}%"
            lines.append(f"{row[key] or 'manual':<24} {row['trades']:>7} {rate:>9} {row['pnl']:>+12,.2f} "
                         f"{row['best']:>+10,.2f} {row['worst']:>+10,.2f}")
    lines.append("")
    lines.append(_summary(result["summary"]))
    return "\n".join(lines)
