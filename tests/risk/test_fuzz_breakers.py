"""单日亏损熔断的模糊测试（hypothesis）：任意的权益采样序列上，CircuitBreakers 与一个直接按定义写的参照模型一致：
当日起点 = 前一天最后一次采样的权益（第一天为 starting_equity），熔断只在触发的那个 UTC 日内阻止开仓。"""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from tradeterm.risk.breakers import DAY_MS, CircuitBreakers

# 整个模块都是模糊测试
pytestmark = pytest.mark.fuzz

# 2023-03-01 00:00 UTC，毫秒
T0 = 1_677_628_800_000
# 相邻两次采样的间隔：同一分钟到三天，毫秒
GAPS = st.sampled_from([0, 1, 60_000, 3_600_000, DAY_MS - 1, DAY_MS, 3 * DAY_MS]) | st.integers(0, 2 * DAY_MS)
# 权益：正的计价货币金额
EQUITY = st.floats(1.0, 1e7, allow_nan=False, allow_infinity=False)


def reference(samples: list[tuple[int, float]], limit: float, starting: float | None) -> list[tuple[bool, bool]]:
    """参照模型：每次采样之后 (本次是否新触发, 熔断是否生效)，逐条按定义计算。"""
    out = []
    tripped_day = None
    for i, (ts, equity) in enumerate(samples):
        day = ts // DAY_MS
        earlier = [e for t, e in samples[:i] if t // DAY_MS < day]
        start = earlier[-1] if earlier else (starting if starting is not None else samples[0][1])
        loss = max(start - equity, 0.0) / start
        new = loss >= limit and tripped_day != day
        if new:
            tripped_day = day
        out.append((new, tripped_day == day))
    return out


@given(gaps=st.lists(GAPS, min_size=1, max_size=40), equities=st.lists(EQUITY, min_size=40, max_size=40),
       limit=st.floats(0.001, 0.5), starting=st.none() | EQUITY, probe=st.integers(0, DAY_MS * 2))
def test_breaker_matches_the_definition(gaps, equities, limit, starting, probe):
    """每次采样后：新触发的说明与参照模型一致，生效状态一致；采样之后 probe 毫秒的开仓请求被挡，
    当且仅当熔断生效且请求仍在最后一次采样的 UTC 日内。"""
    ts = T0
    samples = []
    for gap, equity in zip(gaps, equities):
        ts += gap
        samples.append((ts, equity))
    breakers = CircuitBreakers(daily_loss=limit, starting_equity=starting)
    for (ts, equity), (new, active) in zip(samples, reference(samples, limit, starting)):
        events = breakers.update(ts, equity)
        assert bool(events) == new
        assert all(e.startswith("daily_loss breaker tripped: today's loss ") for e in events)
        assert breakers.daily_tripped == active
        later = ts + probe
        expected = "daily_loss" if active and later // DAY_MS == ts // DAY_MS else None
        assert breakers.blocking_at(later) == expected
