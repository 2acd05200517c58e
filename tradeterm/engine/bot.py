"""一个策略实例（机器人）：最近的 K 线窗口、策略对象、状态、持仓与引擎管理的止损止盈。

机器人只做“决定”：收盘时问策略要信号，按与回测相同的仓位规则（见 tradeterm/backtest/broker.py）把信号变成
下单意图（`Intent`）；下单、风控与记账由引擎完成。规则：
- 已持多仓时的开多被忽略，空仓时的平多被忽略；同一根 K 线先平后开（合约上可以反手）；
- 现货只做多：开空/平空信号被丢弃；
- 有未结束的订单时不产生新的开仓意图（避免重复开仓）。

问策略要信号有两条路：
- 策略实现了逐根形式（`Strategy.update`，四个内置策略都有）：机器人在 load_history 时用预热的历史 K 线建立它的状态
  （从窗口的第一根起逐根计算），之后每根收盘 K 线 add_bar 时增量更新一次（O(1)，不构造 DataFrame），signals()
  直接给出这根的结果。于是实盘的信号等于向量化策略在“从机器人载入的第一根起的全部 K 线”上的信号——与 replay-check
  的回测（从第一根实时 K 线之前 window 根起的整段历史）一致，EMA 类指标也不再因滑动窗口而与回测有细微差别；
- 否则（插件只有向量化的 signals() 或只重写了 on_data）：每根在最近 window 根的窗口上调用 on_data，同以前。
策略对象被替换（set_params）时，新策略的逐根状态从当前窗口重新建立；逐根计算抛出的异常在下一次 signals() 时
原样抛出，交给引擎对策略异常的统一处理（实例进入 error）；恢复运行后从窗口重新建立状态。
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tradeterm.engine.instance import InstanceState
from tradeterm.models import MarketType, Position, Side, SignalIntent, TradeSignal
from tradeterm.models.bar import OHLCV_COLUMNS
from tradeterm.strategy.base import Strategy

# 窗口里至少保留的 K 线根数（预热更长的策略保留 2 倍预热）
MIN_WINDOW = 300
# K 线缓冲区的容量是窗口的几倍：写满时才把最近的窗口搬到新缓冲区的开头，追加一根摊下来是 O(1)
BUFFER_FACTOR = 2


@dataclass(frozen=True, slots=True)
class Intent:
    """机器人想下的一张单：方向、是否开仓、原因，以及开仓时附带的止损止盈。"""

    side: Side                        # 买或卖
    opening: bool                     # True 为开仓，False 为平仓（数量 = 当前持仓）
    reason: str                       # 原因标签（信号的 reason 或意图名）
    stop_loss: float | None = None    # 开仓后的止损价，计价货币
    take_profit: float | None = None  # 开仓后的止盈价，计价货币


class Bot:
    """一个运行中的策略实例。"""

    def __init__(self, strategy: Strategy, state: InstanceState, market_type: MarketType):
        """strategy 为已按参数创建的策略对象；state 为实例状态；market_type 决定能否做空。"""
        # K 线缓冲区：每行 [timestamp, open, high, low, close, volume]；窗口是其中 [_start, _end) 的一段（见 bars）
        self._buffer = np.zeros((0, 6))
        # 窗口第一根在缓冲区里的行号
        self._start = 0
        # 窗口最后一根之后的行号
        self._end = 0
        # 策略是否实现了逐根形式（随策略对象设置）
        self._incremental = False
        # 逐根状态是否已覆盖窗口里的每一根（False 时下一次 signals() 从窗口重新建立）
        self._synced = False
        # 逐根计算抛出、还没有交给引擎的异常（下一次 signals() 抛出）
        self._failure: Exception | None = None
        # 逐根路径上窗口最后一根的信号
        self._pending: list[TradeSignal] = []
        # 实例名（来自策略对象，strategy 属性设置时更新）
        self.name: str = strategy.name
        # 交易对，ccxt 形式（同上）
        self.symbol: str = strategy.symbol
        # 策略对象（set_params 时整个替换；设置时从窗口建立逐根状态，见 strategy 属性）
        self.strategy = strategy
        # 运行状态（running / paused / stopped / error）
        self.state = state
        # 市场类型：现货只做多
        self.market_type = market_type
        # 本实例在本交易对上的持仓（由成交更新）
        self.position = Position(strategy.symbol, instance=strategy.name)
        # 引擎管理的止损价，计价货币；None 表示没有
        self.stop_loss: float | None = None
        # 引擎管理的止盈价，计价货币；None 表示没有
        self.take_profit: float | None = None
        # 最近一次信号的说明（界面显示）
        self.last_signal = ""
        # 最新价，计价货币（标记持仓用）
        self.mark = 0.0
        # 最新价的时间，UTC 毫秒（陈旧行情检查用）
        self.mark_ts = 0

    @property
    def strategy(self) -> Strategy:
        """策略对象。"""
        return self._strategy

    @strategy.setter
    def strategy(self, strategy: Strategy) -> None:
        """换上策略对象（启动时与 set_params）：逐根形式的状态从当前窗口的第一根起重新建立。"""
        self._strategy = strategy
        # 实例名与交易对存成普通属性（不随策略替换而变）：记账每根 K 线都要遍历全部实例读它们，属性比 property 快几倍
        self.name, self.symbol = strategy.name, strategy.symbol
        self._incremental = strategy.is_incremental
        self._seed()

    @property
    def bars(self) -> np.ndarray:
        """最近 K 线的窗口（只读视图）：每行 [timestamp, open, high, low, close, volume]，最多 window 行。"""
        return self._buffer[self._start:self._end]

    @property
    def window(self) -> int:
        """窗口保留的 K 线根数。"""
        return max(MIN_WINDOW, 2 * int(self.strategy.warmup))

    def load_history(self, frame: pd.DataFrame) -> None:
        """用历史 K 线填满窗口（启动时的预热），并从窗口的第一根起建立策略的逐根状态。"""
        rows = frame[list(OHLCV_COLUMNS)].to_numpy(dtype=float)[-self.window:]
        self._buffer = np.zeros((max(BUFFER_FACTOR * self.window, len(rows)), 6))
        self._buffer[:len(rows)] = rows
        self._start, self._end = 0, len(rows)
        if len(rows):
            self.mark, self.mark_ts = float(rows[-1, 4]), int(rows[-1, 0])
        self._seed()

    def add_bar(self, row: list[float]) -> bool:
        """追加一根已收盘的 K 线；比窗口里最后一根旧或相同的被忽略（返回 False）。

        策略有逐根形式时在这里增量更新一次（补缺口的 K 线也要经过它，状态才连续）；异常留给下一次 signals()。"""
        end = self._end
        if end > self._start and row[0] <= self._buffer[end - 1, 0]:
            return False
        values = [float(v) for v in row]
        window = self.window
        if end == len(self._buffer):
            # 写满：最近 window-1 根搬进新缓冲区的开头（新分配而不是原地移动：已经拿到 bars 视图的调用方看到的数据不变）
            keep = self._buffer[max(self._start, end - (window - 1)):end]
            self._buffer = np.zeros((max(BUFFER_FACTOR * window, len(keep) + 1), 6))
            self._buffer[:len(keep)] = keep
            self._start, end = 0, len(keep)
        self._buffer[end] = values
        self._end = end + 1
        self._start = max(self._start, self._end - window)
        self.mark, self.mark_ts = values[4], int(row[0])
        if self._incremental and self._synced:
            try:
                self._pending = self._strategy.on_bar(values)
            except Exception as exc:  # 插件代码的异常：记下，下一次 signals() 交给引擎
                self._fail(exc)
        return True

    def _seed(self) -> None:
        """从窗口的第一根起重新建立逐根状态（策略没有逐根形式时什么也不做）；异常留给下一次 signals()。"""
        self._synced, self._failure, self._pending = False, None, []
        if not self._incremental:
            return
        try:
            self._replay_window()
        except Exception as exc:  # 插件代码的异常：记下，下一次 signals() 交给引擎
            self._fail(exc)

    def _replay_window(self) -> None:
        """逐根状态 <- 窗口：除最后一根外逐根喂给策略，最后一根的信号留作 signals() 的结果。异常原样抛出。"""
        rows = self.bars.tolist()
        self._strategy.seed(rows[:-1])
        self._pending = self._strategy.on_bar(rows[-1]) if rows else []
        self._synced = True

    def _fail(self, exc: Exception) -> None:
        """逐根计算出错：状态作废（之后不再喂 K 线），异常等下一次 signals() 抛出。"""
        self._synced, self._failure, self._pending = False, exc, []

    def frame(self) -> pd.DataFrame:
        """窗口 -> 策略需要的 DataFrame（timestamp 为 int64）。"""
        frame = pd.DataFrame(self.bars[:, 1:], columns=list(OHLCV_COLUMNS[1:]))
        frame.insert(0, "timestamp", self.bars[:, 0].astype(np.int64))
        return frame

    def signals(self) -> list[TradeSignal]:
        """窗口最后一根 K 线上的信号（窗口不够预热时没有）。策略抛出的异常由引擎处理。

        逐根形式：add_bar 已算好，这里直接返回；之前出错的，在这里抛出那个异常；出错之后（恢复运行时）先从窗口重建状态。
        否则在窗口上调用策略的 on_data。"""
        if self._incremental:
            if self._failure is not None:
                failure, self._failure = self._failure, None
                raise failure
            if self._end - self._start < max(int(self._strategy.warmup), 1):
                return []
            if not self._synced:
                self._replay_window()
            return self._pending
        if len(self.bars) < max(int(self.strategy.warmup), 1):
            return []
        return self.strategy.on_data(self.frame())

    def intents(self, signals: list[TradeSignal], has_open_order: bool) -> list[Intent]:
        """信号 -> 下单意图（先平后开），规则见模块说明。"""
        closing = [s for s in signals if s.intent in (SignalIntent.CLOSE_LONG, SignalIntent.CLOSE_SHORT)]
        opening = [s for s in signals if s.intent in (SignalIntent.OPEN_LONG, SignalIntent.OPEN_SHORT)]
        side = self.position.amount
        intents: list[Intent] = []
        for signal in closing:
            if (signal.intent is SignalIntent.CLOSE_LONG and side > 0) or \
                    (signal.intent is SignalIntent.CLOSE_SHORT and side < 0):
                intents.append(Intent(Side.SELL if side > 0 else Side.BUY, False, signal.reason or signal.intent.value))
                side = 0.0
        for signal in opening:
            if signal.intent is SignalIntent.OPEN_SHORT and self.market_type is not MarketType.FUTURES:
                continue  # 现货只做多
            if side == 0 and not has_open_order:
                intents.append(Intent(signal.side, True, signal.reason or signal.intent.value, signal.stop_loss,
                                      signal.take_profit))
                break
        return intents

    def exit_hit(self, price: float) -> str | None:
        """最新价是否触发了止损或止盈：返回 stop_loss / take_profit，未触发为 None。止损先于止盈检查。"""
        amount = self.position.amount
        if amount == 0:
            return None
        if self.stop_loss is not None and ((amount > 0 and price <= self.stop_loss) or
                                           (amount < 0 and price >= self.stop_loss)):
            return "stop_loss"
        if self.take_profit is not None and ((amount > 0 and price >= self.take_profit) or
                                             (amount < 0 and price <= self.take_profit)):
            return "take_profit"
        return None

    def unrealized(self) -> float:
        """按最新价的浮动盈亏，计价货币。"""
        return self.position.unrealized_pnl(self.mark) if self.position.amount else 0.0

    def summary(self) -> dict:
        """界面与快照用的一行（可 JSON 序列化）。"""
        strategy = self.strategy
        return {"name": self.name, "symbol": self.symbol, "interval": strategy.timeframe,
                "strategy": type(strategy).__name__, "params": dict(strategy.params), "status": self.state.status.value,
                "error": self.state.error, "position": self.position.amount, "entry_price": self.position.entry_price,
                "mark": self.mark, "realized_pnl": self.position.realized_pnl - self.position.fees,
                "unrealized_pnl": self.unrealized(), "stop_loss": self.stop_loss, "take_profit": self.take_profit,
                "last_signal": self.last_signal}
