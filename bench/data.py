"""数据层基准：一百万根 1 分钟 K 线的缓存读写速度（对比 CSV），以及沙盒的 REST 与 websocket 吞吐。

沙盒吞吐三项，全部经由原版 ccxt 客户端与真实的本机 HTTP/websocket：
- 经沙盒分页下载 K 线进缓存（MarketData.get_ohlcv，开着 ccxt 的限流器，即应用实际的下载速度）；
- REST 请求速率（关掉限流器，并发 fetch_ticker，测的是沙盒服务器本身）；
- websocket 推送速率（ccxt.pro watch_trades 收沙盒连续推送的公开成交，测沙盒发送 + ccxt 解析）。

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
# REST 速率测试的请求数
REST_REQUESTS = 2_000
# REST 速率测试的并发请求数
REST_CONCURRENCY = 16
# websocket 速率测试推送的消息条数
WS_MESSAGES = 20_000
# websocket 测试每批推送的条数（批间让出事件循环，发送队列不会溢出丢消息）
WS_BATCH = 500


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


async def rest_rate(requests: int = REST_REQUESTS, concurrency: int = REST_CONCURRENCY) -> tuple[float, int]:
    """关掉 ccxt 限流器，以 concurrency 个并发连续发 requests 个 fetch_ticker：返回（秒, 请求数）。"""
    async with SandboxExchange(port=0) as sandbox:
        client = sandbox.client()
        client.enableRateLimit = False
        try:
            await client.load_markets()
            await client.fetch_ticker("BTC/USDT")  # 预热：建立连接池
            per_worker = requests // concurrency

            async def worker() -> None:
                """顺序发 per_worker 个请求。"""
                for _ in range(per_worker):
                    await client.fetch_ticker("BTC/USDT")

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return time.perf_counter() - started, per_worker * concurrency
        finally:
            await client.close()


async def websocket_rate(messages: int = WS_MESSAGES) -> tuple[float, int]:
    """沙盒连续推送 messages 笔公开成交，ccxt.pro watch_trades 全部收到为止：返回（秒, 收到的成交条数）。"""
    async with SandboxExchange(port=0, tick_s=0.05) as sandbox:
        # tradesLimit 放大：否则 ccxt 每次只返回缓存里最近 1000 笔，消费端数不全（消息其实都收到并解析了）
        pro = sandbox.client(pro=True, options={"tradesLimit": 2 * messages})
        try:
            await pro.load_markets()
            await asyncio.wait_for(pro.watch_trades("BTC/USDT"), 10)  # 订阅建立、收到第一条
            market = sandbox.market("BTC/USDT")
            streams = {"btcusdt@trade"}
            last_id = {"value": None}  # 生产者推完后写入最后一笔的编号

            async def produce() -> None:
                """按批推送成交（走沙盒真实的推送路径），批间等发送队列消化。"""
                now = sandbox.clock.now()
                price = market.price(now)
                for start in range(0, messages, WS_BATCH):
                    for _ in range(min(WS_BATCH, messages - start)):
                        trade_id = market.record_trade(price, 0.001, now, False)
                        sandbox.hub.push_trade(market, trade_id, price, 0.001, now, False, streams)
                    while any(c.queue.qsize() > WS_BATCH for c in sandbox.hub.connections):
                        await asyncio.sleep(0)
                last_id["value"] = trade_id

            async def consume() -> int:
                """收到编号不小于最后一笔的成交为止，返回收到的条数。"""
                received = 0
                while True:
                    trades = await pro.watch_trades("BTC/USDT")
                    received += len(trades)
                    if last_id["value"] is not None and int(trades[-1]["id"]) >= last_id["value"]:
                        return received

            started = time.perf_counter()
            consumer = asyncio.create_task(consume())
            await produce()
            received = await asyncio.wait_for(consumer, 60)
            elapsed = time.perf_counter() - started
            assert received >= messages, f"only {received} of {messages} messages arrived"
            return elapsed, received
        finally:
            await pro.close()


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
    rest_s, rest_requests = asyncio.run(rest_rate())
    ws_s, ws_received = asyncio.run(websocket_rate())
    rows = [
        ("cache save (.npz)", save_s, args.bars / save_s),
        ("cache load (arrays)", load_s, args.bars / load_s),
        ("cache load -> DataFrame", frame_s, args.bars / frame_s),
        ("CSV load (for comparison)", csv_s, args.bars / csv_s),
        (f"download via sandbox ({requests} requests)", download_s, DOWNLOAD_BARS / download_s),
    ]
    sandbox_rows = [
        (f"REST fetch_ticker x{rest_requests:,} ({REST_CONCURRENCY} concurrent)", rest_s, rest_requests / rest_s,
         "requests/s"),
        (f"websocket watch_trades x{ws_received:,}", ws_s, ws_received / ws_s, "messages/s"),
    ]
    print(f"candle cache benchmark: {args.bars:,} bars of 1m BTC/USDT, file {size_mb:.1f} MB, best of {REPEATS}")
    print(f"{'operation':<46} {'seconds':>9} {'rate':>14}")
    for name, seconds, rate in rows:
        print(f"{name:<46} {seconds:>9.3f} {rate:>14,.0f} bars/s")
    for name, seconds, rate, unit in sandbox_rows:
        print(f"{name:<46} {seconds:>9.3f} {rate:>14,.0f} {unit}")
    print(json.dumps({"bars": args.bars, "file_mb": round(size_mb, 1), "save_s": round(save_s, 4),
                      "load_s": round(load_s, 4), "load_frame_s": round(frame_s, 4), "csv_load_s": round(csv_s, 3),
                      "download_bars": DOWNLOAD_BARS, "download_s": round(download_s, 3),
                      "download_requests": requests, "rest_requests": rest_requests,
                      "rest_requests_per_s": round(rest_requests / rest_s), "ws_messages": ws_received,
                      "ws_messages_per_s": round(ws_received / ws_s), "load_under_1s": frame_s < 1.0}))


if __name__ == "__main__":
    main()
