"""市场规则的来源：--markets JSON 文件、--exchange 的内置默认值、裸 CSV 没有规则；错误写明旗标、值与修正方法。"""

from __future__ import annotations

import json

import pytest

from tradeterm.execution.fills import MarketRules
from tradeterm.execution.markets import MarketInfoError, resolve_rules, save_markets_cache
from tradeterm.errors import UserError


def test_bare_csv_run_has_no_rules():
    """没有交易所、没有文件：全 0（不取整、不设最小额）。"""
    assert resolve_rules("BTC/USDT").is_free


def test_builtin_binance_defaults_for_btc_and_eth():
    """内置 Binance：BTC/USDT 档位 0.01、步长 0.00001、最小名义 5；ETH/USDT 步长 0.0001。"""
    btc = resolve_rules("BTC/USDT", "binance")
    assert (btc.price_tick, btc.amount_step, btc.min_notional) == (0.01, 0.00001, 5.0)
    assert resolve_rules("ETH/USDT", "binance").amount_step == 0.0001


def test_unknown_symbol_for_exchange_asks_for_a_markets_file():
    """内置表里没有的交易对：用户错误，提示 --markets。"""
    with pytest.raises(UserError, match="--markets FILE.json"):
        resolve_rules("DOGE/USDT", "binance")


def test_markets_file_in_ccxt_format_is_used(tmp_path):
    """ccxt 的 load_markets() 结果写成 JSON：按交易对取 precision 与 limits。"""
    path = tmp_path / "markets.json"
    path.write_text(json.dumps({"SOL/USDT": {"symbol": "SOL/USDT", "precision": {"price": 0.01, "amount": 0.001},
                                             "limits": {"amount": {"min": 0.001}, "cost": {"min": 5}}}}))
    assert resolve_rules("SOL/USDT", None, path) == MarketRules(0.01, 0.001, 0.001, 5.0)


def test_markets_file_without_the_symbol_names_the_file_and_symbol(tmp_path):
    """文件里没有这个交易对：错误消息带文件名与交易对。"""
    path = tmp_path / "markets.json"
    path.write_text(json.dumps([{"symbol": "SOL/USDT", "precision": {}, "limits": {}}]))
    with pytest.raises(MarketInfoError, match="no market 'BTC/USDT'"):
        resolve_rules("BTC/USDT", None, path)


def test_broken_markets_file_is_a_user_error(tmp_path):
    """不是 JSON：用户错误（不是 traceback）。"""
    path = tmp_path / "markets.json"
    path.write_text("{not json")
    with pytest.raises(MarketInfoError, match="not valid JSON"):
        resolve_rules("BTC/USDT", None, path)


def test_cached_exchange_market_info_overrides_the_builtin_table(tmp_path):
    """--exchange binance 且缓存里有 binance.json（ccxt load_markets() 的结果）：用缓存的真实规则，
    内置表没有的交易对（SOL/USDT）也能回测；缓存里没有的交易对退回内置表。"""
    markets = {"BTC/USDT": {"symbol": "BTC/USDT", "precision": {"price": 0.1, "amount": 0.0001},
                            "limits": {"amount": {"min": 0.0001}, "cost": {"min": 10}}},
               "SOL/USDT": {"symbol": "SOL/USDT", "precision": {"price": 0.01, "amount": 0.001},
                            "limits": {"amount": {"min": 0.001}, "cost": {"min": 5}}}}
    path = save_markets_cache("binance", markets, tmp_path)
    assert path == tmp_path / "binance.json"
    assert resolve_rules("BTC/USDT", "binance", cache_dir=tmp_path) == MarketRules(0.1, 0.0001, 0.0001, 10.0)
    assert resolve_rules("SOL/USDT", "binance", cache_dir=tmp_path) == MarketRules(0.01, 0.001, 0.001, 5.0)
    assert resolve_rules("ETH/USDT", "binance", cache_dir=tmp_path).amount_step == 0.0001


def test_error_names_where_the_exchange_came_from(tmp_path):
    """交易所来自配置文件时，错误消息写 exchange.id（而不是用户没有给过的 --exchange），并给出查找过的缓存路径。"""
    with pytest.raises(MarketInfoError, match=r"exchange.id \(config.yml\) binance: no cached market info"):
        resolve_rules("DOGE/USDT", "binance", origin="exchange.id (config.yml)", cache_dir=tmp_path)
