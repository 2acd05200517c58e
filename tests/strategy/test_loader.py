"""插件加载：按类名、按 package.module:Class；参数合并与校验；坏插件不拖累别的插件。"""

from __future__ import annotations

import sys
import textwrap

import pytest

from tradeterm.errors import StrategyError
from tradeterm.strategy.loader import build_strategy, discover, load_strategy_class
from tradeterm.strategy.params import parse_param_text

# 一个合法的外部插件
PLUGIN = textwrap.dedent('''\
    """外部插件（测试用）。"""
    import pandas as pd
    from tradeterm import Strategy


    class AlwaysFlat(Strategy):
        """从不交易。"""

        # 无用参数，测试参数合并
        params = {"k": 1.5}

        def signals(self, df):
            """全 False。"""
            return pd.DataFrame({"enter_long": df["close"] < 0})
    ''')


def test_builtin_classes_are_found_by_name():
    """四个内置策略都能按类名找到。"""
    assert discover().names() == ["MACDStrategy", "MACross", "MeanReversion", "MomentumStrategy"]
    assert load_strategy_class("MACross").params == {"fast": 10, "slow": 30}


def test_params_merge_over_defaults_and_unknown_are_rejected():
    """配置参数覆盖默认值，未给的保持默认；未知参数报错并给出最接近的名字。"""
    cls = load_strategy_class("MACross")
    strategy = build_strategy(cls, {"fast": 5}, name="x")
    assert strategy.params == {"fast": 5, "slow": 30} and strategy.name == "x"
    assert cls.params == {"fast": 10, "slow": 30}, "class defaults must not change"
    with pytest.raises(StrategyError, match=r"unknown parameter 'slwo' for MACross \(did you mean 'slow'\?\)"):
        build_strategy(cls, {"slwo": 5})
    with pytest.raises(StrategyError, match="fast=40 must be below slow=30"):
        build_strategy(cls, {"fast": 40})


def test_float_param_accepts_int_but_int_param_rejects_float():
    """float 参数接受整数（转成 float）；int 参数拒绝 2.5 与布尔。"""
    cls = load_strategy_class("MeanReversion")
    assert build_strategy(cls, {"entry_z": 3}).params["entry_z"] == 3.0
    with pytest.raises(StrategyError, match="window=2.5 must be a whole number"):
        build_strategy(cls, {"window": 2.5})
    with pytest.raises(StrategyError, match="window=True must be a whole number"):
        build_strategy(cls, {"window": True})


def test_plugin_dir_and_dotted_path(tmp_path, monkeypatch):
    """额外目录里的插件按类名可用；同一文件也能按 package.module:Class 加载。"""
    (tmp_path / "flat_plugin.py").write_text(PLUGIN, encoding="utf-8")
    assert load_strategy_class("AlwaysFlat", [tmp_path]).params == {"k": 1.5}
    monkeypatch.syspath_prepend(str(tmp_path))
    cls = load_strategy_class("flat_plugin:AlwaysFlat")
    assert cls.__name__ == "AlwaysFlat"
    sys.modules.pop("flat_plugin", None)


def test_broken_plugin_is_reported_not_fatal(tmp_path):
    """导入失败的插件文件被记录，其他策略照常可用；找不到类时错误里带上坏文件的原因。"""
    (tmp_path / "broken.py").write_text("import not_a_module_anywhere\n", encoding="utf-8")
    catalog = discover([tmp_path])
    assert "MACross" in catalog.classes
    assert any("not_a_module_anywhere" in err for err in catalog.broken.values())
    with pytest.raises(StrategyError) as caught:
        load_strategy_class("Nope", [tmp_path])
    assert "available: MACDStrategy, MACross" in str(caught.value) and "broken.py" in str(caught.value)


def test_dotted_path_errors_are_clear():
    """外部类路径写错：模块不存在、或不是 Strategy 子类，都有明确说明。"""
    with pytest.raises(StrategyError, match="cannot import module 'no_such_mod'"):
        load_strategy_class("no_such_mod:X")
    with pytest.raises(StrategyError, match="is not a Strategy subclass"):
        load_strategy_class("json:dumps")


def test_cli_param_text_is_parsed_as_yaml_scalars():
    """--param 的值：数字、布尔、文本各按类型解析；缺少 = 报错。"""
    assert parse_param_text("fast=5") == ("fast", 5)
    assert parse_param_text("entry_z=2.5") == ("entry_z", 2.5)
    assert parse_param_text("above_zero=true") == ("above_zero", True)
    with pytest.raises(StrategyError, match="expected KEY=VALUE"):
        parse_param_text("fast")
