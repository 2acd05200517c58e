"""config.yml 的模糊测试（hypothesis）：从仓库自带的 config.yml 出发，随机改值（数、inf、nan、布尔、文字、列表、
null、超大整数）、删键、加未知键、套深层嵌套，并在文本上复制行、重复顶层块、加锚点与别名，写成临时文件再加载。

性质：要么是 ConfigError，且每条问题是一行、以键路径（或 YAML 的行号）开头；要么得到 AppConfig，其中每个数字
都有限、不是布尔、落在字段声明的区间内，策略参数落在策略声明的区间内，交易对与日志库路径都能用——
绝不是 traceback、挂起或悄悄接受的错误值。另有一个测试经 CLI 入口（进程内）跑 `tradeterm config`：退出码 0 或 2。
"""

from __future__ import annotations

import copy
import math
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import event, given
from hypothesis import strategies as st
from pydantic import BaseModel

from tradeterm.cli.main import main
from tradeterm.config import load_config
from tradeterm.config.markets import symbol_problem
from tradeterm.config.schema import AppConfig
from tradeterm.config.values import bounds_of, is_bool_field, numeric_kind, within
from tradeterm.errors import ConfigError
from tradeterm.journal.paths import journal_path_problem
from tradeterm.strategy.loader import discover, load_strategy_class

# 仓库自带的 config.yml（每个样例从它出发）
REPO_CONFIG = Path(__file__).resolve().parents[2] / "config.yml"
# 它的内容（Python 对象）
BASE = yaml.safe_load(REPO_CONFIG.read_text(encoding="utf-8"))
# 一条问题的开头：键路径（strategies[0].params、exchange.id）、YAML 的位置（line 3、character 7）或顶层
PROBLEM_HEAD = re.compile(r"^(?:line \d+(?:, column \d+)?|character \d+|\(top level\)"
                          r"|[A-Za-z_][A-Za-z0-9_]*(?:\[\d+\]|\.[A-Za-z0-9_<>]+)*): ")
# 专门挑的刁钻文字：非有限数的写法、路径、交易对、类名、URL、周期、模式（不含会导入任意模块的 module:Class）
NASTY_TEXT = ["inf", "-inf", "Infinity", "nan", "NaN", "1e400", "-1e400", ".inf", "", " ", "/", "/dev/null",
              "j\0.db", "x" * 5000, "/nonexistent/dir/x.db", "runs/j.db", "USDT/USDT", "BTC/USDT:USDT", "BTC/BTC",
              "BTC/USDT:BTC", "ETH/BTC", "BTCUSDT", ":", ":X", ".x:Y", "no_such_module_x:Y", "http://127.0.0.1:99999",
              "http://127.0.0.1:0", "http://127.0.0.1:-1", "http://127.0.0.1:abc", "http://127.0.0.1:8765",
              "ws://127.0.0.1:8765", "MACross", "MeanReversion", "MomentumStrategy", "MACDStrategy", "1m", "1M", "7m",
              "futures", "spot", "backtest", "live", "paper", "true", "1e15", "0x10", "10000", "kelly",
              "volatility_target", "fixed_notional", "\udcff", "é" * 300]
# 专门挑的刁钻数
NASTY_NUMBERS = [0, -1, 1, 2, 10 ** 400, -(10 ** 400), 2 ** 63, 2 ** 64, 1e15, 1e300, -1e300, 1e-300, 0.5, 0.999,
                 1.0, 100_000, 100_001, 1_000_000_000, math.inf, -math.inf, math.nan, -0.0]
