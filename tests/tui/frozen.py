"""快照测试用的引擎客户端：返回固定的快照、固定的几条事件（总是先事件、后快照），命令只记录不执行——画面因此每次一模一样。

为什么不用真引擎：真引擎的价格、时间与成交每次运行都不同，快照（逐像素比较的 SVG）会每次都变。
交互行为（按键真的暂停实例、真的下单成交、一键停止真的平仓）由 test_app.py 对着真引擎与沙盒测试。
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from tradeterm.engine.events import Event, EventKind
from tradeterm.engine.queries import pnl_result, trades_result
from tradeterm.journal.history import JournalFill
from tradeterm.report.round_trips import round_trips

# 只读的查询命令（不改变引擎，界面启动时就会发 history）
QUERIES = ("history", "trades", "pnl")
# 固定的时间基准：2026-01-05 10:00:00 UTC，毫秒
T0 = 1_767_607_200_000


def frozen_snapshot(mode: str = "paper") -> dict[str, Any]:
    """一份固定的快照：三个实例（运行、暂停、出错）、两个持仓、一张挂单。"""
    def instance(name, symbol, interval, strategy, params, status, position, entry, mark, realized, unrealized,
                 signal, error=""):
        """一个实例行（键与 Bot.summary 相同）。"""
        return {"name": name, "symbol": symbol, "interval": interval, "strategy": strategy, "params": params,
                "status": status, "error": error, "position": position, "entry_price": entry, "mark": mark,
                "realized_pnl": realized, "unrealized_pnl": unrealized, "stop_loss": None, "take_profit": None,
                "last_signal": signal}

    return {
        "mode": mode, "exchange": "sandbox (in-process)", "run_id": 7,
        "instances": [
            instance("btc_ma_cross", "BTC/USDT", "1m", "MACross", {"fast": 10, "slow": 30}, "running", 0.021,
                     94_800.0, 95_310.5, 42.17, 10.71, "open long: ma cross up"),
            instance("eth_momentum", "ETH/USDT", "1m", "MomentumStrategy", {"lookback": 20, "exit_lookback": 10},
                     "paused", 0.0, 0.0, 3_305.2, -12.4, 0.0, "close long: momentum faded"),
            instance("eth_macd", "ETH/USDT", "5m", "MACDStrategy", {"fast": 12, "slow": 26, "signal": 9}, "error",
                     0.0, 0.0, 3_305.2, 0.0, 0.0, "", "RuntimeError: boom"),
        ],
        "positions": [
            {"instance": "btc_ma_cross", "symbol": "BTC/USDT", "amount": 0.021, "entry_price": 94_800.0,
             "mark": 95_310.5, "unrealized_pnl": 10.71},
            {"instance": "", "symbol": "ETH/USDT", "amount": 0.5, "entry_price": 3_320.0, "mark": 3_305.2,
             "unrealized_pnl": -7.4},
        ],
        "orders": [
            {"client_order_id": "tt-0001", "instance": "", "symbol": "ETH/USDT", "side": "buy", "type": "limit",
             "amount": 0.3, "price": 3_200.0, "status": "open", "filled": 0.0, "average_price": None,
             "reason": "manual"},
        ],
        "account": {"equity": 10_040.48, "cash": 6_397.26, "drawdown": 0.0123, "breaker": "", "killed": False,
                    "quote": "USDT"},
        "problems": [], "latency_ms": {"count": 0, "p50": None, "p99": None},
    }


def frozen_events() -> list[Event]:
    """固定的事件：几根 K 线、报价走势、一买一卖、权益采样、一条拒绝与一条错误。"""
    events = []
    closes = [95_000, 95_120, 94_980, 95_200, 95_260, 95_150, 95_300, 95_410, 95_280, 95_310.5]
    for i, close in enumerate(closes):
        ts = T0 + i * 60_000
        open_ = closes[i - 1] if i else 94_950
        events.append(Event(EventKind.BAR, ts + 60_000, {"symbol": "BTC/USDT", "timeframe": "1m", "ts": ts,
                                                         "open": open_, "high": max(open_, close) + 40,
                                                         "low": min(open_, close) - 40, "close": close,
                                                         "volume": 1.0}))
    for i, last in enumerate([3_290.0, 3_301.5, 3_296.0, 3_310.0, 3_305.2]):
        events.append(Event(EventKind.QUOTE, T0 + i * 1000, {"symbol": "ETH/USDT", "last": last, "ts_bar": T0}))
        # 报价订阅的 QUOTE（engine/tickers.py）：买一 = 最新价、卖一高一个价格步长（沙盒的价差规则）、24 小时统计；
        # BTC/USDT 只有 K 线、没有这种报价：它的买卖价显示为 -
        events.append(Event(EventKind.QUOTE, T0 + i * 1000, {
            "symbol": "ETH/USDT", "last": last, "bid": last, "ask": round(last + 0.01, 2), "bid_volume": 4.2,
            "ask_volume": 3.1, "volume_24h": 102_937.26 + i * 10, "quote_volume_24h": 339_811_000.0 + i * 33_000,
            "change_24h": 0.0123, "ts": T0 + i * 1000, "source": "stream"}))
    events.append(Event(EventKind.SIGNAL, T0 + 180_000, {"instance": "btc_ma_cross", "side": "buy", "opening": True,
                                                          "reason": "ma cross up", "acted": True}))
    events.append(Event(EventKind.FILL, T0 + 185_000, {"instance": "btc_ma_cross", "symbol": "BTC/USDT",
                                                        "side": "buy", "price": 95_200.0, "amount": 0.021, "fee": 2.0,
                                                        "client_order_id": "tt-0000", "trade_id": "1"}))
    events.append(Event(EventKind.FILL, T0 + 425_000, {"instance": "btc_ma_cross", "symbol": "BTC/USDT",
                                                        "side": "sell", "price": 95_410.0, "amount": 0.021,
                                                        "fee": 2.0, "client_order_id": "tt-0002",
                                                        "trade_id": "2"}))
    for i, equity in enumerate([10_000.0, 10_012.0, 9_990.0, 10_025.0, 10_031.0, 10_040.48]):
        events.append(Event(EventKind.EQUITY, T0 + i * 60_000, {"equity": equity, "cash": 6_397.26,
                                                                 "drawdown": 0.0}))
    events.append(Event(EventKind.REJECTION, T0 + 500_000, {"instance": "eth_momentum", "rule": "max_order_notional",
                                                             "reason": "order notional 6,000 > limit 5,000"}))
    events.append(Event(EventKind.ERROR, T0 + 510_000, {"instance": "eth_macd", "error": "RuntimeError: boom"}))
    return events


def frozen_fills() -> list[JournalFill]:
    """固定的成交（交易与盈亏屏用）：两个实例在几天里的几个回合，有赚有亏，还有一笔手动单。"""
    day = 86_400_000
    rows = [(0, "btc_ma_cross", "BTC/USDT", "buy", 94_800.0, 0.021), (3_600_000, "btc_ma_cross", "BTC/USDT", "sell",
                                                                       95_310.5, 0.021),
            (day, "btc_ma_cross", "BTC/USDT", "buy", 95_900.0, 0.02), (day + 7_200_000, "btc_ma_cross", "BTC/USDT",
                                                                         "sell", 95_100.0, 0.02),
            (day + 600_000, "eth_momentum", "ETH/USDT", "buy", 3_250.0, 0.6),
            (3 * day, "eth_momentum", "ETH/USDT", "sell", 3_312.4, 0.6),
            (3 * day + 60_000, "", "ETH/USDT", "buy", 3_320.0, 0.5), (3 * day + 900_000, "", "ETH/USDT", "sell",
                                                                       3_301.0, 0.5),
            (4 * day, "btc_ma_cross", "BTC/USDT", "buy", 94_950.0, 0.021)]
    return [JournalFill(T0 - 4 * day + ts, instance, symbol, side, price, amount, price * amount * 0.001, "USDT",
                        "manual" if not instance else f"{instance}.{'enter' if side == 'buy' else 'exit'}_long", 7)
            for ts, instance, symbol, side, price, amount in rows]


class FrozenClient:
    """固定数据的 EngineClient：快照不变，事件只发一遍然后静默，命令记在 commands 里、不执行。"""

    def __init__(self, mode: str = "paper") -> None:
        """mode 为快照里的模式（paper 或 live）。"""
        # 每次返回的快照
        self.frozen = frozen_snapshot(mode)
        # 收到的命令：(名字, 参数)
        self.commands: list[tuple[str, dict[str, Any]]] = []
        # 收到的只读查询：(名字, 参数)
        self.queries: list[tuple[str, dict[str, Any]]] = []
        # 固定事件已全部交给订阅者时置位：快照要等它（见 snapshot）
        self.replayed = asyncio.Event()

    async def snapshot(self) -> dict[str, Any]:
        """固定快照；在固定事件全部交出之后才返回。

        为什么要等：界面先收到快照还是先收到事件，画面不同（报价窗格的涨跌幅以第一个看到的价格为基准，快照里的标记价
        先到就成了基准）；两个后台 worker 谁先跑取决于机器快慢。固定成“先事件、后快照”，画面每次都一样。"""
        await self.replayed.wait()
        return self.frozen

    async def command(self, name: str, **args: Any) -> Any:
        """只记录命令；只读的查询另记在 queries 里：history 答空（没有历史），trades、pnl 按固定的成交算
        （与引擎用同一套函数，见 frozen_fills）。"""
        if name in QUERIES:
            self.queries.append((name, args))
            trips = round_trips(frozen_fills())
            if name == "trades":
                return trades_result(trips, args.get("instance"), args.get("limit"))
            if name == "pnl":
                # 最后一个周期固定在最后一笔平仓所在的那天（与墙上日期无关）
                return pnl_result(trips, args.get("period"), args.get("count"), args.get("instance"))
            return {}
        self.commands.append((name, args))
        return {}

    async def events(self) -> AsyncIterator[Event]:
        """固定事件发一遍（之后快照才会返回），然后一直等（像一个安静的引擎）。"""
        for event in frozen_events():
            yield event
        self.replayed.set()
        await asyncio.Event().wait()

    async def close(self) -> None:
        """无事可做。"""
