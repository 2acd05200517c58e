"""回测的逐根序列（权益曲线等）在日志库里的存法：每个 (运行, 实例, 序列) 一行 run_series，时间与数值各一个压缩块。

一百万根 K 线的权益曲线逐行写进 equity 表要 1.8 秒、占 29 MB；压成两个块写一行只要几十毫秒、约 2 MB。
模拟盘/实盘的权益照旧逐行写 equity 表（引擎随收盘追加，store.py），这里只管回测。

编码（run_series.codec = CODEC）：
- ts 块：开盘时间（UTC 毫秒，int64）先做差分（第一个值原样，之后每个减去前一个），小端 int64 字节，zlib 压缩；
  等距的时间轴差分后几乎全是同一个数，一百万个时间戳压到几十 KB；
- value 块：数值（float64，小端）的原始字节，zlib 压缩。
两者都是精确的（整数差分与累加互逆，浮点数按位保存），读回与写入时逐位相同，NaN 也原样保留。

读的时候先找 run_series；找不到时（第 6 版之前记的回测，或库还没迁移到第 6 版）退回 equity 表的逐行记录。
"""

from __future__ import annotations

import sqlite3
import zlib

import numpy as np

from tradeterm.journal.schema import has_table

# 当前的编码名（写入 run_series.codec）：差分 int64 时间 + float64 数值，各自 zlib
CODEC = "zlib:delta-int64,float64"
# zlib 压缩级别：1 最快；更高的级别在权益数据上只再小几个百分点，却慢四倍
ZLIB_LEVEL = 1
# 时间块的元素类型：小端 int64（UTC 毫秒）
TS_DTYPE = np.dtype("<i8")
# 数值块的元素类型：小端 float64
VALUE_DTYPE = np.dtype("<f8")
# 回测权益序列的名字（run_series.name）
EQUITY = "equity"


def encode_series(timestamps: np.ndarray, values: np.ndarray) -> tuple[bytes, bytes]:
    """把时间（UTC 毫秒）与数值编码成 (ts 块, value 块)，见模块说明；两者长度须相同。"""
    ts = np.ascontiguousarray(timestamps, dtype=TS_DTYPE)
    data = np.ascontiguousarray(values, dtype=VALUE_DTYPE)
    if ts.shape != data.shape or ts.ndim != 1:
        raise ValueError(f"series needs two 1-d arrays of the same length, got {ts.shape} and {data.shape}")
    # 第一个差分是相对 0 的，即第一个时间本身；int64 的减法与 decode 的累加互逆（溢出也一样按位回绕）。
    # 只分配一个数组、不经 tobytes 复制（zlib 直接读数组的内存）：在刚读完百万根 K 线的进程里，每多分配、复制 8 MB
    # 都要付缺页的代价
    deltas = np.empty_like(ts)
    deltas[:1] = ts[:1]
    np.subtract(ts[1:], ts[:-1], out=deltas[1:])
    return zlib.compress(deltas, ZLIB_LEVEL), zlib.compress(data, ZLIB_LEVEL)


def decode_series(ts_blob: bytes, value_blob: bytes, points: int) -> tuple[np.ndarray, np.ndarray]:
    """encode_series 的逆运算：返回 (时间 int64，UTC 毫秒, 数值 float64)，都是可写的新数组。

    块的长度与 points 不符时抛 ValueError（库被改坏了）。"""
    deltas = np.frombuffer(zlib.decompress(ts_blob), dtype=TS_DTYPE)
    values = np.frombuffer(zlib.decompress(value_blob), dtype=VALUE_DTYPE)
    if len(deltas) != points or len(values) != points:
        raise ValueError(f"series blobs hold {len(deltas)} times and {len(values)} values, expected {points}")
    return np.cumsum(deltas, dtype=np.int64), values.astype(np.float64, copy=True)


def insert_series(conn: sqlite3.Connection, run_id: int, instance: str, name: str, points: int,
                  blobs: tuple[bytes, bytes]) -> None:
    """在调用方的事务里插入一条已编码的序列（一行 run_series）；blobs 为 encode_series 的结果，points 为点数，
    instance 为空串表示组合（账户）。"""
    conn.execute("INSERT INTO run_series (run_id, instance, name, points, codec, ts, value) VALUES (?, ?, ?, ?, ?, ?, ?)",
                 (run_id, instance, name, points, CODEC, *blobs))


def write_series(conn: sqlite3.Connection, run_id: int, instance: str, name: str, timestamps: np.ndarray,
                 values: np.ndarray) -> None:
    """编码并在调用方的事务里写一条序列（一行 run_series）；instance 为空串表示组合（账户）。"""
    insert_series(conn, run_id, instance, name, len(timestamps), encode_series(timestamps, values))


def read_series(conn: sqlite3.Connection, run_id: int, instance: str = "",
                name: str = EQUITY) -> tuple[np.ndarray, np.ndarray]:
    """读一条序列：(时间 int64，UTC 毫秒, 数值 float64)；没有时两个空数组。

    先读 run_series；那里没有这条（旧库、第 6 版之前的回测）且要的是权益时，退回 equity 表的逐行记录（按时间排序）。
    编码名不认识时抛 ValueError（库是更新的 tradeterm 写的）。"""
    if has_table(conn, "run_series"):
        row = conn.execute("SELECT points, codec, ts, value FROM run_series WHERE run_id = ? AND instance = ? "
                           "AND name = ?", (run_id, instance, name)).fetchone()
        if row is not None:
            points, codec, ts_blob, value_blob = row
            if codec != CODEC:
                raise ValueError(f"run {run_id} series {name!r} uses codec {codec!r}; this tradeterm reads "
                                 f"{CODEC!r}; upgrade tradeterm")
            return decode_series(ts_blob, value_blob, int(points))
    if name == EQUITY and has_table(conn, "equity"):
        rows = conn.execute("SELECT ts, equity FROM equity WHERE run_id = ? AND instance = ? ORDER BY ts",
                            (run_id, instance)).fetchall()
        if rows:
            ts, values = zip(*rows)
            return np.array(ts, dtype=np.int64), np.array(values, dtype=np.float64)
    return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
