"""表单逐字解析（tradeterm/tui/parsing.py）：写什么就是什么，写法不对就报错，绝不截断或猜测。"""

from __future__ import annotations

import pytest

from tradeterm.errors import UserError
from tradeterm.tui import format as fmt
from tradeterm.tui.parsing import parse_param, parse_positive


@pytest.mark.parametrize("text, current, expected", [
    ("8", 10, 8), (" 12 ", 10, 12), ("010", 10, 10), ("-3", 1, -3),
    ("2.5", 1.0, 2.5), ("1e-3", 0.5, 0.001), (".5", 1.0, 0.5), ("3", 1.5, 3.0),
    ("true", False, True), ("False", True, False), ("close", "open", "close"),
])
def test_a_parameter_is_read_exactly_as_typed(text, current, expected):
    """整数、小数、布尔、文字各按原值的类型逐字解析（010 是十，不是 YAML 1.1 的八进制 8）。"""
    value = parse_param("p", text, current)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize("text, current, message", [
    ("8.5", 10, "not a whole number"), ("1_000", 10, "not a whole number"), ("0x10", 10, "not a whole number"),
    ("1e3", 10, "not a whole number"), ("", 10, "not a whole number"), ("nan", 1.0, "not a number"),
    ("inf", 1.0, "not a number"), ("1,5", 1.0, "not a number"), ("yes", True, "not true or false"),
])
def test_a_parameter_typed_wrong_is_an_error(text, current, message):
    """写法与类型不符：报错且错误里有参数名与原文。"""
    with pytest.raises(UserError) as caught:
        parse_param("fast", text, current)
    assert message in str(caught.value) and f"fast: '{text}'" in str(caught.value)


@pytest.mark.parametrize("text, expected", [
    ("0.015", 0.015), ("1,000", 1000.0), ("12,345.5", 12345.5), ("250", 250.0), ("2e-3", 0.002),
])
def test_an_order_size_is_read_exactly(text, expected):
    """正数；千分位逗号只在每组三位时接受。"""
    assert parse_positive(text, "amount") == expected


@pytest.mark.parametrize("text, message", [
    ("0,015", "use a dot for decimals"), ("1,5", "use a dot for decimals"), ("1,0000", "use a dot for decimals"),
    ("abc", "must be a number"), ("inf", "must be a number"), ("0", "must be positive"), ("-1", "must be positive"),
])
def test_an_ambiguous_or_wrong_order_size_is_an_error(text, message):
    """0,015 不会变成 15：意思不明的逗号、非数字、非正数都报错。"""
    with pytest.raises(UserError, match=message):
        parse_positive(text, "amount")


@pytest.mark.parametrize("value, text", [(0.015, "0.015"), (1.234e-05, "0.00001234"), (0.06763, "0.06763"),
                                         (2.0, "2"), (123456.789, "123456.789")])
def test_exact_shows_the_number_that_will_be_sent(value, text):
    """确认框的数字：最短的精确写法，不四舍五入、不用科学计数法。"""
    assert fmt.exact(value) == text
