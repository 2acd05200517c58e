"""回测的输入数据（issue 19）：坏 CSV 经 `tradeterm backtest` 得到一行错误与退出码 2；K 线少于策略预热时
回测照跑但在 stderr 给出警告（实例名、可用根数、需要的根数），而不是悄悄给出 0 笔交易。真实行情文件，进程内调用 main。"""

from __future__ import annotations

import pytest

from tests.conftest import BTC_USDT_1M
from tradeterm.backtest.engine import InstanceSpec
from tradeterm.backtest.prepare import warmup_warnings
from tradeterm.cli.main import main
from tradeterm.data import load_ohlcv_csv
from tradeterm.strategy.loader import build_strategy, load_strategy_class


@pytest.fixture(autouse=True)
def no_market_cache(tmp_path, monkeypatch):
    """不读用户机器上的交易所市场信息缓存：指向一个空的临时目录。"""
    monkeypatch.setattr("tradeterm.execution.markets.MARKETS_CACHE_DIR", tmp_path / "markets")


def head_of_real_file(tmp_path, lines: int, name: str = "head.csv") -> str:
    """真实 BTC/USDT 1m 文件的前 lines 行（含表头）写成 tmp_path/name，返回路径。"""
    text = BTC_USDT_1M.read_text(encoding="utf-8").splitlines()[:lines]
    path = tmp_path / name
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    return str(path)


def test_inf_high_with_a_trailing_stop_is_refused_with_line_column_and_value(tmp_path, capsys):
    """issue 19：`inf` 的最高价曾被接受，移动止损因此早一根出场。现在：退出码 2，一行错误写明行号、列与原文，不写日志库。"""
    lines = BTC_USDT_1M.read_text(encoding="utf-8").splitlines()[:200]
    cells = lines[149].split(",")
    cells[2] = "inf"
    lines[149] = ",".join(cells)
    path = tmp_path / "inf_high.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    journal = tmp_path / "j.db"
    code = main(["backtest", "--strategy", "MACross", "--data", str(path), "--trailing-stop", "0.01", "--no-plot",
                 "--journal", str(journal)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err == (f"error: {path}: line 150, column 'high': 'inf' is not a finite number; every price must be a "
                   f"finite number above 1e-12 and below 1e+12 (quote currency)\n")
    assert not journal.exists()


def test_file_shorter_than_the_warm_up_warns_and_reports_no_trades(tmp_path, capsys):
    """20 根 K 线、MACross slow=30：回测照跑（退出码 0、0 笔交易），stderr 的警告写明实例、可用根数与需要的根数。"""
    path = head_of_real_file(tmp_path, 21)
    code = main(["backtest", "--strategy", "MACross", "--data", path, "--no-plot", "--journal",
                 str(tmp_path / "j.db")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.err == ("warning: instance 'MACross' (MACross(fast=10, slow=30) on BTC/USDT 1m) has 20 bars but "
                            "needs at least 32 to trade (warm-up of 30 bars before its first signal, then one bar to "
                            "signal and one to fill); it will make no trades: use more candles or smaller window "
                            "parameters\n")
    assert "Closed trades                         0" in captured.out


def test_config_mode_warns_only_for_the_instance_without_enough_candles(tmp_path, capsys):
    """--config 两个实例：慢线 300 的实例在 200 根的文件上得到警告（名字是配置里的实例名），慢线 30 的没有。"""
    path = head_of_real_file(tmp_path, 201)
    config = tmp_path / "config.yml"
    config.write_text("strategies:\n"
                      "  - {name: quick, symbol: BTC/USDT, class: MACross, params: {fast: 10, slow: 30}}\n"
                      "  - {name: slowpoke, symbol: BTC/USDT, class: MACross, params: {fast: 10, slow: 300}}\n",
                      encoding="utf-8")
    code = main(["backtest", "--config", str(config), "--data", f"BTC/USDT={path}", "--no-plot", "--journal",
                 str(tmp_path / "j.db")])
    err = capsys.readouterr().err
    assert code == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert warnings == ["warning: instance 'slowpoke' (MACross(fast=10, slow=300) on BTC/USDT 1m) has 200 bars but "
                        "needs at least 302 to trade (warm-up of 300 bars before its first signal, then one bar to "
                        "signal and one to fill); it will make no trades: use more candles or smaller window "
                        "parameters"]


@pytest.mark.parametrize("bars, warned", [(31, True), (32, False)])
def test_warm_up_rule_boundary(bars, warned):
    """slow=30：31 根（预热 30 根 + 信号那根，没有成交的下一根）警告，32 根不警告。"""
    data = load_ohlcv_csv(BTC_USDT_1M).iloc[:bars].reset_index(drop=True)
    strategy = build_strategy(load_strategy_class("MACross"), {"fast": 10, "slow": 30})
    assert bool(warmup_warnings([InstanceSpec(strategy, data)])) is warned
