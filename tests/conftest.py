"""测试共用的夹具：真实行情文件（../shared/data/）的位置与加载。"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tradeterm.data import load_ohlcv_csv

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
