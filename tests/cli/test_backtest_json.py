"""`tradeterm backtest --json` 的列式格式：真实 K 线上的回测写出的 JSON 与以前的逐点格式内容逐位相同（交易、指标、
拒绝、熔断与每个权益点，NaN 为 null），日志库里的曲线与结果逐位相同；NaN 与无穷大写成 null。

结果取自命令本身：测试把 run_backtest 包一层记下命令算出的 BacktestResult，再由它按以前的 write_json
（json_safe + json.dumps，权益逐点 {ts, equity}）算出“旧格式”的内容来比较。
"""

from __future__ import annotations

import json
import sqlite3
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tradeterm.backtest.engine as backtest_engine
from tradeterm.backtest.engine import BacktestSettings, InstanceSpec
from tradeterm.cli.backtest import write_json
from tradeterm.cli.main import main
from tradeterm.journal.runs import json_safe
from tradeterm.journal.series import read_series
from tradeterm.report.metrics import result_metrics
from tradeterm.strategy.loader import build_strategy, load_strategy_class
from tests.conftest import BTC_USDT_1M

# 两个实例（真实 BTC/USDT 与带种子的合成 ETH/USDT）共享一个账户的配置
TWO_INSTANCES = ("sizing:\n  method: equal_weight\nstrategies:\n"
                 "  - {name: btc_cross, symbol: BTC/USDT, interval: 1m, class: MACross, params: {fast: 10, slow: 30}}\n"
                 "  - {name: eth_macd, symbol: ETH/USDT, interval: 1m, class: MACDStrategy}\n")


@pytest.fixture(autouse=True)
def no_market_cache(tmp_path, monkeypatch):
    """测试不读用户机器上的交易所市场信息缓存：指向一个空的临时目录（只用内置规则）。"""
    monkeypatch.setattr("tradeterm.execution.markets.MARKETS_CACHE_DIR", tmp_path / "markets")


def old_format(result, metrics: dict) -> Any:
    """以前（列式之前）的 write_json 写出的内容：权益逐点 {ts, equity}，json_safe 把 NaN/无穷换成 None，再 json.dumps。"""
    payload = {
        "metrics": metrics["portfolio"],
        "instances": metrics["instances"],
        "trades": [t.to_dict() for t in result.trades],
        "rejections": [j.to_dict() for j in result.rejections],
        "risk_events": [{"ts": e.ts, "rule": e.rule, "message": e.message} for e in result.risk_events],
        "equity": [{"ts": ts, "equity": eq} for ts, eq in zip(result.timestamps.tolist(), result.equity.tolist())],
    }
    return json.loads(json.dumps(json_safe(payload)))


def as_rows(payload: dict) -> dict:
    """新格式 -> 旧格式的形状：列式的 equity {"ts": [...], "equity": [...]} 换回逐点的 [{ts, equity}]。"""
    columns = payload["equity"]
    assert set(columns) == {"ts", "equity"} and len(columns["ts"]) == len(columns["equity"])
    return {**payload, "equity": [{"ts": ts, "equity": eq} for ts, eq in zip(columns["ts"], columns["equity"])]}


def exact(value: Any) -> Any:
    """把读回的 JSON 值变成逐位可比的形式：浮点数换成它的 8 个字节（-0.0 与 0.0 不同），整数与浮点数也分开。"""
    if isinstance(value, float):
        return ("float", struct.pack("<d", value))
    if isinstance(value, dict):
        return {key: exact(item) for key, item in value.items()}
    if isinstance(value, list):
        return [exact(item) for item in value]
    return value


def strict_loads(text: str) -> Any:
    """json.loads，但遇到 NaN / Infinity 这类不是 JSON 的写法时报错（标准库默认接受它们）。"""
    def refuse(token: str):
        """非标准的常量：测试失败。"""
        raise AssertionError(f"{token} is not valid JSON")

    return json.loads(text, parse_constant=refuse)


