"""配置文件的错误报告：每种常见错误都给出键路径、错误的值和允许的取值，CLI 不打印 traceback、以非零码退出。"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tradeterm.config import load_config
from tradeterm.errors import ConfigError

# 一个合法的最小配置，各用例在它上面改出一处错误
VALID = textwrap.dedent("""\
    mode: paper
    exchange: {id: binance, market_type: spot, sandbox: true}
    account: {starting_cash: 10000, quote_currency: USDT}
    strategies:
      - name: btc_mean_reversion
        symbol: BTC/USDT
        interval: 1m
        class: MeanReversion
        params: {window: 20, entry_z: 2.0}
    """)

# (用例名, 把 VALID 中的一段替换成什么, 报错里必须出现的片段)
MISTAKES = [
    ("unknown_top_key", ("mode: paper", "mode: paper\nstrategy_dir: x"),
     ["strategy_dir: unknown key", "did you mean 'strategy_dirs'?"]),
    ("misspelled_nested_key", ("market_type: spot", "markettype: spot"),
     ["exchange.markettype: unknown key", "did you mean 'market_type'?", "allowed keys:"]),
    ("bad_mode", ("mode: paper", "mode: livee"), ["mode: got 'livee'", "'backtest', 'paper' or 'live'"]),
    ("unknown_exchange", ("id: binance", "id: binanse"), ["exchange.id: 'binanse'", "did you mean 'binance'?"]),
    ("negative_cash", ("starting_cash: 10000", "starting_cash: -5"),
     ["account.starting_cash: got -5", "greater than 0"]),
    ("bad_interval", ("interval: 1m", "interval: 7m"),
     ["strategies[0].interval: '7m' is not an interval", "allowed: 1s, 1m, 3m"]),
    ("bad_symbol", ("symbol: BTC/USDT", "symbol: 'BTC USDT'"),
     ["strategies[0].symbol: 'BTC USDT' is not a symbol", "BTCUSDT"]),
    ("unknown_class", ("class: MeanReversion", "class: MeanReversal"),
     ["strategies[0].class: unknown strategy class 'MeanReversal'", "did you mean 'MeanReversion'?",
      "available: MACDStrategy, MACross, MeanReversion, MomentumStrategy"]),
    ("unknown_param", ("entry_z: 2.0}", "entry_zz: 2.0}"),
     ["strategies[0].params: unknown parameter 'entry_zz' for MeanReversion", "did you mean 'entry_z'?"]),
    ("param_wrong_type", ("window: 20", "window: 2.5"), ["strategies[0].params: window=2.5 must be a whole number"]),
    ("param_constraint", ("entry_z: 2.0}", "entry_z: 2.0, exit_z: 3.0}"),
     ["exit_z=3.0 must be below entry_z=2.0"]),
    ("missing_required", ("    symbol: BTC/USDT\n", ""), ["strategies[0].symbol: required key is missing"]),
    ("wrong_quote", ("symbol: BTC/USDT", "symbol: ETH/BTC"),
     ["strategies[0].symbol: 'ETH/BTC' is quoted in BTC but account.quote_currency is USDT"]),
    ("yaml_syntax", ("mode: paper", "mode: [paper"), ["YAML syntax error", "line "]),
    ("not_a_number", ("starting_cash: 10000", "starting_cash: lots"),
     ["account.starting_cash: got 'lots'", "valid number"]),
]


def write_config(tmp_path: Path, old: str, new: str) -> Path:
    """把 VALID 里的 old 换成 new 写到临时文件。"""
    assert old in VALID, f"test setup: {old!r} not in VALID"
    path = tmp_path / "config.yml"
    path.write_text(VALID.replace(old, new, 1), encoding="utf-8")
    return path


def test_valid_config_loads_and_normalises(tmp_path):
    """合法配置能加载；BTCUSDT 被规范成 BTC/USDT；相对的日志库路径按配置目录解析。"""
    path = write_config(tmp_path, "symbol: BTC/USDT", "symbol: btcusdt")
    config = load_config(path)
    assert config.strategies[0].symbol == "BTC/USDT"
    assert config.strategies[0].class_name == "MeanReversion"
    assert config.journal_path() == tmp_path / "tradeterm.db"


@pytest.mark.parametrize("case, edit, fragments", MISTAKES, ids=[m[0] for m in MISTAKES])
def test_each_mistake_is_reported_with_key_value_and_fix(tmp_path, case, edit, fragments):
    """每种错误的报错都含键路径、值与可选项。"""
    path = write_config(tmp_path, *edit)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, f"{case}: {fragment!r} not in:\n{message}"


def test_all_problems_are_reported_at_once(tmp_path):
    """多处错误一次报完（结构错误与策略参数错误同时出现）。"""
    text = VALID.replace("mode: paper", "mode: nope").replace("entry_z: 2.0}", "entry_zz: 2.0}")
    path = tmp_path / "config.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert len(caught.value.problems) == 2
    assert "mode: got 'nope'" in str(caught.value) and "entry_zz" in str(caught.value)


def test_duplicate_instance_names_are_rejected(tmp_path):
    """实例名必须唯一。"""
    entry = VALID[VALID.index("  - name"):]
    path = tmp_path / "config.yml"
    path.write_text(VALID + entry, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"strategies\[1\]\.name: 'btc_mean_reversion' is already used"):
        load_config(path)


def test_missing_file_names_the_fix(tmp_path):
    """文件不存在时说清楚怎么办。"""
    with pytest.raises(ConfigError, match="file not found; create it"):
        load_config(tmp_path / "nope.yml")


def test_cli_prints_problems_without_traceback(tmp_path):
    """CLI 对坏配置：退出码 2，stderr 是问题列表，没有 Python traceback。"""
    path = write_config(tmp_path, "interval: 1m", "interval: 7m")
    result = subprocess.run([sys.executable, "-m", "tradeterm.cli.main", "config", "--config", str(path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "strategies[0].interval: '7m' is not an interval" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_repository_config_is_valid():
    """仓库自带的 config.yml 必须合法（make run 用它）。"""
    config = load_config(Path(__file__).resolve().parents[2] / "config.yml")
    assert [s.class_name for s in config.strategies] == ["MACross", "MeanReversion", "MACDStrategy",
                                                         "MomentumStrategy"]