# 随机生成的键名（标识符样式，便于断言错误以键路径开头）
KEYS = st.from_regex(r"[a-z_][a-z0-9_]{0,11}", fullmatch=True)
# 随机文字：不含 . / : \ ，免得拼出 ".."、"/x" 这样的目录被当成插件目录扫描，或 module:Class 去导入模块
TEXT = st.text(st.characters(blacklist_characters="./:\\", blacklist_categories=("Cs",)), max_size=20)
# 标量取值：刁钻的数与文字、布尔、null、任意整数与浮点数、随机文字
SCALARS = st.one_of(st.sampled_from(NASTY_NUMBERS), st.sampled_from(NASTY_TEXT), st.booleans(), st.none(),
                    st.integers(-10 ** 20, 10 ** 20), st.floats(allow_nan=True, allow_infinity=True), TEXT)
# 多半合法的数（小的比例与小的整数），让一部分配置被接受，以便检查被接受时的不变量
PLAUSIBLE = st.one_of(st.floats(0.0001, 0.5), st.integers(1, 60))
# 任意取值：多半合法的数、标量，或小的列表与映射
VALUES = st.one_of(PLAUSIBLE, st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=3)), max_leaves=6))


def paths_in(node: Any, prefix: tuple = ()) -> list[tuple]:
    """node 里每个值的路径（映射的键或列表的下标组成的元组），含 node 自己（空元组）。"""
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += paths_in(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += paths_in(value, (*prefix, index))
    return out


def parent_of(root: Any, path: tuple) -> Any:
    """路径 path 所指的值的容器。"""
    node = root
    for part in path[:-1]:
        node = node[part]
    return node


def like(original: Any) -> st.SearchStrategy:
    """与原值同类、多半合法的新值：数换成 0 到原值两倍之间的数，布尔换成布尔，文字换成刁钻文字之一；
    原值已被改成 inf、nan 或巨大的数时换成任意取值。"""
    if isinstance(original, bool):
        return st.booleans()
    if isinstance(original, int):
        return st.integers(*sorted((0, 2 * original + 1)))
    if isinstance(original, float) and math.isfinite(original) and abs(original) < 1e300:
        return st.floats(*sorted((0.0, 2 * original + 0.001)))
    if isinstance(original, str):
        return st.sampled_from(NASTY_TEXT)
    return VALUES


def mutate(data: Any, draw: Any) -> Any:
    """对 data 做一次随机改动（改值、删键、加键、套嵌套）；返回改后的整棵树（可能换了根）。"""
    paths = paths_in(data)
    # 多半改一个键上的值（根只偶尔被整个换掉，否则几乎所有样例都在顶层就被拒绝，测不到被接受时的不变量）
    # hypothesis 偏爱区间两端的取值，所以“也可以换根”放在中间的一个取值上
    path = draw(st.sampled_from(paths if draw(st.integers(0, 20)) == 10 or len(paths) == 1 else paths[1:]))
    action = draw(st.sampled_from(["set", "set", "set", "set", "drop", "add", "nest", "deep"]))
    if action in ("set", "nest", "deep"):
        original = parent_of(data, path)[path[-1]] if path else data
        if action == "set" and draw(st.booleans()):
            value = draw(like(original))
        elif action == "set":
            value = draw(VALUES)
        elif action == "nest":
            value = [copy.deepcopy(data if not path else parent_of(data, path)[path[-1]])]
        else:
            depth = draw(st.integers(1, 120))
            value: Any = draw(SCALARS)
            for _ in range(depth):
                value = [value] if draw(st.booleans()) else {"k": value}
        if not path:
            return value
        parent_of(data, path)[path[-1]] = value
        return data
    container = data if action == "add" and not path else parent_of(data, path) if path else None
    if action == "drop" and path:
        del container[path[-1]]
    elif action == "add":
        target = parent_of(data, path)[path[-1]] if path else data
        if isinstance(target, dict):
            target[draw(KEYS)] = draw(VALUES)
        elif isinstance(target, list):
            target.append(draw(VALUES))
    return data


def mutate_text(text: str, draw: Any) -> str:
    """在 YAML 文本上做一次改动：复制一行（任意深度的重复键）、重复一个顶层块、加锚点与别名，或不动。"""
    # 两端是 "none"（hypothesis 偏爱两端），文本改动只占少数
    action = draw(st.sampled_from(["none", "none", "copy_line", "none", "repeat_block", "none", "alias", "none"]))
    lines = text.splitlines()
    if action == "copy_line" and lines:
        index = draw(st.integers(0, len(lines) - 1))
        lines.insert(index, lines[index])
    elif action == "repeat_block":
        lines.append(draw(st.sampled_from(["fees: {maker: 0.002}", "strategies: []", "mode: live", "journal: {}"])))
    elif action == "alias":
        lines = ["x0: &x0 [a]", *[f"x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * 10)}]" for i in range(1, 9)], *lines]
    return "\n".join(lines) + "\n"


@st.composite
def config_texts(draw: Any) -> str:
    """一份被改过的 config.yml 文本。"""
    data: Any = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 3))):
        data = mutate(data, draw)
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=10_000)
    return mutate_text(text, draw)


