"""策略参数的取值规则：只收有限的数，落在每个策略声明的区间（param_ranges）内；同一套检查（param_problems）
用于 config.yml、--param 与控制套接字的 set_params（engine.replace_strategy -> build_strategy）。"""

from __future__ import annotations

import math
import sys
import textwrap

import pytest

from tradeterm.errors import StrategyError
from tradeterm.strategy.base import MAX_WINDOW
from tradeterm.strategy.loader import build_strategy, discover, load_strategy_class, param_problems
from tradeterm.strategy.params import parse_param_text

# 内置的四个策略类名
BUILTINS = ("MACross", "MACDStrategy", "MeanReversion", "MomentumStrategy")


@pytest.mark.parametrize("name, params, expected", [
    ("MeanReversion", {"entry_z": math.nan}, "entry_z=nan is not a finite number; use a number like 2.0"),
    ("MeanReversion", {"entry_z": math.inf}, "entry_z=inf is not a finite number; use a number like 2.0"),
    ("MeanReversion", {"exit_z": -math.inf}, "exit_z=-inf is not a finite number; use a number like 0.0"),
    ("MomentumStrategy", {"min_roc": math.nan}, "min_roc=nan is not a finite number; use a number like 0.0"),
    ("MomentumStrategy", {"min_roc": 10 ** 400}, "min_roc=a 401-digit number is not a finite number; use a number "
                                                 "like 0.0"),
    ("MomentumStrategy", {"lookback": 1_000_000_000}, "lookback=1000000000 must be at least 1 and at most 100000"),
    ("MomentumStrategy", {"lookback": math.inf}, "lookback=inf is not a finite number; use a whole number like 20"),
    ("MACross", {"slow": 1e15}, "slow=1000000000000000 must be at least 1 and at most 100000"),
    ("MACross", {"slow": 2 ** 70}, "slow=1180591620717411303424 is too large; use a whole number like 30"),
    ("MACross", {"fast": 0}, "fast=0 must be at least 1 and at most 100000"),
    ("MACDStrategy", {"signal": 100_001}, "signal=100001 must be at least 1 and at most 100000"),
    ("MeanReversion", {"window": 1}, "window=1 must be at least 2 and at most 100000"),
    ("MeanReversion", {"entry_z": 5000.0}, "entry_z=5000.0 must be at least 0 and at most 1000"),
    ("MomentumStrategy", {"min_roc": -0.1}, "min_roc=-0.1 must be at least 0 and at most 100"),
])
def test_non_finite_and_out_of_range_params_are_refused(name, params, expected):
    """nan、inf、超大整数与越界的窗口都被拒绝，说明写明参数、取值与允许的区间。"""
    assert param_problems(load_strategy_class(name), params) == [expected]
    with pytest.raises(StrategyError, match="must be|finite|too large"):
        build_strategy(load_strategy_class(name), params)


