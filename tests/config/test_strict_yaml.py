"""严格的 YAML 读取（tradeterm.config.strict_yaml）：拒绝重复键、锚点与别名、过深的嵌套、非文字的键与显式标签，
每种都是一行带行号与键路径的说明；其余与 SafeLoader 相同（另把 1e15 这样的指数写法读成数）。"""

from __future__ import annotations

import math

import pytest
import yaml

from tradeterm.config.strict_yaml import MAX_DEPTH, StrictYAMLError, describe_yaml_error, load_yaml


def refusal(text: str) -> str:
    """读 text，断言被拒绝，返回那一行说明。"""
    with pytest.raises(yaml.YAMLError) as caught:
        load_yaml(text)
    message = describe_yaml_error(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("text, expected", [
    ("a: {b: 1, b: 2}\n", "line 1: duplicate key 'a.b' (first at line 1, again at line 1)"),
    ("s:\n  - {x: 1}\n  - params:\n      fast: 1\n      fast: 2\n",
     "line 5: duplicate key 's[1].params.fast' (first at line 4, again at line 5)"),
    ("'q': 1\nq: 2\n", "line 2: duplicate key 'q' (first at line 1, again at line 2)"),
])
def test_duplicate_keys_name_the_key_path_and_both_lines(text, expected):
    """任意深度、流式或块式、带不带引号：重复键都被拒绝，说明含完整键路径与两个行号。"""
    assert refusal(text).startswith(expected)


def test_nesting_up_to_the_cap_is_fine_and_one_more_level_is_refused():
    """恰好 MAX_DEPTH 层可以读；再深一层被拒绝（PyYAML 的组装是递归的，这样永远碰不到递归上限）。"""
    assert load_yaml("a: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)) is not None
    assert "nested deeper than 64 levels" in refusal("a: " + "[" * MAX_DEPTH + "]" * MAX_DEPTH)
    assert "nested deeper than 64 levels" in refusal("".join("  " * i + f"k{i}:\n" for i in range(200)))
    assert "nested deeper than 64 levels" in refusal("[" * 100_000)


@pytest.mark.parametrize("text, fragment", [
    ("1: x\n", "key '1' is read by YAML as a number"),
    ("on: x\n", "key 'on' is read by YAML as a boolean"),
    ("~: x\n", "key '~' is read by YAML as null"),
    ("? [a]\n: 1\n", "a key must be a plain name, not a list or mapping"),
    ("a: !!binary aGVsbG8=\n", "a: YAML tag '!!binary' is not allowed in a config file"),
    ("a: !!python/object/apply:os.system [ls]\n", "YAML tag '!!python/object/apply:os.system' is not allowed"),
    ("a: !custom x\n", "YAML tag '!custom' is not allowed"),
    ("a: &x 1\n", "a: YAML anchor '&x' is not allowed"),
    ("a: *x\n", "a: YAML alias '*x' is not allowed"),
    ('exchange:\n  id: "\\uDCFF"\n', "line 2: exchange.id: the text contains \\uDCFF, a lone surrogate that is not a "
                                     "valid character; remove it"),
])
def test_other_refusals(text, fragment):
    """非文字的键、显式标签、锚点与别名：各有一句说明。"""
    assert fragment in refusal(text)


def test_plain_values_read_as_with_safe_loader_plus_yaml_1_2_exponents():
    """普通值与 SafeLoader 相同；1e15、1.0e15、-2.5E-3 读成浮点数（YAML 1.1 把它们当文字）；!!str 仍可用。"""
    data = load_yaml("a: [1, 2.5, true, null, x, '1', 1e15, 1.0e15, -2.5E-3, .inf, !!str 7]\nb: {c: d}\n")
    assert data["a"][:6] == [1, 2.5, True, None, "x", "1"]
    assert data["a"][6:9] == [1e15, 1e15, -0.0025] and math.isinf(data["a"][9]) and data["a"][10] == "7"
    assert data["b"] == {"c": "d"}


def test_syntax_and_reader_errors_are_one_line():
    """语法错误、多个文档、不可打印字符：一行说明（位置 + 原因）。"""
    assert refusal("a: [b\n").startswith("line 2, column 1: YAML syntax error: ")
    assert "expected a single document in the stream, but found another document" in refusal("a: 1\n---\nb: 2\n")
    assert refusal("a: x\0y\n").startswith("character 4: unacceptable character #x0000")


def test_strict_errors_are_yaml_errors():
    """StrictYAMLError 是 yaml.YAMLError 的子类：只捕获 YAMLError 的调用方也能接住它。"""
    assert issubclass(StrictYAMLError, yaml.YAMLError)
