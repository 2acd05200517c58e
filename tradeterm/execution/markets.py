"""回测用的市场规则来源：ccxt 形式的市场信息 JSON 文件、本地缓存的交易所市场信息、内置的 Binance 默认值，
或（裸 CSV）没有规则。

优先级：`--markets FILE.json` > 指定了交易所时，该交易所的市场信息缓存（`<缓存目录>/<交易所>.json`，
内容为 ccxt `load_markets()` 的结果，由 `save_markets_cache` 写入）> 该交易所的内置默认值 > 报错。
没有指定交易所（裸 CSV 回测）时没有任何规则。
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tradeterm.execution.fills import MarketRules, market_rules_from_ccxt
from tradeterm.data.cache import DEFAULT_CACHE_DIR
from tradeterm.errors import UserError

# 交易所市场信息缓存目录（每个交易所一个 <id>.json）；可用环境变量 TRADETERM_MARKETS_DIR 覆盖，
# 默认与 K 线缓存同级：~/.cache/tradeterm/markets/
MARKETS_CACHE_DIR = Path(os.environ.get("TRADETERM_MARKETS_DIR", DEFAULT_CACHE_DIR.parent / "markets"))

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


def load_markets_file(path: str | Path, flag: str = "--markets") -> dict[str, dict]:
    """读取 ccxt 形式的市场信息 JSON：{symbol: market}、[market, ...] 或 {"markets": ...}，返回 symbol -> market。

    flag 是错误消息里这个文件的出处（命令行旗标，或 "market cache"）。
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MarketInfoError(f"{flag} {path}: file not found; pass a JSON file of ccxt markets "
                              f"(e.g. json.dump(exchange.load_markets(), f))") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MarketInfoError(f"{flag} {path}: not valid JSON ({exc}); write it with json.dump") from None
    if isinstance(data, dict) and "markets" in data:
        data = data["markets"]
    if isinstance(data, list):
        data = {m.get("symbol"): m for m in data if isinstance(m, dict)}
    if not isinstance(data, dict):
        raise MarketInfoError(f"{flag} {path}: expected a mapping of symbol -> ccxt market, got "
                              f"{type(data).__name__}")
    return data


def markets_cache_path(exchange: str, cache_dir: str | Path | None = None) -> Path:
    """某个交易所的市场信息缓存文件路径：<缓存目录>/<交易所>.json。"""
    return Path(cache_dir if cache_dir is not None else MARKETS_CACHE_DIR) / f"{exchange}.json"


def save_markets_cache(exchange: str, markets: dict[str, Any], cache_dir: str | Path | None = None) -> Path:
    """把 ccxt 的 load_markets() 结果（symbol -> market）写进缓存（先写临时文件再改名）；返回路径。

    供取数命令在连上交易所之后调用；之后离线的 `--exchange ID` 回测就用这份真实的规则。
    """
    path = markets_cache_path(exchange, cache_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(markets, default=str), encoding="utf-8")
    os.replace(tmp, path)
    return path


def resolve_rules(symbol: str, exchange: str | None = None, markets_file: str | Path | None = None, *,
                  origin: str = "--exchange", cache_dir: str | Path | None = None) -> MarketRules:
    """某个交易对的下单规则：优先 markets_file，其次交易所的市场信息缓存，再次内置默认值；都没给时没有规则。

    origin 是错误消息里交易所的出处（命令行的 "--exchange"，或配置里的 "exchange.id (config.yml)"）。
    """
    if markets_file is not None:
        markets = load_markets_file(markets_file)
        if symbol not in markets:
            known = ", ".join(sorted(str(k) for k in markets)[:10])
            raise MarketInfoError(f"--markets {markets_file}: no market '{symbol}' in the file (has: {known}); "
                                  f"add it or fix --symbol")
        return market_rules_from_ccxt(markets[symbol])
    if exchange is None:
        return MarketRules()
    cached = markets_cache_path(exchange, cache_dir)
    if cached.is_file():
        markets = load_markets_file(cached, "market cache")
        if symbol in markets:
            return market_rules_from_ccxt(markets[symbol])
    builtin = BUILTIN_MARKETS.get(exchange, {})
    if symbol not in builtin:
        have = ", ".join(f"{e}:{s}" for e, rules in BUILTIN_MARKETS.items() for s in rules)
        raise MarketInfoError(f"{origin} {exchange}: no cached market info for '{symbol}' (looked in {cached}; "
                              f"built in: {have}); pass --markets FILE.json with ccxt markets, or drop the exchange "
                              f"to trade without lot rules")
    return builtin[symbol]