@pytest.mark.parametrize("name", BUILTINS)
def test_every_builtin_declares_ranges_that_hold_its_defaults(name):
    """四个内置策略都声明了每个数值参数的区间，默认值在区间内，窗口上限是 MAX_WINDOW。"""
    cls = load_strategy_class(name)
    numeric = {k for k, v in cls.params.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    assert set(cls.param_ranges) == numeric
    for key, (low, high) in cls.param_ranges.items():
        assert low <= cls.params[key] <= high, key
    assert param_problems(cls, {}) == []
    windows = [high for key, (_, high) in cls.param_ranges.items() if isinstance(cls.params[key], int)]
    assert windows and all(high == MAX_WINDOW for high in windows)


def test_the_largest_allowed_window_is_accepted():
    """区间是闭区间：恰好 MAX_WINDOW 的窗口可以用（fast < slow 的约束照旧）。"""
    cls = load_strategy_class("MACross")
    assert build_strategy(cls, {"fast": MAX_WINDOW - 1, "slow": MAX_WINDOW}).params["slow"] == MAX_WINDOW
    assert param_problems(cls, {"fast": MAX_WINDOW, "slow": MAX_WINDOW}) == [
        "fast=100000 must be below slow=100000"]


def test_cli_param_values_go_through_the_same_check():
    """--param 的值按严格 YAML 读出后走同一个检查：.nan 被拒绝，1e3 读成数字 1000。"""
    key, value = parse_param_text("entry_z=.nan")
    assert key == "entry_z" and math.isnan(value)
    assert param_problems(load_strategy_class("MeanReversion"), {key: value}) == [
        "entry_z=nan is not a finite number; use a number like 2.0"]
    assert parse_param_text("slow=1e3") == ("slow", 1000.0)
    assert build_strategy(load_strategy_class("MACross"), dict([parse_param_text("slow=1e3")])).params["slow"] == 1000


def test_set_params_style_merge_is_checked_too():
    """控制套接字的 set_params 把新参数合并到当前参数上再 build_strategy：JSON 的 NaN 与 10 亿的窗口都被拒绝。"""
    cls = load_strategy_class("MomentumStrategy")
    current = build_strategy(cls, {}).params
    with pytest.raises(StrategyError, match=r"lookback=1000000000 must be at least 1 and at most 100000"):
        build_strategy(cls, {**current, "lookback": 1_000_000_000})
    with pytest.raises(StrategyError, match=r"min_roc=nan is not a finite number"):
        build_strategy(cls, {**current, "min_roc": float("nan")})


def test_params_must_be_a_mapping():
    """params 不是映射（控制套接字里的列表等）：一条说明，而不是 AttributeError。"""
    assert param_problems(load_strategy_class("MACross"), [1, 2]) == [
        "params must be a mapping of name: value, got list"]


def test_plugin_range_and_validator_bugs_are_reported_not_raised(tmp_path):
    """插件的 param_ranges 写了不存在的参数、或 validate_params 自己抛异常：报告为问题（让作者修插件），不是 traceback。"""
    (tmp_path / "buggy_plugin.py").write_text(textwrap.dedent('''\
        """有毛病的插件（测试用）。"""
        import pandas as pd
        from tradeterm import Strategy


        class BadRange(Strategy):
            """区间写了不存在的参数。"""

            # 一个参数
            params = {"k": 1}
            # 区间里的名字拼错了
            param_ranges = {"kk": (0, 10)}

            def signals(self, df):
                """从不交易。"""
                return pd.DataFrame({"enter_long": df["close"] < 0})


        class BadCheck(Strategy):
            """校验代码自己出错。"""

            # 一个参数
            params = {"k": 1}

            @classmethod
            def validate_params(cls, params):
                """故意出错。"""
                return [1 / 0]

            def signals(self, df):
                """从不交易。"""
                return pd.DataFrame({"enter_long": df["close"] < 0})
        '''), encoding="utf-8")
    catalog = discover([tmp_path])
    assert param_problems(catalog.classes["BadRange"], {}) == [
        "BadRange.param_ranges names 'kk', which is not one of its params (k); fix the plugin"]
    assert param_problems(catalog.classes["BadCheck"], {}) == [
        "BadCheck.validate_params failed (ZeroDivisionError: division by zero); fix the plugin"]


@pytest.mark.parametrize("spec", [":", ":X", ".x:Y", "a..b:C", "x:", "x:Y:Z", "1x:Y", "x.:Y"])
def test_malformed_dotted_specs_are_one_line_errors(spec):
    """`module:Class` 写法不对：一行 StrategyError，写明期望的形式（不再是 ValueError/TypeError 的 traceback）。"""
    with pytest.raises(StrategyError) as caught:
        load_strategy_class(spec)
    assert str(caught.value) == (f"strategy class {spec!r}: expected 'package.module:Class' (a dotted module name, a "
                                 f"colon and a class name, e.g. mypackage.strategies:MyStrategy) or a class name from "
                                 f"strategies/")


def test_a_module_that_fails_while_importing_is_a_strategy_error(tmp_path, monkeypatch):
    """外部模块导入时自己抛异常（不是 ImportError）：StrategyError 写明模块与异常。"""
    (tmp_path / "explodes_on_import.py").write_text('"""导入即出错（测试用）。"""\nraise RuntimeError("boom")\n',
                                                    encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(StrategyError, match=r"importing module 'explodes_on_import' failed \(RuntimeError: boom\)"):
        load_strategy_class("explodes_on_import:X")
    sys.modules.pop("explodes_on_import", None)
