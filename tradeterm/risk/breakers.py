"""组合熔断：最大回撤与单日亏损。触发后阻止新开仓（减仓与平仓不受影响）。

回撤 = (历史最高权益 - 当前权益) / 历史最高权益；回撤熔断一直保持到人工复位。

单日亏损 = (当日起始权益 - 当前权益) / 当日起始权益，“当日”按 UTC 日期划分：
- 每个权益采样带一个时间 ts（K 线收盘时的采样记那根 K 线的开盘时间，成交时的采样记成交时间），属于 ts 所在的 UTC 日；
  所以收盘于 00:00 的那根（23:59 开盘）是前一天的最后一根；
- 当日起始权益 = 前一天最后一次采样的权益（即前一天最后一根 K 线的收盘权益，也就是当日 00:00 的权益），
  当日第一根 K 线里的亏损因此计入当日；第一天用 starting_equity（回测为初始资金），未给出时用第一次采样的权益；
- 单日亏损熔断在下一个 UTC 日的 00:00 解除：`blocking_at(ts)` 对 ts 已是新的一天的请求不再报单日亏损熔断，
  不必等新的一天的第一次采样（回测在 00:00 开盘成交的单在那根 K 线收盘之前检查）；
- 采样的日期只向前推进：周期不同的采样交错到来时（1h 那根 23:00 开盘的收盘采样晚于 00:00 之后的成交采样），
  较早日期的采样只更新当前权益，不会把“当日”拨回前一天。
"""

from __future__ import annotations

from dataclasses import dataclass

# 一天的毫秒数（按 UTC 日期划分交易日）
DAY_MS = 86_400_000


@dataclass
class CircuitBreakers:
    """熔断状态。阈值为小数（0.2 = 20%），None 表示不启用；权益为计价货币，时间为 UTC 毫秒。"""

    max_drawdown: float | None = None  # 最大回撤阈值（相对历史最高权益）
    daily_loss: float | None = None    # 单日亏损阈值（相对当日起始权益）
    starting_equity: float | None = None  # 第一天的起始权益（回测为初始资金），计价货币；None 时用第一次采样的权益
    peak_equity: float = 0.0           # 历史最高权益，计价货币
    day: int = -1                      # 当前交易日（UTC 日序号 = ts // DAY_MS）；-1 表示尚无采样
    day_start_equity: float = 0.0      # 当日起始权益（前一天最后一次采样的权益），计价货币
    last_equity: float | None = None   # 最近一次采样的权益，计价货币；None 表示尚无采样
    drawdown_tripped: bool = False     # 回撤熔断是否已触发（人工复位前一直保持）
    daily_tripped: bool = False        # 单日亏损熔断是否已触发（次日自动解除）

    def update(self, ts: int, equity: float) -> list[str]:
        """用最新权益更新状态，返回本次新触发的熔断说明（英文，供日志与界面）。"""
        events: list[str] = []
        day = ts // DAY_MS
        if day > self.day:
            # 新的一天：起点是前一天最后一次采样的权益（当日 00:00 的权益），不是当日第一次采样
            if self.last_equity is not None:
                start = self.last_equity
            else:
                start = equity if self.starting_equity is None else self.starting_equity
            self.day, self.day_start_equity, self.daily_tripped = day, start, False
        self.last_equity = equity
        self.peak_equity = max(self.peak_equity, equity)
        drawdown = self.drawdown(equity)
        if self.max_drawdown is not None and not self.drawdown_tripped and drawdown >= self.max_drawdown:
            self.drawdown_tripped = True
            events.append(f"max_drawdown breaker tripped: drawdown {drawdown:.2%} >= limit {self.max_drawdown:.2%}")
        loss = self.daily_loss_fraction(equity)
        if self.daily_loss is not None and not self.daily_tripped and loss >= self.daily_loss:
            self.daily_tripped = True
            events.append(f"daily_loss breaker tripped: today's loss {loss:.2%} >= limit {self.daily_loss:.2%}")
        return events

    def drawdown(self, equity: float) -> float:
        """当前回撤（小数）。"""
        return 0.0 if self.peak_equity <= 0 else max(self.peak_equity - equity, 0.0) / self.peak_equity

    def daily_loss_fraction(self, equity: float) -> float:
        """当日亏损（小数，盈利时为 0）。"""
        start = self.day_start_equity
        return 0.0 if start <= 0 else max(start - equity, 0.0) / start

    @property
    def blocking(self) -> str | None:
        """按最近一次采样的状态，正在阻止新开仓的熔断名；没有则为 None（界面显示用；下单检查用 blocking_at）。"""
        if self.drawdown_tripped:
            return "max_drawdown"
        if self.daily_tripped:
            return "daily_loss"
        return None

    def blocking_at(self, ts: int) -> str | None:
        """时刻 ts（UTC 毫秒）的新开仓会被哪个熔断挡住；没有则为 None。

        单日亏损熔断只在触发的那个 UTC 日内有效：ts 已是之后的日子时不再阻止（即在 00:00 解除），不必等新一天的采样。"""
        if self.drawdown_tripped:
            return "max_drawdown"
        if self.daily_tripped and ts // DAY_MS <= self.day:
            return "daily_loss"
        return None

    def reset_drawdown(self, equity: float) -> None:
        """人工复位回撤熔断：以当前权益为新的最高点重新计算。"""
        self.drawdown_tripped = False
        self.peak_equity = equity
