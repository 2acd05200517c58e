"""交易对写法的规范化：各种常见写法都变成 ccxt 的 BTC/USDT，无法识别的返回 None。"""

from __future__ import annotations

import pytest

from tradeterm.config.markets import base_currency, normalize_symbol, quote_currency, timeframe_ms


@pytest.mark.parametrize("text, expected", [
    ("BTC/USDT", "BTC/USDT"), ("BTCUSDT", "BTC/USDT"), ("btcusdt", "BTC/USDT"), ("BTC-USDT", "BTC/USDT"),
    ("eth_btc", "ETH/BTC"), ("ETHBTC", "ETH/BTC"), ("BTC/USDT:USDT", "BTC/USDT:USDT"), ("SOLFDUSD", "SOL/FDUSD"),
    ("1000PEPEUSDT", "1000PEPE/USDT"),
])
def test_symbol_forms_normalise_to_ccxt(text, expected):
    """常见写法 -> ccxt 形式；USDT 优先于 USD（避免拆成 BTCUSD/T）。"""
    assert normalize_symbol(text) == expected


@pytest.mark.parametrize("text", ["BTC USDT", "BTC", "XYZ123", "/USDT", ""])
def test_unrecognised_symbols_give_none(text):
    """无法确定计价货币或含非法字符时返回 None（由配置层报错）。"""
    assert normalize_symbol(text) is None


def test_currency_helpers_and_timeframes():
    """计价/基础货币拆分；周期换算成毫秒。"""
    assert quote_currency("BTC/USDT:USDT") == "USDT" and base_currency("BTC/USDT") == "BTC"
    assert timeframe_ms("1m") == 60_000 and timeframe_ms("4h") == 14_400_000
