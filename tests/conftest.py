"""测试共用的夹具：真实行情文件（../shared/data/）的位置与加载。"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, settings


from tradeterm.data import load_ohlcv_csv

# 模糊测试（hypothesis）的两个档位：
# - ci（默认）：每个属性测试 40 个样例，固定随机种子（derandomize），CI 每次生成同一批输入，结果可复现、不随机变红；
#   不设 deadline，因为机器繁忙时单个样例变慢不是错误（套件不能依赖机器速度）。
# - long：`pytest --hypothesis-profile=long tests -m fuzz` 做深度运行，每个属性测试 2,500 个随机样例。
settings.register_profile("ci", max_examples=40, derandomize=True, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile("long", max_examples=2500, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.load_profile("ci")

# 仓库根目录
REPO_ROOT = Path(__file__).resolve().parents[1]
# 共享的真实行情目录（不复制进仓库）
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
# Binance.US BTC/USDT 2023 年 3 月的 1 分钟 K 线（30,240 根）
BTC_USDT_1M = SHARED_DATA / "binanceus_BTCUSDT_1m_2023-03.csv"
# freqtrade 测试数据里的 ETH/BTC 5 分钟 K 线（5,760 根）
ETH_BTC_5M = SHARED_DATA / "freqtrade_ETHBTC_5m.csv"


@pytest.fixture(scope="session")
def btc_bars() -> pd.DataFrame:
    """真实的 BTC/USDT 1 分钟 K 线。"""
    return load_ohlcv_csv(BTC_USDT_1M)


@pytest.fixture(scope="session")
def eth_btc_bars() -> pd.DataFrame:
    """真实的 ETH/BTC 5 分钟 K 线。"""
    return load_ohlcv_csv(ETH_BTC_5M)
