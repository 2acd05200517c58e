"""交易对与 K 线周期的规范化与校验：接受 BTCUSDT、btc/usdt 等写法，统一成 ccxt 的 BTC/USDT。"""

from __future__ import annotations

import re

from tradeterm.models import MarketType

# 无分隔写法（BTCUSDT）拆分时识别的计价货币，长的在前，避免 USDT 被拆成 USD + T
KNOWN_QUOTES = ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USDP", "DAI", "USD", "EUR", "GBP", "TRY", "BRL",
                "JPY", "BTC", "ETH", "BNB")
# K 线周期（Binance 支持的全部取值）-> 毫秒
TIMEFRAME_MS = {
    "1s": 1_000, "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
    "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000, "6h": 21_600_000, "8h": 28_800_000,
    "12h": 43_200_000, "1d": 86_400_000, "3d": 259_200_000, "1w": 604_800_000, "1M": 2_592_000_000,
}
# 已规范的交易对：BASE/QUOTE，合约可带 :SETTLE
_CCXT_SYMBOL = re.compile(r"^([A-Z0-9]{2,20})/([A-Z0-9]{2,10})(?::([A-Z0-9]{2,10}))?$")
# 以 - 或 _ 分隔的写法：BTC-USDT、BTC_USDT
_SEPARATED = re.compile(r"^([A-Z0-9]{2,20})[-_]([A-Z0-9]{2,10})$")
# 允许写法的说明，出现在错误消息里
SYMBOL_FORMS = "BTC/USDT, BTCUSDT, BTC-USDT or, for futures, BTC/USDT:USDT"


def normalize_symbol(text: str) -> str | None:
    """把交易对写法规范成 ccxt 形式；无法识别时返回 None。"""
    raw = str(text).strip().upper()
    if _CCXT_SYMBOL.match(raw):
        return raw
    separated = _SEPARATED.match(raw)
    if separated:
        return f"{separated.group(1)}/{separated.group(2)}"
    if re.fullmatch(r"[A-Z0-9]{4,30}", raw):
        for quote in KNOWN_QUOTES:
            if raw.endswith(quote) and len(raw) - len(quote) >= 2:
                return f"{raw[:-len(quote)]}/{quote}"
    return None


def symbol_problem(symbol: str, market_type: MarketType | str | None = None) -> str | None:
    """交易对能否在该市场类型上使用；能用返回 None，否则返回一行说明（不含键名，调用方接在键名或选项名后面）。

    规则：写法须能规范成 BASE/QUOTE（见 SYMBOL_FORMS）；基础货币与计价货币不能相同（USDT/USDT）；
    现货不接受永续合约写法 BASE/QUOTE:SETTLE；合约接受现货写法（引擎映射成 BASE/QUOTE:QUOTE 的 USD-M 永续），
    合约写法的结算货币须等于计价货币（USD-M）。market_type 为 None 时只做与市场无关的检查。
    """
    normalized = normalize_symbol(symbol) if isinstance(symbol, str) else None
    if normalized is None:
        return f"{symbol!r} is not a symbol; use a form like {SYMBOL_FORMS}"
    base, quote = base_currency(normalized), quote_currency(normalized)
    settle = normalized.partition(":")[2]
    if base == quote:
        return (f"'{normalized}' has the same base and quote currency ({base}); use a pair of two different "
                f"currencies, e.g. BTC/{quote if quote != 'BTC' else 'USDT'}")
    market = MarketType(market_type) if market_type is not None else None
    if settle and market is MarketType.SPOT:
        return (f"'{normalized}' is a perpetual futures symbol but the market type is spot; use {base}/{quote} "
                f"for spot, or set the market type to futures")
    if settle and settle != quote:
        return (f"'{normalized}' settles in {settle}, but USD-M perpetuals settle in their quote currency; "
                f"use {base}/{quote}:{quote}")
    return None


def quote_currency(symbol: str) -> str:
    """交易对的计价货币：BTC/USDT -> USDT，BTC/USDT:USDT -> USDT。"""
    return symbol.split("/")[1].split(":")[0]


def base_currency(symbol: str) -> str:
    """交易对的基础货币：BTC/USDT -> BTC。"""
    return symbol.split("/")[0]


def timeframe_ms(timeframe: str) -> int:
    """K 线周期的毫秒数；未知周期抛 KeyError（调用方应先校验）。"""
    return TIMEFRAME_MS[timeframe]
