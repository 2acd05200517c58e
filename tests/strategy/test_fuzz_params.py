"""策略参数的模糊测试（hypothesis）：给四个内置策略随机的参数字典（已知与未知的名字，数、inf、nan、布尔、
超大整数、文字、列表、null），经 param_problems / build_strategy（config、--param 与 set_params 共用的检查）。

性质：要么是一行一条、以参数名或类名开头的问题列表（build_strategy 抛 StrategyError），要么建出的策略的每个
参数类型与默认值相同、有限、落在声明的区间内。
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradeterm.errors import StrategyError
from tradeterm.strategy.loader import build_strategy, load_strategy_class, param_problems

# 内置的四个策略类
CLASSES = [load_strategy_class(name) for name in ("MACross", "MACDStrategy", "MeanReversion", "MomentumStrategy")]
# 参数名：各策略的真实参数名，加上几个不存在的
NAMES = st.sampled_from(sorted({k for cls in CLASSES for k in cls.params} | {"windw", "k", ""}))
# 参数值
VALUES = st.one_of(st.integers(-10 ** 6, 10 ** 6), st.sampled_from([10 ** 400, 2 ** 63, 1e15, 100_000, 100_001]),
                   st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none(), st.text(max_size=8),
                   st.lists(st.integers(), max_size=2))


@pytest.mark.fuzz
@given(cls=st.sampled_from(CLASSES), params=st.dictionaries(NAMES, VALUES, max_size=4))
def test_random_params_are_refused_clearly_or_give_a_sane_strategy(cls, params):
    """随机参数：要么清楚的问题列表，要么每个参数都是有限、在区间内、类型与默认值相同的策略。"""
    problems = param_problems(cls, params)
    if problems:
        heads = (*(f"{key}=" for key in {**cls.params, **params}), "unknown parameter '")
        for problem in problems:
            assert "\n" not in problem and problem.startswith(heads), problem
        with pytest.raises(StrategyError):
            build_strategy(cls, params)
        return
    strategy = build_strategy(cls, params)
    for key, value in strategy.params.items():
        assert type(value) is type(cls.params[key]), (key, value)
        if key in cls.param_ranges:
            low, high = cls.param_ranges[key]
            assert math.isfinite(value) and low <= value <= high, (key, value)
