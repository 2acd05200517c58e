"""对 ccxt 调用的重试：只重试可重试的错误（网络、超时、限流、交易所暂不可用），指数退避并遵守 Retry-After。

不可重试的错误（参数错、鉴权失败、余额不足 ...）原样抛出。下单这类非幂等请求不要直接套用：
先按客户端订单号查询是否已下成功（见 DESIGN.md）。
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import ccxt

log = logging.getLogger(__name__)

# ccxt 里可重试的异常：NetworkError 涵盖 RequestTimeout、ExchangeNotAvailable、DDoSProtection、RateLimitExceeded
RETRYABLE_ERRORS = (ccxt.NetworkError,)
# 调用结果的类型
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """重试策略：最多尝试次数与退避时间。"""

    attempts: int = 5            # 最多尝试次数（含第一次）
    base_delay_s: float = 0.5    # 第一次重试前的等待，秒；之后每次翻倍
    max_delay_s: float = 30.0    # 单次等待的上限，秒（Retry-After 也不超过它）
    jitter: float = 0.1          # 随机抖动占等待时间的比例（0..1），避免多个客户端同时重试


def retry_after_s(exchange: Any) -> float | None:
    """上一个响应的 Retry-After 头（秒）；没有或无法解析时返回 None。"""
    headers = getattr(exchange, "last_response_headers", None) or {}
    value = next((v for k, v in headers.items() if str(k).lower() == "retry-after"), None)
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def backoff_delay(policy: RetryPolicy, attempt: int) -> float:
    """第 attempt 次失败后的等待秒数：base × 2^(attempt-1)，不超过上限，加一点随机抖动。"""
    delay = min(policy.max_delay_s, policy.base_delay_s * 2 ** (attempt - 1))
    return delay * (1 + policy.jitter * random.random())


async def call_with_retry(call: Callable[..., Awaitable[T]], *args: Any, policy: RetryPolicy = RetryPolicy(),
                          exchange: Any = None, what: str = "", **kwargs: Any) -> T:
    """调用 call(*args, **kwargs)，遇到可重试错误按 policy 退避重试；次数用完后抛出最后一个错误。

    exchange 给出时，限流错误（429/418）之后按其 Retry-After 头等待（取与退避时间中较长者）。
    """
    for attempt in range(1, policy.attempts + 1):
        try:
            return await call(*args, **kwargs)
        except RETRYABLE_ERRORS as exc:
            if attempt >= policy.attempts:
                log.warning("giving up call=%s attempts=%s error=%s", what, attempt, type(exc).__name__)
                raise
            delay = backoff_delay(policy, attempt)
            if isinstance(exc, ccxt.DDoSProtection) and exchange is not None:
                hinted = retry_after_s(exchange)
                if hinted is not None:
                    delay = max(delay, min(hinted, policy.max_delay_s))
            log.warning("retrying call=%s attempt=%s delay_s=%.2f error=%s", what, attempt, delay,
                        type(exc).__name__)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable: the loop returns or raises")
