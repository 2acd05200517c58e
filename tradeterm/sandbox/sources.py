"""沙盒行情的来源：K 线 CSV 文件（真实行情回放）或带种子的合成行情（默认）。

回放从第 history 根 K 线开始（之前的作为已有历史，启动即可取到、策略可以预热）；
多个文件时以第一个文件的时间为准，其余文件整体平移，使它们的第 history 根与之对齐。
合成行情把第 history 根放在当前时刻所在的分钟，所以 --speed 1 时沙盒的行情时间就是现在。

持久化的沙盒（state.py）重启时用保存下来的锚点（MarketAnchor：起点时间、历史根数、各交易对的种子）重建
同一段行情，已经走过的每根 K 线与重启前完全相同。
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from tradeterm.config.markets import TIMEFRAME_MS, normalize_symbol
from tradeterm.data.csv import load_ohlcv_csv
from tradeterm.data.synthetic import synthetic_ohlcv
from tradeterm.errors import DataError, UserError
from tradeterm.sandbox.defaults import DEFAULT_HISTORY_BARS, DEFAULT_SYMBOLS
from tradeterm.sandbox.market import CandleSeries, SymbolMarket, default_spec

# 合成行情各基础货币的起始价，计价货币
START_PRICES = {"BTC": 30_000.0, "ETH": 2_000.0, "BNB": 300.0, "SOL": 25.0}
# 合成行情各基础货币每根 1 分钟 K 线的平均成交量，基础货币
BASE_VOLUMES = {"BTC": 5.0, "ETH": 60.0, "BNB": 400.0, "SOL": 3_000.0}
# 合成行情在历史之后预先生成的 K 线根数（走完后循环延长）
SYNTHETIC_FUTURE_BARS = 50_000
# 合成行情的基础周期
SYNTHETIC_TIMEFRAME = "1m"


def spot_symbol(symbol: str) -> str:
    """合约写法 BTC/USDT:USDT 对应的现货交易对 BTC/USDT：沙盒的永续合约与同名现货共用一条行情序列。"""
    return symbol.split(":", 1)[0]


def symbol_from_filename(path: Path) -> str | None:
    """从文件名猜交易对：binanceus_BTCUSDT_1m_2023-03.csv -> BTC/USDT；猜不出返回 None。"""
    for token in re.split(r"[_\-. ]+", path.stem):
        if token.isalpha() and len(token) >= 5:
            symbol = normalize_symbol(token)
            if symbol:
                return symbol
    return None


def parse_data_arg(arg: str) -> tuple[str, Path]:
    """解析 --data 的一个取值：SYMBOL=FILE.csv 或 FILE.csv（交易对从文件名推断）。"""
    if "=" in arg:
        raw_symbol, raw_path = arg.split("=", 1)
        symbol = normalize_symbol(raw_symbol)
        if not symbol:
            raise UserError(f"--data {arg}: '{raw_symbol}' is not a symbol; write e.g. BTC/USDT=FILE.csv")
        return spot_symbol(symbol), Path(raw_path)
    path = Path(arg)
    symbol = symbol_from_filename(path)
    if not symbol:
        raise UserError(f"--data {arg}: cannot tell the symbol from the file name; write it as BTC/USDT={arg}")
    return symbol, path


def csv_timeframe_ms(frame: pd.DataFrame, source: str) -> int:
    """CSV 的 K 线周期（毫秒）：相邻时间差的中位数，必须是 Binance 支持的周期之一。"""
    if len(frame) < 3:
        raise DataError(f"{source}: needs at least 3 bars to replay, found {len(frame)}")
    step = int(np.median(np.diff(frame["timestamp"].to_numpy())))
    if step not in TIMEFRAME_MS.values():
        raise DataError(f"{source}: bar spacing {step} ms is not a Binance timeframe "
                        f"({', '.join(TIMEFRAME_MS)}); resample the file first")
    return step


def load_replay_markets(data: list[str], history_bars: int = DEFAULT_HISTORY_BARS
                        ) -> tuple[dict[str, SymbolMarket], int]:
    """读取 --data 给出的 CSV，返回（交易对 id -> 行情, 回放起点的模拟时间 UTC 毫秒）。"""
    markets: dict[str, SymbolMarket] = {}
    start_ts: int | None = None
    for arg in data:
        symbol, path = parse_data_arg(arg)
        frame = load_ohlcv_csv(path)
        step = csv_timeframe_ms(frame, str(path))
        history = min(history_bars, len(frame) // 2)
        replay_from = int(frame["timestamp"].iloc[history])
        if start_ts is None:
            start_ts = replay_from
        else:
            frame = frame.assign(timestamp=frame["timestamp"] + (start_ts - replay_from))
        spec = default_spec(symbol, float(frame["close"].iloc[0]))
        if spec.market_id in markets:
            raise UserError(f"--data {arg}: symbol {symbol} is given twice; pass one file per symbol")
        markets[spec.market_id] = SymbolMarket(spec, CandleSeries(frame, step, spec.price_tick))
    assert start_ts is not None
    return markets, start_ts


def synthetic_seeds(symbols: list[str], seed: int, known: dict[str, int] | None = None) -> dict[str, int]:
    """合成行情各交易对的种子：known 里已有的交易对保留原种子（排在前面），其余依次取 seed, seed+1 ... 中未用的。

    所以给已有的沙盒新增交易对时，老交易对的行情不变（种子跟着交易对走，而不是跟着它在列表里的位置）。
    """
    seeds = dict(known or {})
    offset = 0
    for symbol in symbols:
        if symbol in seeds:
            continue
        while seed + offset in seeds.values():
            offset += 1
        seeds[symbol] = seed + offset
    return seeds


def load_synthetic_markets(symbols: tuple[str, ...] = DEFAULT_SYMBOLS, seed: int = 7,
                           history_bars: int = DEFAULT_HISTORY_BARS, now_ms: int | None = None,
                           seeds: dict[str, int] | None = None) -> tuple[dict[str, SymbolMarket], int]:
    """为每个交易对生成合成行情（种子依次为 seed, seed+1 ...），第 history_bars 根开在 now_ms（默认当前时刻）所在的分钟。

    seeds 为已知的 交易对 -> 种子（恢复持久化的沙盒时给出）：这些交易对沿用原种子、也都会生成。
    """
    step = TIMEFRAME_MS[SYNTHETIC_TIMEFRAME]
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    start_ts = now_ms // step * step
    markets: dict[str, SymbolMarket] = {}
    wanted: list[str] = []
    for raw in symbols:
        symbol = normalize_symbol(raw)
        if not symbol:
            raise UserError(f"--symbols: '{raw}' is not a symbol; write e.g. BTC/USDT")
        if spot_symbol(symbol) not in wanted:
            # BTC/USDT 与 BTC/USDT:USDT 是同一条行情（现货 + 永续合约），只生成一次
            wanted.append(spot_symbol(symbol))
    for symbol, symbol_seed in synthetic_seeds(wanted, seed, seeds).items():
        base = symbol.split("/")[0]
        frame = synthetic_ohlcv(history_bars + SYNTHETIC_FUTURE_BARS, seed=symbol_seed,
                                start_price=START_PRICES.get(base, 100.0), timeframe=SYNTHETIC_TIMEFRAME,
                                start_ts=start_ts - history_bars * step, base_volume=BASE_VOLUMES.get(base, 100.0))
        spec = default_spec(symbol, float(frame["close"].iloc[0]))
        markets[spec.market_id] = SymbolMarket(spec, CandleSeries(frame, step, spec.price_tick))
    return markets, start_ts


@dataclass(frozen=True)
class MarketAnchor:
    """重建同一段行情所需的全部信息（持久化的沙盒把它存进状态文件，重启时据此重新生成或重新读取行情）。"""

    kind: str                  # 行情来源："synthetic"（合成）或 "replay"（CSV 回放）
    start_ts: int              # 回放起点（第 history_bars 根 K 线的开盘时间），UTC 毫秒
    history_bars: int          # 起点之前已有的历史 K 线根数（基础周期）
    seed: int = 7              # 合成行情的基础种子（新增交易对从它往后取未用的种子）；回放时无意义
    seeds: dict[str, int] = field(default_factory=dict)  # 合成行情：ccxt 交易对 -> 种子；回放时为空
    symbols: tuple[str, ...] = ()  # 全部交易对（ccxt 现货形式），按市场顺序


def load_markets(data: list[str] | None, symbols: tuple[str, ...], seed: int, history_bars: int,
                 anchor: MarketAnchor | None = None) -> tuple[dict[str, SymbolMarket], MarketAnchor]:
    """按参数建行情：有 data 时回放 CSV，否则合成行情；返回（交易对 id -> 行情, 这段行情的锚点）。

    给出 anchor（从状态文件读出）时沿用其中的起点、历史根数与种子，使行情与保存时相同；合成行情此时包含
    anchor 里的全部交易对加上 symbols 里新增的。是否与 anchor 相符由 anchor_mismatch 判断。
    """
    if anchor is not None:
        history_bars = anchor.history_bars
    if data:
        markets, start_ts = load_replay_markets(list(data), history_bars)
        return markets, MarketAnchor("replay", start_ts, history_bars, seed, {},
                                     tuple(m.spec.symbol for m in markets.values()))
    start: int | None = None  # 合成行情的起点：新建时为此刻，恢复时为保存的值
    known: dict[str, int] | None = None  # 恢复时已知的 交易对 -> 种子
    if anchor is not None and anchor.kind == "synthetic":
        seed, start, known = anchor.seed, anchor.start_ts, anchor.seeds
    markets, start_ts = load_synthetic_markets(tuple(symbols), seed, history_bars, now_ms=start, seeds=known)
    seeds = synthetic_seeds([m.spec.symbol for m in markets.values()], seed, known)
    return markets, MarketAnchor("synthetic", start_ts, history_bars, seed, seeds, tuple(seeds))


def anchor_mismatch(stored: MarketAnchor, built: MarketAnchor) -> str | None:
    """保存的锚点与按本次参数建出的行情是否不符：不符时返回英文原因，相符返回 None。"""
    if stored.kind != built.kind:
        given = "--data files" if built.kind == "replay" else "no --data files (synthetic market)"
        return (f"it was saved with a {stored.kind} market but {given} were given; start it with the same market "
                f"arguments as before")
    if stored.start_ts != built.start_ts:
        return (f"the --data files start replaying at {built.start_ts} but the saved market started at "
                f"{stored.start_ts}; pass the same files as before")
    missing = [s for s in stored.symbols if s not in built.symbols]
    if missing:
        return f"the saved market has {', '.join(missing)} but the --data files do not; pass the same files as before"
    return None
