"""交易对写法的规范化：各种常见写法都变成 ccxt 的 BTC/USDT，无法识别的返回 None。"""

from __future__ import annotations

import pytest

from tradeterm.config.markets import base_currency, normalize_symbol, quote_currency, symbol_problem, timeframe_ms
from tradeterm.models import MarketType


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


@pytest.mark.parametrize("symbol, market, expected", [
    ("USDT/USDT", None, "'USDT/USDT' has the same base and quote currency (USDT); use a pair of two different "
                        "currencies, e.g. BTC/USDT"),
    ("btc/btc", "spot", "'BTC/BTC' has the same base and quote currency (BTC); use a pair of two different "
                        "currencies, e.g. BTC/USDT"),
    ("BTC/USDT:USDT", "spot", "'BTC/USDT:USDT' is a perpetual futures symbol but the market type is spot; use "
                              "BTC/USDT for spot, or set the market type to futures"),
    ("BTC/USDT:BTC", "futures", "'BTC/USDT:BTC' settles in BTC, but USD-M perpetuals settle in their quote "
                                "currency; use BTC/USDT:USDT"),
    ("BTC USDT", "spot", "'BTC USDT' is not a symbol; use a form like BTC/USDT, BTCUSDT, BTC-USDT or, for futures, "
                         "BTC/USDT:USDT"),
    (7, "spot", "7 is not a symbol; use a form like BTC/USDT, BTCUSDT, BTC-USDT or, for futures, BTC/USDT:USDT"),
])
def test_symbol_problem_explains_what_is_wrong(symbol, market, expected):
    """symbol_problem（配置与 --symbol 共用）：基础货币等于计价货币、现货里的永续写法、结算货币不对、无法识别。"""
    assert symbol_problem(symbol, market) == expected


@pytest.mark.parametrize("symbol, market", [("BTC/USDT", "spot"), ("BTCUSDT", MarketType.SPOT),
                                            ("BTC/USDT", "futures"), ("BTC/USDT:USDT", MarketType.FUTURES),
                                            ("ETH/BTC", None)])
def test_symbol_problem_accepts_usable_symbols(symbol, market):
    """能用的交易对返回 None；合约接受现货写法（引擎映射成 BASE/QUOTE:QUOTE）。"""
    assert symbol_problem(symbol, market) is None
