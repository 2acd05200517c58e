"""数据层基准：一百万根 1 分钟 K 线的缓存读写速度（对比 CSV），以及经沙盒分页下载的吞吐。

用法：.venv/bin/python bench/data.py [--bars N]
输出一张表，最后一行是 JSON（便于脚本读取）。数据为真实的 BTC/USDT 1m 文件（../shared/data/）首尾相接重复、
每份按比例缩放使其开盘接上一份的收盘，直到凑够 N 根。
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from tradeterm.data import CandleCache, MarketData, load_ohlcv_csv, save_ohlcv_csv
from tradeterm.data.cache import Candles, merge_candles
from tradeterm.sandbox import SandboxExchange

# 真实行情文件
SOURCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "binanceus_BTCUSDT_1m_2023-03.csv"
# 默认根数
DEFAULT_BARS = 1_000_000
# 每项计时重复次数（取最好的一次）
REPEATS = 5
# 经沙盒下载的根数（吞吐测试）
DOWNLOAD_BARS = 20_000


def million_bars(bars: int) -> pd.DataFrame:
    """把真实文件首尾相接重复到 bars 根：时间顺延，价格按比例缩放使每份开盘接上一份收盘。"""
    base = load_ohlcv_csv(SOURCE)
    step = 60_000
    parts, ts0, scale = [], int(base.timestamp.iloc[0]), 1.0
    prices = base[["open", "high", "low", "close"]].to_numpy()
    copies = -(-bars // len(base))
    for k in range(copies):
        part = pd.DataFrame(prices * scale, columns=["open", "high", "low", "close"])
        part.insert(0, "timestamp", ts0 + step * (np.arange(len(base), dtype=np.int64) + k * len(base)))
        part["volume"] = base.volume.to_numpy()
        parts.append(part)
        scale *= prices[-1, 3] / prices[0, 0]
    return pd.concat(parts, ignore_index=True).iloc[:bars]


def best_of(fn, repeats: int = REPEATS) -> float:
    """fn 运行 repeats 次里最快的一次，秒。"""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


async def download_rate(bars: int, cache_dir: Path) -> tuple[float, int]:
    """从进程内沙盒分页下载 bars 根进缓存：返回（秒, 请求数）。"""
    async with SandboxExchange(port=0, history_bars=bars + 10) as sandbox:
        client = sandbox.client()
        try:
            market = MarketData(client, CandleCache(cache_dir), exchange_id="sandbox")
            start = sandbox.market("BTC/USDT").series.start_ts
            started = time.perf_counter()
            frame = await market.get_ohlcv("BTC/USDT", "1m", since=start, until=start + bars * 60_000)
            elapsed = time.perf_counter() - started
            assert len(frame) == bars
            return elapsed, len(sandbox.requests_to("/api/v3/klines"))
        finally:
            await client.close()


def main() -> None:
    """运行基准并打印结果表与 JSON 行。"""
    parser = argparse.ArgumentParser(description="benchmark the candle cache")
    parser.add_argument("--bars", type=int, default=DEFAULT_BARS, help="bars in the cached series")
    args = parser.parse_args()
    frame = million_bars(args.bars)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cache = CandleCache(root / "cache")
        candles = merge_candles(Candles.empty(), frame.timestamp.to_numpy(), frame.iloc[:, 1:].to_numpy(),
                                (int(frame.timestamp.iloc[0]), int(frame.timestamp.iloc[-1]) + 60_000))
        save_s = best_of(lambda: cache.save("bench", "BTC/USDT", "1m", candles))
        load_s = best_of(lambda: cache.load("bench", "BTC/USDT", "1m"))
        frame_s = best_of(lambda: cache.load("bench", "BTC/USDT", "1m").to_frame())
        size_mb = cache.path("bench", "BTC/USDT", "1m").stat().st_size / 1e6
        csv_path = root / "bench.csv"
        save_ohlcv_csv(frame, csv_path)
        csv_s = best_of(lambda: load_ohlcv_csv(csv_path), repeats=1)
        download_s, requests = asyncio.run(download_rate(DOWNLOAD_BARS, root / "download"))
    rows = [
        ("cache save (.npz)", save_s, args.bars / save_s),
        ("cache load (arrays)", load_s, args.bars / load_s),
        ("cache load -> DataFrame", frame_s, args.bars / frame_s),
        ("CSV load (for comparison)", csv_s, args.bars / csv_s),
        (f"download via sandbox ({requests} requests)", download_s, DOWNLOAD_BARS / download_s),
    ]
    print(f"candle cache benchmark: {args.bars:,} bars of 1m BTC/USDT, file {size_mb:.1f} MB, best of {REPEATS}")
    print(f"{'operation':<42} {'seconds':>9} {'bars/s':>14}")
    for name, seconds, rate in rows:
        print(f"{name:<42} {seconds:>9.3f} {rate:>14,.0f}")
    print(json.dumps({"bars": args.bars, "file_mb": round(size_mb, 1), "save_s": round(save_s, 4),
                      "load_s": round(load_s, 4), "load_frame_s": round(frame_s, 4), "csv_load_s": round(csv_s, 3),
                      "download_bars": DOWNLOAD_BARS, "download_s": round(download_s, 3),
                      "download_requests": requests, "load_under_1s": frame_s < 1.0}))


if __name__ == "__main__":
    main()
