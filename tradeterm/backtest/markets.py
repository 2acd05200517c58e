"""回测用的市场规则来源：ccxt 形式的市场信息 JSON 文件、内置的 Binance 类默认值，或（裸 CSV）没有规则。

优先级：`--markets FILE.json` > 指定了交易所时的内置默认值 > 没有规则。交易所真实的市场信息缓存由数据层
（tradeterm/data，另一位工程师负责）提供后，可以在这里接上，替代内置默认值。
"""

from __future__ import annotations

import json
from pathlib import Path

from tradeterm.backtest.fills import MarketRules, market_rules_from_ccxt
from tradeterm.errors import UserError

# 内置的 Binance 现货规则（与交易所公布的过滤器一致）：价格档位 0.01 USDT，数量步长 BTC 0.00001 / ETH 0.0001，
# 最小名义金额 5 USDT；最小数量取一个步长
BUILTIN_MARKETS: dict[str, dict[str, MarketRules]] = {
    "binance": {
        "BTC/USDT": MarketRules(price_tick=0.01, amount_step=0.00001, min_amount=0.00001, min_notional=5.0),
        "ETH/USDT": MarketRules(price_tick=0.01, amount_step=0.0001, min_amount=0.0001, min_notional=5.0),
    },
}


class MarketInfoError(UserError):
    """找不到或读不懂某个交易对的市场信息（--markets 文件或 --exchange）。"""


def load_markets_file(path: str | Path) -> dict[str, dict]:
    """读取 ccxt 形式的市场信息 JSON：{symbol: market}、[market, ...] 或 {"markets": ...}，返回 symbol -> market。"""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MarketInfoError(f"--markets {path}: file not found; pass a JSON file of ccxt markets "
                              f"(e.g. json.dump(exchange.load_markets(), f))") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MarketInfoError(f"--markets {path}: not valid JSON ({exc}); write it with json.dump") from None
    if isinstance(data, dict) and "markets" in data:
        data = data["markets"]
    if isinstance(data, list):
        data = {m.get("symbol"): m for m in data if isinstance(m, dict)}
    if not isinstance(data, dict):
        raise MarketInfoError(f"--markets {path}: expected a mapping of symbol -> ccxt market, got "
                              f"{type(data).__name__}")
    return data


def resolve_rules(symbol: str, exchange: str | None = None, markets_file: str | Path | None = None) -> MarketRules:
    """某个交易对的下单规则：优先 markets_file，其次 exchange 的内置默认值；都没给时没有规则。"""
    if markets_file is not None:
        markets = load_markets_file(markets_file)
        if symbol not in markets:
            known = ", ".join(sorted(str(k) for k in markets)[:10])
            raise MarketInfoError(f"--markets {markets_file}: no market '{symbol}' in the file (has: {known}); "
                                  f"add it or fix --symbol")
        return market_rules_from_ccxt(markets[symbol])
    if exchange is None:
        return MarketRules()
    builtin = BUILTIN_MARKETS.get(exchange, {})
    if symbol not in builtin:
        have = ", ".join(f"{e}:{s}" for e, rules in BUILTIN_MARKETS.items() for s in rules)
        raise MarketInfoError(f"--exchange {exchange}: no cached market info for '{symbol}' (built in: {have}); "
                              f"pass --markets FILE.json with ccxt markets, or drop --exchange to trade without "
                              f"lot rules")
    return builtin[symbol]
