"""前视检查：每个插件都通过；故意偷看下一根 K 线的策略被抓到（函数与 CLI 两条路）。"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.conftest import BTC_USDT_1M
from tradeterm.models import MarketType
from tradeterm.strategy.loader import build_strategy, discover
from tradeterm.strategy.lookahead import check_lookahead

# 一个作弊的策略：用下一根的收盘价决定当前这根的信号
CHEATER_SOURCE = textwrap.dedent('''\
    """作弊策略（测试用）：偷看下一根收盘价。"""
    import pandas as pd
    from tradeterm import Strategy


    class Cheater(Strategy):
        """下一根收盘价更高就买：典型的前视错误。"""

        # 无参数
        params = {}

        def signals(self, df):
            """用 shift(-1) 偷看未来。"""
            up = df["close"].shift(-1) > df["close"]
            return pd.DataFrame({"enter_long": up, "exit_long": ~up})
    ''')


@pytest.mark.parametrize("name", discover().names())
@pytest.mark.parametrize("market", [MarketType.SPOT, MarketType.FUTURES])
def test_every_plugin_passes_on_real_data(btc_bars, name, market):
    """strategies/ 里的每个插件，在真实 K 线上、现货与合约两种市场，都没有前视。"""
    strategy = build_strategy(discover().classes[name], market_type=market)
    report = check_lookahead(strategy, btc_bars, samples=40)
    assert report.passed, f"{name}: look-ahead at row {report.first_bad_row}: {report.bad_columns}"
    assert len(report.checked) >= 40


def test_cheating_strategy_is_caught(btc_bars, tmp_path):
    """偷看下一根的策略：检查失败，并报出不一致的信号列。"""
    (tmp_path / "cheater.py").write_text(CHEATER_SOURCE, encoding="utf-8")
    cls = discover([tmp_path]).classes["Cheater"]
    report = check_lookahead(build_strategy(cls), btc_bars.iloc[:3000], samples=30)
    assert not report.passed
    assert {"enter_long", "exit_long"} & set(report.bad_columns)
    assert report.first_bad_ts == int(btc_bars["timestamp"].iloc[report.first_bad_row])


def test_check_cli_fails_on_cheater_and_passes_builtin(tmp_path):
    """CLI：作弊策略退出码 1 并报出第一根出错的 K 线；内置策略退出码 0。"""
    (tmp_path / "cheater.py").write_text(CHEATER_SOURCE, encoding="utf-8")
    base = [sys.executable, "-m", "tradeterm.cli.main", "check"]
    bad = subprocess.run([*base, "Cheater", "--dir", str(tmp_path), "--data", str(BTC_USDT_1M)],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1, bad.stderr
    assert "FAIL: look-ahead at bar" in bad.stdout
    good = subprocess.run([*base, "MACross", "--data", str(BTC_USDT_1M)], capture_output=True, text=True, timeout=120)
    assert good.returncode == 0, good.stderr
    assert "PASS" in good.stdout
