"""`tradeterm replay-check [RUN]`：用一次模拟盘/实盘运行的 K 线回测同样的实例，逐笔列出相同与不同之处及原因。

退出码：0 = 没有无法解释的差异；1 = 至少有一处无法解释，或交易所上有日志库没有的成交；2 = 用户错误（找不到日志库、
运行、策略类等）。比较规则见 tradeterm/report/replay.py；交易所成交历史的比较见 tradeterm/report/exchange_check.py。
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from tradeterm.cli.common import format_ts
from tradeterm.cli.flags import finite_number, output_file_problem, plugin_dirs, whole_number
from tradeterm.errors import StrategyError, UserError
from tradeterm.journal.paths import journal_path_problem
from tradeterm.report.replay_defaults import DEFAULT_BAR_TOLERANCE, DEFAULT_PRICE_TOLERANCE_BPS

if TYPE_CHECKING:
    from tradeterm.report.exchange_check import ExchangeCheck
    from tradeterm.report.replay import ReplayReport, ReplayRow

# 表格的列：(标题, 宽度)
COLUMNS = (("#", 3), ("instance", 14), ("side", 4), ("decided at bar", 20), ("result", 11), ("model px", 11),
           ("live px", 11), ("diff bps", 8), ("latency", 9))


def register(subparsers: argparse._SubParsersAction) -> None:
    """注册 replay-check 子命令。"""
    parser = subparsers.add_parser(
        "replay-check", help="backtest a finished paper/live run on its own candles and explain every difference",
        description="Backtest the instances of a paper/live run over the candles that run saw (same strategy, "
                    "params, fees and sizing) and list, trade by trade, what matched and what differed: missed or "
                    "extra signals, fill price vs the model, fees, latency. Exit code 0 = every difference is "
                    "explained, 1 = at least one unexplained difference.")
    parser.add_argument("run", nargs="?", type=whole_number("replay-check 3"), default=None, metavar="RUN",
                        help="run id in the journal (default: the latest paper/live run)")
    parser.add_argument("--config", default=None,
                        help="config.yml whose journal.path and strategy_dirs to use (default: ./config.yml if "
                             "--journal is not given)")
    parser.add_argument("--journal", default=None, metavar="PATH", help="journal file (overrides --config)")
    parser.add_argument("--dir", action="append", default=[], metavar="DIR",
                        help="extra strategy plugin directory (the built-in strategies/ is always searched)")
    parser.add_argument("--price-tolerance-bps", type=finite_number("--price-tolerance-bps 50"),
                        default=DEFAULT_PRICE_TOLERANCE_BPS, metavar="BPS",
                        help=f"a live fill within this many basis points of the model price counts as explained "
                             f"(default {DEFAULT_PRICE_TOLERANCE_BPS:g})")
    parser.add_argument("--bar-tolerance", type=whole_number("--bar-tolerance 1"), default=DEFAULT_BAR_TOLERANCE,
                        metavar="BARS",
                        help=f"pair live and backtest trades decided up to this many bars apart "
                             f"(default {DEFAULT_BAR_TOLERANCE})")
    parser.add_argument("--json", default=None, metavar="OUT.json", help="also write the full comparison as JSON")
    parser.add_argument("--no-exchange", action="store_true",
                        help="skip comparing the exchange's trade history with the journal (by default every "
                             "exchange trade of the account must be in the journal, else the check fails)")
    parser.set_defaults(handler=run_replay_check)


def run_replay_check(args: argparse.Namespace) -> int:
    """读运行、回测、比较、打印；返回 0（全部有原因）或 1（有无法解释的差异）。"""
    # 按需导入：日志库读取与回测重放要加载 pandas 与 numba，--help 不需要它们
    from tradeterm.journal.reader import open_readonly
    from tradeterm.report.replay import replay_run

    _check_arguments(args)
    journal, plugin_dirs = _sources(args)
    conn = open_readonly(journal)
    try:
        record, plans = _read_run(args, conn, plugin_dirs)
    except sqlite3.DatabaseError as exc:  # 空文件、别的程序的库、损坏的库：不是 tradeterm 的日志库
        raise UserError(f"journal {str(journal)!r} cannot be read as a tradeterm journal (sqlite: {exc}); pass "
                        f"--journal with the journal.path of the run, e.g. --journal tradeterm.db") from None
    finally:
        conn.close()
    report = replay_run(record, plans, args.price_tolerance_bps, args.bar_tolerance)
    print(format_report(report))
    exchange = _exchange_check(args, journal)
    print(format_exchange_check(exchange))
    if args.json:
        Path(args.json).write_text(json.dumps({**report.to_dict(), "exchange_check": exchange.to_dict()}, indent=2))
        print(f"wrote {args.json}")
    return 0 if report.passed and exchange.passed else 1


def _read_run(args: argparse.Namespace, conn: sqlite3.Connection, plugin_dirs: list[Path]) -> tuple:
    """从日志库读出要检查的运行与它的各实例计划（含 K 线）：(RunRecord, [计划])。"""
    # 按需导入（同 run_replay_check）
    from tradeterm.journal.reader import latest_trading_run, read_bars, read_run
    from tradeterm.report.replay import plan_instances

    run_id = args.run if args.run is not None else latest_trading_run(conn)
    record = read_run(conn, run_id)
    try:
        plans = plan_instances(record, plugin_dirs)
    except StrategyError as exc:
        if "unknown strategy class" not in str(exc):
            raise
        raise StrategyError(f"run {record.run_id}: {exc}; pass --config with the run's config.yml (its "
                            f"strategy_dirs) or --dir DIR where the plugin lives") from None
    for plan in plans:
        plan.data = read_bars(conn, plan.symbol, plan.timeframe, *plan.data_range)
    return record, plans


def _exchange_check(args: argparse.Namespace, journal: Path) -> "ExchangeCheck":
    """交易所成交历史 vs 日志库（--no-exchange 或只给了 --journal 时跳过，并说明）。"""
    import asyncio

    from tradeterm.report.exchange_check import ExchangeCheck, check_exchange_history

    if args.no_exchange:
        return ExchangeCheck(note="skipped (--no-exchange)")
    if args.config is None and args.journal is not None:
        return ExchangeCheck(note="skipped: pass --config to tell which exchange account to compare with")
    import ccxt

    from tradeterm.config import load_config
    from tradeterm.engine.factory import exchange_problem

    config = load_config(Path(args.config or "config.yml"), check_strategies=False)
    try:
        return asyncio.run(check_exchange_history(config, journal))
    except ccxt.BaseError as exc:  # 连不上、凭证被拒：一行说明与修正方法（或 --no-exchange 跳过这一步）
        problem = exchange_problem(config, exc)
        if problem is None:
            raise
        raise UserError(f"{problem}; or pass --no-exchange to skip the exchange comparison") from None


def format_exchange_check(check: "ExchangeCheck") -> str:
    """交易所比较 -> 几行文本。"""
    if not check.checked:
        return f"exchange trade history: not compared: {check.note}"
    lines = [f"exchange trade history: {check.note}"]
    lines += [f"  ! MISSING FROM THE JOURNAL: {line}" for line in check.missing]
    lines.append("OK: every exchange trade is in the journal" if check.passed else
                 f"FAIL: {len(check.missing)} exchange trade(s) missing from the journal")
    return "\n".join(lines)


def _check_arguments(args: argparse.Namespace) -> None:
    """数值参数的范围。"""
    # 按需导入：tradeterm.config.values 会加载 annotated_types（pydantic 的依赖），--help 不需要它
    from tradeterm.config.values import INT64_MAX, show

    if args.price_tolerance_bps < 0:
        raise UserError(f"--price-tolerance-bps {args.price_tolerance_bps:g} must be 0 or more, e.g. 50")
    if args.bar_tolerance < 0:
        raise UserError(f"--bar-tolerance {args.bar_tolerance} must be 0 or more, e.g. 1")
    if args.run is not None and not 1 <= args.run <= INT64_MAX:
        raise UserError(f"RUN {show(args.run)}: run ids are whole numbers from 1 (SQLite row ids, at most "
                        f"{INT64_MAX}); leave it out for the latest paper/live run")
    problem = output_file_problem(args.json, "replay.json") if args.json is not None else None
    if problem:
        raise UserError(f"--json {args.json!r}: {problem}")


def _sources(args: argparse.Namespace) -> tuple[Path, list[Path]]:
    """日志库路径与策略插件目录：--journal 优先，否则读 --config（默认 ./config.yml）。"""
    # 按需导入：配置校验要加载 pydantic 与 pandas，--help 不需要它们
    from tradeterm.config import load_config

    dirs = plugin_dirs(args.dir)
    if args.config is None and args.journal is not None:
        return _checked_journal(Path(args.journal), "--journal"), dirs
    config_path = Path(args.config or "config.yml")
    if not config_path.is_file():
        raise UserError(f"--config {config_path}: file not found; pass --config config.yml or --journal PATH")
    config = load_config(config_path, check_strategies=False)
    journal = Path(args.journal) if args.journal else config.journal_path()
    return _checked_journal(journal, "--journal" if args.journal else f"journal.path ({config_path})"), \
        config.plugin_dirs() + dirs


def _checked_journal(journal: Path, origin: str) -> Path:
    """日志库路径须是已存在的 SQLite 文件（不是目录、设备或别的文件）；不是时抛 UserError（来源、路径、修正）。"""
    problem = journal_path_problem(journal)
    if problem:
        raise UserError(f"{origin} {problem}")
    return journal


def format_report(report: ReplayReport) -> str:
    """报告 -> 终端文本：标题、每个实例的窗口、逐笔表格（每行之下是说明）、合计与结论。"""
    lines = [f"replay-check: run {report.run_id} ({report.kind}, {report.exchange})"]
    for w in report.windows:
        lines.append(f"  {w['name']}: {w['symbol']} {w['timeframe']}, {w['bars']} live bars "
                     f"{format_ts(w['first_ts'])} .. {format_ts(w['last_ts'])}")
    lines.append("")
    lines.append("  ".join(f"{title:<{width}}" for title, width in COLUMNS))
    for number, row in enumerate(report.rows, 1):
        lines += format_row(number, row)
    lines += [""] + format_totals(report) + [f"note: {n}" for n in report.notes]
    verdict = ("OK: every difference is explained" if report.passed else
               f"FAIL: {report.totals.unexplained} unexplained difference(s) (marked UNEXPLAINED above)")
    return "\n".join(lines + [verdict])


def format_row(number: int, row: ReplayRow) -> list[str]:
    """一行表格与它的说明行。"""
    values = (str(number), row.instance, row.side, format_ts(row.decision_ts), f"{row.outcome}",
              _num(row.model_price), _num(row.live_price),
              "" if row.price_diff_bps is None else f"{row.price_diff_bps:+.1f}",
              "" if row.latency_ms is None else f"{row.latency_ms / 1000:.1f}s")
    line = "  ".join(f"{value:<{width}}" for value, (_, width) in zip(values, COLUMNS))
    out = [f"{line}  {row.status if row.status != 'match' else ''}".rstrip()]
    out += [f"      - {note}" for note in row.notes]
    out += [f"      ! UNEXPLAINED: {text}" for text in row.unexplained]
    return out


def format_totals(report: ReplayReport) -> list[str]:
    """合计几行。"""
    t = report.totals
    return [f"backtest fills {t.model_fills}, live filled orders {t.live_fills}: matched {t.matched}, "
            f"missed {t.missed}, extra {t.extra}",
            f"rows with explained differences {t.explained}, unexplained {t.unexplained}",
            f"matched fills: price vs model mean {t.mean_price_diff_bps:+.1f} bps (max |{t.max_price_diff_bps:.1f}| "
            f"bps), cost {t.price_cost:+.2f} quote; fees live {t.live_fees:.2f} vs model {t.model_fees:.2f}; "
            f"latency mean {t.mean_latency_ms / 1000:.1f}s, max {t.max_latency_ms / 1000:.1f}s (exchange time)"]


def _num(value: float | None) -> str:
    """价格 -> 表格文本（None 为空）。"""
    return "" if value is None else f"{value:.6g}"