def check_block(block: BaseModel, where: str) -> None:
    """递归检查一个配置块：数字有限、不是布尔、落在字段声明的区间内；布尔键是真布尔。"""
    for name, field in type(block).model_fields.items():
        value = getattr(block, name)
        kind = numeric_kind(field.annotation)
        if kind is not None and value is not None:
            assert isinstance(value, kind) and not isinstance(value, bool), (where, name, value)
            assert math.isfinite(value), (where, name, value)
            assert within(value, *bounds_of(field.metadata)), (where, name, value)
        if is_bool_field(field.annotation) and value is not None:
            assert isinstance(value, bool), (where, name, value)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, BaseModel):
                check_block(item, f"{where}.{name}")


def check_accepted(config: AppConfig) -> None:
    """被接受的配置满足的不变量：各块的取值、交易对、日志库路径、每个实例的策略参数。"""
    check_block(config, "config")
    assert journal_path_problem(config.journal_path(), create_under=config.base_dir) is None
    catalog = discover(config.plugin_dirs())
    for instance in config.strategies:
        assert symbol_problem(instance.symbol, config.exchange.market_type) is None, instance.symbol
        cls = catalog.classes.get(instance.class_name) or load_strategy_class(instance.class_name)
        merged = {**cls.params, **instance.params}
        for key, (low, high) in cls.param_ranges.items():
            value = merged[key]
            assert not isinstance(value, bool) and math.isfinite(value), (instance.name, key, value)
            assert within(value, low, False, high, False), (instance.name, key, value)


def check_refused(error: ConfigError) -> None:
    """被拒绝的配置：至少一条问题，每条一行、以键路径或 YAML 位置开头，不含 traceback。"""
    assert error.problems
    for problem in error.problems:
        assert "\n" not in problem and "Traceback" not in problem, problem
        assert PROBLEM_HEAD.match(problem), problem


@pytest.mark.fuzz
@given(text=config_texts())
def test_mutated_configs_load_cleanly_or_fail_with_key_paths(text):
    """每份改过的配置：要么满足全部不变量的 AppConfig，要么逐条写明键路径的 ConfigError；加载不创建任何文件。"""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.yml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            config = load_config(path)
        except ConfigError as error:
            check_refused(error)
            event("refused")  # --hypothesis-show-statistics 里给出被接受与被拒绝的比例
        else:
            check_accepted(config)
            event("accepted")
        assert [p.name for p in Path(tmp).iterdir()] == ["config.yml"]


@pytest.mark.fuzz
@given(text=config_texts())
def test_config_command_exits_0_or_2_without_traceback(text, capsys):
    """经 CLI 入口（进程内）跑 `tradeterm config --config 文件`：退出码 0（说 OK）或 2（error: 开头），没有 traceback。"""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.yml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        capsys.readouterr()
        code = main(["config", "--config", str(path)])
        out, err = capsys.readouterr()
        assert code in (0, 2), (code, out, err)
        assert "Traceback" not in out + err
        if code == 0:
            assert " OK" in out.splitlines()[0]
        else:
            assert err.startswith("error: ") and "OK" not in out