def run_cli(tmp_path: Path, monkeypatch, capsys, args: list[str]):
    """在进程内运行 `tradeterm backtest ARGS --json ... --journal ... --no-plot`，返回 (命令算出的结果, 读回的 JSON,
    日志库路径)。"""
    captured = []
    real = backtest_engine.run_backtest

    def spy(specs, settings):
        """照常回测，并记下结果。"""
        captured.append(real(specs, settings))
        return captured[-1]

    # 命令在 run_command 里才 `from tradeterm.backtest.engine import run_backtest`，所以换模块属性即可
    monkeypatch.setattr(backtest_engine, "run_backtest", spy)
    out_json, journal = tmp_path / "out.json", tmp_path / "j.db"
    code = main(["backtest", *args, "--json", str(out_json), "--journal", str(journal), "--no-plot"])
    assert code == 0, capsys.readouterr().err
    [result] = captured
    return result, strict_loads(out_json.read_text(encoding="utf-8")), journal


@pytest.mark.parametrize("args, config", [
    (["--strategy", "MACross", "--data", str(BTC_USDT_1M), "--param", "fast=10", "--param", "slow=30"], None),
    (["--strategy", "MACross", "--data", str(BTC_USDT_1M), "--risk-config", "{risk}"], "risk:\n  max_drawdown: 0.1\n"),
    (["--config", "{config}", "--data", f"BTC/USDT={BTC_USDT_1M}"], TWO_INSTANCES),
], ids=["fast-path", "breaker-and-rejections", "two-instances"])
def test_json_holds_exactly_what_the_row_format_held(tmp_path, monkeypatch, capsys, args, config):
    """真实 30,240 根 BTC/USDT：新 JSON 换回逐点形状后与旧格式逐位相同（交易、指标、拒绝、熔断、每个权益点）；
    时间与权益两列与 result.timestamps / result.equity 逐位相同；日志库 run_series 里的组合曲线也是。"""
    if config is not None:
        (tmp_path / "extra.yml").write_text(config, encoding="utf-8")
    args = [arg.replace("{risk}", str(tmp_path / "extra.yml")).replace("{config}", str(tmp_path / "extra.yml"))
            for arg in args]
    result, payload, journal = run_cli(tmp_path, monkeypatch, capsys, args)
    assert len(result.timestamps) == 30_240
    expected = old_format(result, result_metrics(result))
    assert exact(as_rows(payload)) == exact(expected)
    stamps = np.array(payload["equity"]["ts"], dtype=np.int64)
    equity = np.array(payload["equity"]["equity"], dtype=np.float64)
    assert stamps.tobytes() == result.timestamps.astype(np.int64).tobytes()
    assert equity.tobytes() == result.equity.astype(np.float64).tobytes()
    if config == TWO_INSTANCES:
        assert len(result.instances) == 2 and {t["instance"] for t in payload["trades"]} == {"btc_cross", "eth_macd"}
    if "--risk-config" in args:
        assert payload["rejections"] and payload["risk_events"][0]["rule"] == "max_drawdown"
    conn = sqlite3.connect(journal)
    try:
        stored_ts, stored_equity = read_series(conn, 1)
    finally:
        conn.close()
    assert stored_ts.tobytes() == result.timestamps.tobytes() and stored_equity.tobytes() == result.equity.tobytes()


def test_nan_and_infinity_are_written_as_null(tmp_path, btc_bars):
    """权益里的 NaN、±inf 与指标里的 NaN 写成 null（合法 JSON，与以前 json_safe 的做法相同）；其余点逐位不变。"""
    strategy = build_strategy(load_strategy_class("MACross"), {})
    result = backtest_engine.run_backtest([InstanceSpec(strategy, btc_bars.iloc[:500].reset_index(drop=True))],
                                          BacktestSettings(cash=10_000.0))
    # 指标按真实的曲线算（有 NaN 的曲线算不出有意义的指标），再往曲线里放非有限值
    metrics = result_metrics(result)
    result.equity = result.equity.copy()
    result.equity[[3, 4, 5]] = [np.nan, np.inf, -np.inf]
    metrics["portfolio"]["sharpe"] = float("nan")
    out = tmp_path / "out.json"
    write_json(out, result, metrics)
    payload = strict_loads(out.read_text(encoding="utf-8"))
    assert payload["equity"]["equity"][3:6] == [None, None, None]
    assert payload["metrics"]["sharpe"] is None
    assert exact(as_rows(payload)) == exact(old_format(result, metrics))
