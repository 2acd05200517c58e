"""故障注入：测试中按需打开的 HTTP 错误、慢响应、拒单与 websocket 故障（断开、静默、重复、乱序）。

每条规则带次数（times；-1 表示直到 clear() 为止）与作用的路径前缀。进程内通过 `SandboxExchange.faults` 使用：

    sandbox.faults.fail_http(429, times=2, retry_after_s=1)   # 接下来两个请求回 429
    sandbox.faults.slow_http(3.0, path="/api/v3/klines")      # 下一次 K 线请求晚 3 秒才回
    sandbox.faults.reject_orders()                            # 下一张订单被拒（-2010）
    sandbox.faults.drop_websockets()                          # 断开当前所有 websocket
    sandbox.faults.hide_klines(t0, t1)                        # K 线在 [t0, t1) 缺失（维护造成的缺口）
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from tradeterm.sandbox import errors


@dataclass
class HttpFault:
    """一条 HTTP 故障规则：返回某个状态码，或延迟一段时间后再正常处理。"""

    status: int | None         # 返回的 HTTP 状态码（429、418、500、503 ...）；None 表示只延迟
    delay_s: float             # 处理前等待的秒数（慢响应/超时用）
    times: int                 # 剩余生效次数；-1 表示一直生效
    path: str                  # 只对以此开头的路径生效，如 /api/v3/klines
    method: str | None         # 只对此 HTTP 方法生效（GET/POST/DELETE）；None 表示全部
    retry_after_s: int | None  # 429/418 时 Retry-After 头的秒数；None 表示不带此头

    def matches(self, method: str, path: str) -> bool:
        """这条规则是否作用于该请求。"""
        return path.startswith(self.path) and (self.method is None or self.method == method.upper())


class FaultInjector:
    """按测试需要注入的故障集合；服务器各处在处理请求/推送消息前向它询问。"""

    def __init__(self) -> None:
        """初始状态：没有任何故障。"""
        # HTTP 规则，按加入顺序匹配
        self.http_rules: list[HttpFault] = []
        # 剩余要拒绝的下单次数
        self.order_rejections = 0
        # 拒单时返回的 (错误码, 消息)
        self.rejection_error: tuple[int, str] = errors.INSUFFICIENT_BALANCE
        # websocket 静默截止的墙上时间（time.monotonic() 秒）；静默期间不推送、也不回 pong
        self.silent_until = 0.0
        # 剩余要重复发送的 websocket 消息条数
        self.duplicates = 0
        # 剩余要乱序（与下一条交换顺序）的 websocket 消息条数
        self.reorders = 0
        # 断开代次：每调用一次 drop_websockets() 加一，连接发现代次变了就被服务器关闭
        self.drop_generation = 0
        # 剩余要拒绝的 websocket 握手次数（返回 HTTP 503）
        self.refused_websockets = 0
        # klines 接口“没有数据”的时间段 [开始, 结束)（UTC 毫秒），模拟交易所维护造成的缺口
        self.hidden_klines: list[tuple[int, int]] = []
        # 行情流的滞后：Binance 交易对 id（如 BTCUSDT）-> 毫秒（模拟时间）；该交易对的 K 线流推送的是这么久以前的行情
        # （模拟一个被拖慢、越落越远的行情连接；REST 接口不受影响，始终是当前行情）
        self.stream_lags: dict[str, int] = {}

    def clear(self) -> None:
        """清除全部故障。"""
        self.__init__()

    def fail_http(self, status: int, *, times: int = 1, path: str = "/", method: str | None = None,
                  retry_after_s: int | None = None) -> None:
        """接下来 times 个匹配的请求直接返回 HTTP status（429/418 带 Binance 的 -1003 正文，5xx 为网关错误页）。"""
        self.http_rules.append(HttpFault(status, 0.0, times, path, method, retry_after_s))

    def slow_http(self, delay_s: float, *, times: int = 1, path: str = "/", method: str | None = None) -> None:
        """接下来 times 个匹配的请求先等 delay_s 秒再处理（超过客户端超时即为超时）。"""
        self.http_rules.append(HttpFault(None, delay_s, times, path, method, None))

    def reject_orders(self, *, times: int = 1, error: tuple[int, str] = errors.INSUFFICIENT_BALANCE) -> None:
        """接下来 times 张新订单被拒，返回 error（默认 -2010 余额不足）。"""
        self.order_rejections = times
        self.rejection_error = error

    def drop_websockets(self) -> None:
        """立刻（下一个撮合节拍内）由服务器关闭当前全部 websocket 连接。"""
        self.drop_generation += 1

    def silence_websockets(self, seconds: float) -> None:
        """接下来 seconds 秒内 websocket 连接保持打开但不推送任何消息、不回 pong。"""
        self.silent_until = time.monotonic() + seconds

    def duplicate_messages(self, times: int = 1) -> None:
        """接下来 times 条推送消息各发两次。"""
        self.duplicates = times

    def reorder_messages(self, times: int = 1) -> None:
        """接下来 times 条推送消息各自与其后一条交换顺序发送。"""
        self.reorders = times

    def refuse_websockets(self, times: int = 1) -> None:
        """接下来 times 次 websocket 握手被拒（HTTP 503）。"""
        self.refused_websockets = times

    def hide_klines(self, start_ts: int, end_ts: int) -> None:
        """让 klines 接口不返回开盘时间在 [start_ts, end_ts)（UTC 毫秒）内的 K 线（交易所的数据缺口）。"""
        self.hidden_klines.append((int(start_ts), int(end_ts)))

    def lag_stream(self, market_id: str, lag_ms: int) -> None:
        """让 market_id（如 BTCUSDT）的 K 线流落后 lag_ms 毫秒（模拟时间）；0 取消。"""
        if lag_ms > 0:
            self.stream_lags[market_id.replace("/", "").upper()] = int(lag_ms)
        else:
            self.stream_lags.pop(market_id.replace("/", "").upper(), None)

    def stream_lag(self, market_id: str) -> int:
        """market_id 的 K 线流此刻的滞后，毫秒（模拟时间）；没有注入时为 0。"""
        return self.stream_lags.get(market_id.upper(), 0)

    def is_hidden(self, ts: int) -> bool:
        """开盘时间为 ts 的 K 线是否被 hide_klines 藏起来。"""
        return any(start <= ts < end for start, end in self.hidden_klines)

    def take_http(self, method: str, path: str) -> HttpFault | None:
        """取出作用于该请求的第一条规则（并扣减次数）；没有则返回 None。"""
        for rule in self.http_rules:
            if rule.times != 0 and rule.matches(method, path):
                if rule.times > 0:
                    rule.times -= 1
                return rule
        return None

    def take_order_rejection(self) -> tuple[int, str] | None:
        """若还有待拒的订单，扣减一次并返回要回的错误。"""
        if self.order_rejections == 0:
            return None
        self.order_rejections -= 1
        return self.rejection_error

    def websockets_silent(self) -> bool:
        """当前是否处于 websocket 静默期。"""
        return time.monotonic() < self.silent_until

    def take_duplicate(self) -> bool:
        """这条消息是否要重复发送（并扣减次数）。"""
        if self.duplicates <= 0:
            return False
        self.duplicates -= 1
        return True

    def take_reorder(self) -> bool:
        """这条消息是否要与下一条交换顺序（并扣减次数）。"""
        if self.reorders <= 0:
            return False
        self.reorders -= 1
        return True

    def take_refusal(self) -> bool:
        """这次 websocket 握手是否要拒绝（并扣减次数）。"""
        if self.refused_websockets <= 0:
            return False
        self.refused_websockets -= 1
        return True
