"""`tradeterm backtest` 命令：真实入口函数（进程内调用 main），真实行情文件，临时目录里的日志库与输出文件。"""

from __future__ import annotations

import csv
import json
import sqlite3

import pytest

from tradeterm.cli.main import main
from tests.conftest import BTC_USDT_1M, ETH_BTC_5M


@pytest.fixture(autouse=True)
def no_market_cache(tmp_path, monkeypatch):
    """测试不读用户机器上的交易所市场信息缓存：指向一个空的临时目录（只用内置规则）。"""
    monkeypatch.setattr("tradeterm.execution.markets.MARKETS_CACHE_DIR", tmp_path / "markets")


def backtest(capsys, *args: str) -> tuple[int, str, str]:
    """运行 tradeterm backtest ...，返回 (退出码, stdout, stderr)。"""
    code = main(["backtest", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_single_strategy_run_prints_metrics_and_writes_json_trades_and_journal(tmp_path, capsys):
    """MACross 在真实 BTC/USDT 上：打印指标表；JSON 含指标、交易与权益；交易 CSV 与 JSON 一致；日志库记一次运行。"""
    out_json, out_csv, journal = tmp_path / "out.json", tmp_path / "trades.csv", tmp_path / "j.db"
    code, out, err = backtest(capsys, "--strategy", "MACross", "--data", str(BTC_USDT_1M), "--symbol", "BTC/USDT",
                              "--timeframe", "1m", "--param", "fast=10", "--param", "slow=30", "--cash", "10000",
                              "--fee", "0.001", "--json", str(out_json), "--trades", str(out_csv),
                              "--journal", str(journal), "--no-plot")
    assert code == 0, err
    assert "Sharpe ratio" in out and "Final equity" in out and "MACross(fast=10, slow=30)" in out
    payload = json.loads(out_json.read_text())
    for key in ("final_equity", "total_return", "sharpe", "sortino", "max_drawdown", "win_rate", "profit_factor",
                "num_trades", "fees"):
        assert key in payload["metrics"]
    assert len(payload["equity"]["ts"]) == len(payload["equity"]["equity"]) == 30_240
    trade = payload["trades"][0]
    for key in ("entry_time", "exit_time", "side", "entry_price", "exit_price", "amount", "pnl", "fees"):
        assert key in trade
    assert isinstance(trade["entry_time"], int) and trade["side"] == "long"
    closed = [t for t in payload["trades"] if not t["open"]]
    assert payload["metrics"]["num_trades"] == len(closed)
    # 最终权益 = 初始资金 + 全部交易的净盈亏（含未平仓那笔的浮动盈亏）
    assert payload["metrics"]["final_equity"] == pytest.approx(10_000 + sum(t["pnl"] for t in payload["trades"]))
    with open(out_csv, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(payload["trades"])
    assert float(rows[0]["entry_price"]) == trade["entry_price"]
    conn = sqlite3.connect(journal)
    try:
        assert conn.execute("SELECT COUNT(*) FROM trades").fetchone()[0] == len(payload["trades"])
        assert conn.execute("SELECT final_equity FROM runs").fetchone()[0] == pytest.approx(
            payload["metrics"]["final_equity"])
    finally:
        conn.close()
    assert "recorded as run 1" in out


def test_plot_draws_price_equity_and_drawdown_charts(tmp_path, capsys):
    """不加 --no-plot：输出三张 plotext 图的标题（价格与买卖点、权益、回撤）；标准输出不是终端（这里被捕获，
    与进管道相同）时没有 ANSI 颜色码，买卖标记仍在。"""
    code, out, err = backtest(capsys, "--strategy", "MACross", "--data", str(ETH_BTC_5M), "--symbol", "ETH/BTC",
                              "--timeframe", "5m", "--journal", str(tmp_path / "j.db"))
    assert code == 0, err
    assert "close with buys" in out and "Equity (quote currency)" in out and "Drawdown (%)" in out
    assert "\x1b[" not in out and "▲" in out and "▼" in out


def test_exchange_rules_apply_lot_step_to_amounts(tmp_path, capsys):
    """--exchange binance：每笔数量都是 0.00001 BTC 的整数倍。"""
    out_json = tmp_path / "out.json"
    code, _, err = backtest(capsys, "--strategy", "MACross", "--data", str(BTC_USDT_1M), "--exchange", "binance",
                            "--json", str(out_json), "--journal", str(tmp_path / "j.db"), "--no-plot")
    assert code == 0, err
    amounts = [t["amount"] for t in json.loads(out_json.read_text())["trades"]]
    assert amounts and all(abs(a / 0.00001 - round(a / 0.00001)) < 1e-6 for a in amounts)


def test_config_run_uses_csv_mapping_and_synthetic_data_on_one_account(tmp_path, capsys):
    """--config：BTC/USDT 用给的 CSV，ETH/USDT 没给文件用合成行情；两个实例共享账户，等权仓位；日志库路径来自配置。"""
    config = tmp_path / "config.yml"
    config.write_text(
        "mode: backtest\naccount:\n  starting_cash: 5000\nfees:\n  maker: 0.0005\n  taker: 0.001\n"
        "sizing:\n  method: equal_weight\njournal:\n  path: runs/journal.db\nstrategies:\n"
        "  - {name: btc_cross, symbol: BTC/USDT, interval: 1m, class: MACross, params: {fast: 10, slow: 30}}\n"
        "  - {name: eth_macd, symbol: ETHUSDT, interval: 1m, class: MACDStrategy}\n", encoding="utf-8")
    out_json = tmp_path / "out.json"
    code, out, err = backtest(capsys, "--config", str(config), "--data", f"BTC/USDT={BTC_USDT_1M}", "--bars", "2000",
                              "--json", str(out_json), "--no-plot")
    assert code == 0, err
    assert "Portfolio" in out and "btc_cross" in out and "eth_macd" in out
    payload = json.loads(out_json.read_text())
    assert payload["metrics"]["starting_cash"] == 5000
    assert set(payload["instances"]) == {"btc_cross", "eth_macd"}
    assert {t["instance"] for t in payload["trades"]} == {"btc_cross", "eth_macd"}
    assert (tmp_path / "runs" / "journal.db").is_file()


@pytest.mark.parametrize("args, message", [
    (["--strategy", "MACros", "--data", str(BTC_USDT_1M)], "unknown strategy class 'MACros'"),
    (["--strategy", "MACross", "--data", "missing.csv"], "missing.csv: file not found"),
    (["--strategy", "MACross", "--data", str(BTC_USDT_1M), "--timeframe", "5m"], "pass --timeframe 1m"),
    (["--strategy", "MACross", "--data", str(BTC_USDT_1M), "--param", "fast=50"], "fast=50 must be below slow=30"),
    (["--strategy", "MACross", "--data", str(BTC_USDT_1M), "--exchange", "binance", "--symbol", "DOGE/USDT"],
     "--markets FILE.json"),
    (["--data", str(BTC_USDT_1M)], "either --strategy"),
    (["--strategy", "MACross", "--data", str(BTC_USDT_1M), "--fee", "1"], "--fee 1.0"),
])
def test_user_mistakes_exit_2_with_a_message_and_no_traceback(tmp_path, capsys, args, message):
    """用户错误：退出码 2，stderr 一行说明（含旗标/值/修正），没有 traceback，也不写日志库。"""
    journal = tmp_path / "j.db"
    code, _, err = backtest(capsys, *args, "--journal", str(journal), "--no-plot")
    assert code == 2
    assert message in err and "Traceback" not in err
    assert not journal.exists()


def test_forcing_the_fast_path_on_a_multi_instance_config_is_a_user_error(tmp_path, capsys):
    """--engine fast 只能跑单个向量化实例：配置里有两个实例时报用户错误（退出码 2），提示改用 auto/event。"""
    config = tmp_path / "config.yml"
    config.write_text("strategies:\n  - {name: a, symbol: BTC/USDT, class: MACross}\n"
                      "  - {name: b, symbol: BTC/USDT, class: MeanReversion}\n", encoding="utf-8")
    code, _, err = backtest(capsys, "--config", str(config), "--engine", "fast", "--bars", "500", "--no-plot",
                            "--journal", str(tmp_path / "j.db"))
    assert code == 2 and "--engine auto or --engine event" in err


def test_config_exchange_without_market_info_names_the_config_key(tmp_path, capsys):
    """配置的 exchange.id 是 binance、交易对 SOL/USDT 既不在缓存也不在内置表：退出码 2，消息指向 exchange.id 与 --markets。"""
    config = tmp_path / "config.yml"
    config.write_text("strategies:\n  - {name: sol, symbol: SOL/USDT, class: MACross}\n", encoding="utf-8")
    code, _, err = backtest(capsys, "--config", str(config), "--bars", "300", "--no-plot",
                            "--journal", str(tmp_path / "j.db"))
    assert code == 2
    assert f"exchange.id ({config}) binance: no cached market info for 'SOL/USDT'" in err
    assert "--markets FILE.json" in err and "Traceback" not in err


def test_markets_file_gives_rules_for_any_symbol(tmp_path, capsys):
    """--markets 文件（ccxt 格式）里 BTC/USDT 的步长 0.001：每笔数量都是 0.001 的整数倍。"""
    markets = tmp_path / "markets.json"
    markets.write_text(json.dumps({"BTC/USDT": {"precision": {"price": 0.01, "amount": 0.001},
                                                "limits": {"amount": {"min": 0.001}, "cost": {"min": 5}}}}))
    out_json = tmp_path / "out.json"
    code, _, err = backtest(capsys, "--strategy", "MACross", "--data", str(BTC_USDT_1M), "--markets", str(markets),
                            "--json", str(out_json), "--journal", str(tmp_path / "j.db"), "--no-plot")
    assert code == 0, err
    amounts = [t["amount"] for t in json.loads(out_json.read_text())["trades"]]
    assert amounts and all(abs(a / 0.001 - round(a / 0.001)) < 1e-6 for a in amounts)


# ---- 风控与仓位（--risk-config、config 的 risk:） ---------------------------------------------------


def test_risk_config_trips_the_breaker_and_journals_every_rejection(tmp_path, capsys):
    """--risk-config 里 max_drawdown 0.1：MACross 全仓在真实 BTC/USDT 上触发熔断；输出一行熔断说明与按规则的拒绝统计；
    JSON 与日志库的 events 表里每次拒绝都有规则与原因，熔断记一条 breaker 事件；runs.settings 记下生效的限制。"""
    risk = tmp_path / "risk.yml"
    risk.write_text("risk:\n  max_drawdown: 0.1\n", encoding="utf-8")
    out_json, journal = tmp_path / "out.json", tmp_path / "j.db"
    code, out, err = backtest(capsys, "--strategy", "MACross", "--data", str(BTC_USDT_1M), "--risk-config", str(risk),
                              "--json", str(out_json), "--journal", str(journal), "--no-plot")
    assert code == 0, err
    assert "event path" in out and "circuit breaker at 2023-03-" in out
    assert "max_drawdown breaker tripped: drawdown 10.01% >= limit 10.00%; new entries blocked" in out
    payload = json.loads(out_json.read_text())
    rejections = payload["rejections"]
    assert rejections and {r["rule"] for r in rejections} == {"max_drawdown"}
    assert f"rejected orders by rule: max_drawdown {len(rejections)}" in out
    assert payload["risk_events"][0]["rule"] == "max_drawdown"
    conn = sqlite3.connect(journal)
    try:
        rows = conn.execute("SELECT ts, kind, data FROM events WHERE run_id = 1 ORDER BY id").fetchall()
        settings = json.loads(conn.execute("SELECT settings FROM runs").fetchone()[0])
    finally:
        conn.close()
    kinds = [kind for _, kind, _ in rows]
    assert kinds[0] == "breaker" and kinds.count("breaker") == 1 and kinds.count("rejection") == len(rejections)
    data = json.loads(rows[1][2])
    assert data["instance"] == "MACross" and data["symbol"] == "BTC/USDT" and data["rule"] == "max_drawdown"
    assert data["reason"] == "max_drawdown circuit breaker is tripped (limit 10.00%); new entries are blocked"
    assert settings["risk"] == {"max_drawdown": 0.1}
    assert settings["instances"][0]["sizing"] == {"method": "all_in"}


def test_risk_config_sizing_block_sizes_every_entry(tmp_path, capsys):
    """--risk-config 的 sizing 块：固定 400 USDT 一笔，每笔开仓名义金额 = 400（不含手续费）；上限 500 的单笔名义金额不拒。"""
    risk = tmp_path / "risk.yml"
    risk.write_text("risk: {max_order_notional: 500}\nsizing: {method: fixed_notional, notional: 400}\n",
                    encoding="utf-8")
    out_json = tmp_path / "out.json"
    code, out, err = backtest(capsys, "--strategy", "MACross", "--data", str(BTC_USDT_1M), "--risk-config", str(risk),
                              "--json", str(out_json), "--journal", str(tmp_path / "j.db"), "--no-plot")
    assert code == 0, err
    payload = json.loads(out_json.read_text())
    assert payload["rejections"] == []
    assert all(t["amount"] * t["entry_price"] == pytest.approx(400) for t in payload["trades"])


@pytest.mark.parametrize("text, message", [
    ("risk:\n  max_drawdwn: 0.1\n", "risk.max_drawdwn: unknown key (did you mean 'max_drawdown'?)"),
    ("risk:\n  max_drawdown: 1.5\n", "risk.max_drawdown: got 1.5; input should be less than 1"),
    ("sizing:\n  method: volatility_target\n", "sizing method 'volatility_target' needs 'target_risk' to be set"),
    ("sizing:\n  method: kely\n", "sizing.method: got 'kely'"),
    ("risk: {max_drawdown: 0.1}\nstrategies: []\n", "strategies: unknown key; a risk file holds only the 'risk:' and "
                                                     "'sizing:' blocks"),
    ("", "file is empty; add a 'risk:' block"),
])
def test_bad_risk_config_names_key_value_and_fix(tmp_path, capsys, text, message):
    """--risk-config 文件有错：退出码 2，消息写明文件、键、值与修正，没有 traceback，不写日志库。"""
    risk = tmp_path / "risk.yml"
    risk.write_text(text, encoding="utf-8")
    journal = tmp_path / "j.db"
    code, _, err = backtest(capsys, "--strategy", "MACross", "--data", str(BTC_USDT_1M), "--risk-config", str(risk),
                            "--journal", str(journal), "--no-plot")
    assert code == 2, err
    assert str(risk) in err and message in err and "Traceback" not in err
    assert not journal.exists()


def test_missing_risk_config_file_and_risk_config_with_config_are_user_errors(tmp_path, capsys):
    """不存在的 --risk-config 文件：说明它该是什么；与 --config 同用：说明风控取自配置文件。"""
    code, _, err = backtest(capsys, "--strategy", "MACross", "--data", str(BTC_USDT_1M), "--risk-config",
                            str(tmp_path / "nope.yml"), "--no-plot", "--journal", str(tmp_path / "j.db"))
    assert code == 2 and "nope.yml" in err and "file not found; --risk-config takes a YAML file" in err
    config = tmp_path / "config.yml"
    config.write_text("strategies:\n  - {name: a, symbol: BTC/USDT, class: MACross}\n", encoding="utf-8")
    code, _, err = backtest(capsys, "--config", str(config), "--risk-config", str(config), "--no-plot",
                            "--journal", str(tmp_path / "j.db"))
    assert code == 2 and "the 'risk:' and 'sizing:' blocks come from" in err


def test_config_risk_block_is_applied_by_the_backtester(tmp_path, capsys):
    """--config 的 risk: 生效（不再提示“not applied”）：max_drawdown 0.1 在真实 BTC/USDT 上触发；--engine fast 报用户错误。"""
    config = tmp_path / "config.yml"
    config.write_text("risk:\n  max_drawdown: 0.1\nstrategies:\n  - {name: btc, symbol: BTC/USDT, class: MACross}\n",
                      encoding="utf-8")
    journal = tmp_path / "j.db"
    code, out, err = backtest(capsys, "--config", str(config), "--data", f"BTC/USDT={BTC_USDT_1M}", "--no-plot",
                              "--journal", str(journal))
    assert code == 0, err
    assert "not applied" not in err and "event path" in out and "circuit breaker at" in out
    code, _, err = backtest(capsys, "--config", str(config), "--data", f"BTC/USDT={BTC_USDT_1M}", "--no-plot",
                            "--engine", "fast", "--journal", str(journal))
    assert code == 2 and "no risk limits" in err


def test_config_kelly_sizing_stops_entering_once_the_instance_has_no_edge(tmp_path, capsys):
    """sizing.method kelly（kelly_min_trades 5）：前 5 笔用回退比例 0.1；MACross 在这段行情上很快失去优势（凯利比例 <= 0），
    之后每个开仓信号都以规则 sizing 被拒（原因写明胜率与盈亏比）；它只从自己的已平仓交易学习，不再交易就不会再改变主意。"""
    config = tmp_path / "config.yml"
    config.write_text("sizing: {method: kelly, kelly_min_trades: 5}\nstrategies:\n"
                      "  - {name: btc, symbol: BTC/USDT, class: MACross}\n", encoding="utf-8")
    out_json = tmp_path / "out.json"
    code, out, err = backtest(capsys, "--config", str(config), "--data", f"BTC/USDT={BTC_USDT_1M}", "--no-plot",
                              "--json", str(out_json), "--journal", str(tmp_path / "j.db"))
    assert code == 0, err
    payload = json.loads(out_json.read_text())
    assert "event path" in out and "rejected orders by rule: sizing" in out
    first = payload["rejections"][0]
    assert first["rule"] == "sizing" and first["reason"].startswith("kelly sizing is 0: no edge in ")
    assert {r["rule"] for r in payload["rejections"]} == {"sizing"}
    notionals = [t["amount"] * t["entry_price"] for t in sorted(payload["trades"], key=lambda t: t["entry_time"])]
    # 前 5 笔：权益（约 10000）的 10%；之后不超过上限 25%
    assert all(n < 1_001 for n in notionals[:5]) and all(n < 2_501 for n in notionals)
