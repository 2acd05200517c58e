"""issue 19 的配置复现：每个曾被悄悄接受或打出 traceback 的取值，现在都是一行写明键路径、取值与修正方法的错误，
`tradeterm config` 以退出码 2 拒绝（不说 OK、不打印 traceback）。每个用例都从仓库自带的 config.yml 改一处。"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tradeterm.cli.main import main
from tradeterm.config import load_config
from tradeterm.errors import ConfigError

# 仓库自带的 config.yml（每个用例在它上面改一处）
REPO_CONFIG = Path(__file__).resolve().parents[2] / "config.yml"
# 别名炸弹：x0..x8，每层是对上一层的十个引用（完全展开有 10^8 个元素）
ALIAS_BOMB = "x0: &x0 [a]\n" + "".join(
    f"x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * 10)}]\n" for i in range(1, 9))

# (用例名, config.yml 里的原文, 换成什么, 唯一一条错误的完整文字)
REPRODUCTIONS = [
    ("cash_dot_inf", "starting_cash: 10000", "starting_cash: .inf",
     "account.starting_cash: inf is not a finite number; use a number above 0 and at most 1000000000000, e.g. 10000"),
    ("cash_inf_text", "starting_cash: 10000", "starting_cash: 'inf'",
     "account.starting_cash: 'inf' is not a finite number; use a number above 0 and at most 1000000000000, "
     "e.g. 10000"),
    ("cash_infinity", "starting_cash: 10000", "starting_cash: Infinity",
     "account.starting_cash: 'Infinity' is not a finite number; use a number above 0 and at most 1000000000000, "
     "e.g. 10000"),
    ("cash_1e400", "starting_cash: 10000", "starting_cash: 1e400",
     "account.starting_cash: inf is not a finite number; use a number above 0 and at most 1000000000000, e.g. 10000"),
    ("cash_nan", "starting_cash: 10000", "starting_cash: .nan",
     "account.starting_cash: nan is not a finite number; use a number above 0 and at most 1000000000000, e.g. 10000"),
    ("cash_true", "starting_cash: 10000", "starting_cash: true",
     "account.starting_cash: true is a boolean, not a number; use a number above 0 and at most 1000000000000, "
     "e.g. 10000"),
    ("fraction_true", "fraction: 0.2", "fraction: true",
     "sizing.fraction: true is a boolean, not a number; use a number above 0 and at most 1"),
    ("sandbox_one", "sandbox: true", "sandbox: 1", "exchange.sandbox: 1 is not true or false; write true or false"),
    ("duplicate_fees", "journal:", "fees:\n  maker: 0.002\njournal:",
     "line 30: duplicate key 'fees' (first at line 16, again at line 30); YAML would silently keep only the last "
     "one, so merge them into one"),
    ("duplicate_strategies", "journal:", "strategies: []\njournal:",
     "line 34: duplicate key 'strategies' (first at line 30, again at line 34); YAML would silently keep only the "
     "last one, so merge them into one"),
    ("duplicate_nested", "  sandbox: true", "  sandbox: true\n  sandbox: false",
     "line 10: duplicate key 'exchange.sandbox' (first at line 9, again at line 10); YAML would silently keep only "
     "the last one, so merge them into one"),
    ("alias_bomb", "journal:", ALIAS_BOMB + "journal:",
     "line 30: x0: YAML anchor '&x0' is not allowed in a config file (aliases can expand into huge values); write the "
     "value out in full"),
    ("deep_nesting", "mode: paper ", "mode: " + "[" * 5000 + "]" * 5000 + " ",
     "line 4: mode[0][0][0]....[0][0][0]: value is nested deeper than 64 levels; config values are never nested "
     "that deep"),
    ("lone_surrogate", "id: binance", 'id: "\\uDCFF"',
     "line 7: exchange.id: the text contains \\uDCFF, a lone surrogate that is not a valid character; remove it"),
    ("entry_z_nan", "entry_z: 2.0}", "entry_z: .nan}",
     "strategies[1].params: entry_z=nan is not a finite number; use a number like 2.0"),
    ("exit_z_inf", "entry_z: 2.0}", "entry_z: 2.0, exit_z: .inf}",
     "strategies[1].params: exit_z=inf is not a finite number; use a number like 0.0"),
    ("min_roc_inf", "exit_lookback: 10}", "exit_lookback: 10, min_roc: .inf}",
     "strategies[3].params: min_roc=inf is not a finite number; use a number like 0.0"),
    ("slow_1e15", "slow: 30}", "slow: 1e15}",
     "strategies[0].params: slow=1000000000000000 must be at least 1 and at most 100000"),
    ("class_colon", "class: MACross", "class: ':'",
     "strategies[0].class: strategy class ':': expected 'package.module:Class' (a dotted module name, a colon and "
     "a class name, e.g. mypackage.strategies:MyStrategy) or a class name from strategies/"),
    ("class_colon_x", "class: MACross", "class: ':X'",
     "strategies[0].class: strategy class ':X': expected 'package.module:Class' (a dotted module name, a colon and "
     "a class name, e.g. mypackage.strategies:MyStrategy) or a class name from strategies/"),
    ("class_relative", "class: MACross", "class: '.x:Y'",
     "strategies[0].class: strategy class '.x:Y': expected 'package.module:Class' (a dotted module name, a colon "
     "and a class name, e.g. mypackage.strategies:MyStrategy) or a class name from strategies/"),
    ("symbol_base_is_quote", "symbol: BTC/USDT\n", "symbol: USDT/USDT\n",
     "strategies[0].symbol: 'USDT/USDT' has the same base and quote currency (USDT); use a pair of two different "
     "currencies, e.g. BTC/USDT"),
    ("perpetual_in_spot", "symbol: BTC/USDT\n", "symbol: BTC/USDT:USDT\n",
     "strategies[0].symbol: 'BTC/USDT:USDT' is a perpetual futures symbol but exchange.market_type is spot; use "
     "BTC/USDT for spot, or set exchange.market_type to futures"),
    *[(f"port_{port}", "sandbox_speed: 300", f"sandbox_speed: 300\n  sandbox_url: http://127.0.0.1:{port}",
       f"exchange.sandbox_url: 'http://127.0.0.1:{port}' has a port that is not a whole number from 1 to 65535; "
       f"use a form like http://127.0.0.1:8765") for port in ("99999", "-1", "abc", "0")],
    ("empty_key_env_prefix", "sandbox_speed: 300", "sandbox_speed: 300\n  key_env_prefix: ''",
     "exchange.key_env_prefix: '' is not an environment variable prefix; use 1-64 letters, digits or _ (not "
     "starting with a digit), e.g. TRADETERM"),
    ("journal_empty", "path: tradeterm.db", "path: ''",
     "journal.path: '' is empty; give a file path in an existing directory, e.g. tradeterm.db"),
    ("journal_root", "path: tradeterm.db", "path: /",
     "journal.path: '/' is not a file path (it names a directory); give a file path in an existing directory, "
     "e.g. tradeterm.db"),
    ("journal_dev_null", "path: tradeterm.db", "path: /dev/null",
     "journal.path: '/dev/null' is not a regular file (a device, socket or pipe); give a file path in an existing "
     "directory, e.g. tradeterm.db"),
    ("journal_5000_characters", "path: tradeterm.db", "path: " + "x" * 5000,
     f"journal.path: {'x' * 60!r}... (5000 characters) is 5000 bytes long, above the 4000-byte limit; give a file "
     f"path in an existing directory, e.g. tradeterm.db"),
    ("journal_nul", "path: tradeterm.db", 'path: "j\\0.db"',
     "journal.path: 'j\\x00.db' contains a NUL character; give a file path in an existing directory, "
     "e.g. tradeterm.db"),
    ("journal_missing_parent", "path: tradeterm.db", "path: /nonexistent/dir/x.db",
     "journal.path: '/nonexistent/dir/x.db': directory '/nonexistent/dir' does not exist; create it first or give "
     "a file path in an existing directory, e.g. tradeterm.db"),
]


def write(tmp_path: Path, old: str, new: str) -> Path:
    """把仓库 config.yml 里的 old 换成 new，写到 tmp_path/config.yml 并返回路径。"""
    text = REPO_CONFIG.read_text(encoding="utf-8")
    assert old in text, f"test setup: {old!r} not in config.yml"
    path = tmp_path / "config.yml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def problems_of(path: Path) -> list[str]:
    """加载 path，断言被拒绝，返回问题列表。"""
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return caught.value.problems


@pytest.mark.parametrize("case, old, new, expected", REPRODUCTIONS, ids=[r[0] for r in REPRODUCTIONS])
def test_each_reproduction_is_one_clear_problem(tmp_path, case, old, new, expected):
    """每个复现：恰好一条问题，文字与预期完全一致（键路径、取值、修正方法）。"""
    assert problems_of(write(tmp_path, old, new)) == [expected], case


@pytest.mark.parametrize("case, old, new, expected", REPRODUCTIONS, ids=[r[0] for r in REPRODUCTIONS])
def test_config_command_refuses_them_with_exit_code_2(tmp_path, capsys, case, old, new, expected):
    """`tradeterm config`（进程内调用真实入口）对这些配置：退出码 2，stderr 含那条问题，不说 OK，没有 traceback。"""
    code = main(["config", "--config", str(write(tmp_path, old, new))])
    out, err = capsys.readouterr()
    assert code == 2, case
    assert expected in err and "OK" not in out and "Traceback" not in out + err


def test_the_alias_bomb_is_refused_without_expanding(tmp_path):
    """别名炸弹在组装阶段（第一个锚点）就被拒绝：不构造任何值，所以不会吃掉内存（这里再加大到 x0..x20 也一样）。"""
    bomb = "x0: &x0 [a]\n" + "".join(f"x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * 10)}]\n" for i in range(1, 21))
    path = tmp_path / "config.yml"
    path.write_text(bomb, encoding="utf-8")
    assert problems_of(path) == ["line 1: x0: YAML anchor '&x0' is not allowed in a config file (aliases can "
                                 "expand into huge values); write the value out in full"]


def test_an_alias_without_anchor_and_merge_keys_are_refused(tmp_path):
    """未定义锚点的别名与合并键 `<<:` 也被拒绝（合并键会让重复键悄悄生效）。"""
    path = tmp_path / "config.yml"
    path.write_text("fees: *base\n", encoding="utf-8")
    assert problems_of(path) == ["line 1: fees: YAML alias '*base' is not allowed in a config file (aliases can "
                                 "expand into huge values); write the value out in full"]
    path.write_text("fees: {<<: {maker: 0.002}}\n", encoding="utf-8")
    assert problems_of(path) == ["line 1: fees: key '<<' is read by YAML as a merge key (<<); keys must be names "
                                 "(quote it, e.g. '<<':, if you mean the text)"]


def test_existing_non_database_file_and_directory_are_refused_as_journal(tmp_path):
    """journal.path 指向一个目录，或一个已存在但不是 SQLite 库的文件：拒绝，且不改动那个文件。"""
    (tmp_path / "notes.txt").write_text("my notes\n", encoding="utf-8")
    (tmp_path / "adir").mkdir()
    assert problems_of(write(tmp_path, "path: tradeterm.db", "path: notes.txt")) == [
        f"journal.path: '{tmp_path / 'notes.txt'}' exists and is not a SQLite database; refusing to overwrite it; "
        f"move it away or give another path, e.g. tradeterm.db"]
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8") == "my notes\n"
    assert problems_of(write(tmp_path, "path: tradeterm.db", "path: adir")) == [
        f"journal.path: '{tmp_path / 'adir'}' is a directory, not a file; give a file path in an existing directory, "
        f"e.g. tradeterm.db"]


def test_sandbox_state_gets_the_same_path_checks(tmp_path):
    """exchange.sandbox_state（进程内沙盒用它时）与 journal.path 同样检查：NUL、设备、不是 SQLite 库的文件。"""
    (tmp_path / "notes.txt").write_text("x", encoding="utf-8")
    edit = "sandbox_speed: 300\n  sandbox_state: "
    assert problems_of(write(tmp_path, "sandbox_speed: 300", edit + "/dev/null")) == [
        "exchange.sandbox_state: '/dev/null' is not a regular file (a device, socket or pipe); give a file path in "
        "an existing directory, e.g. tradeterm.sandbox.db"]
    assert problems_of(write(tmp_path, "sandbox_speed: 300", edit + "notes.txt")) == [
        f"exchange.sandbox_state: '{tmp_path / 'notes.txt'}' exists and is not a SQLite database; refusing to "
        f"overwrite it; move it away or give another path, e.g. tradeterm.sandbox.db"]
    assert problems_of(write(tmp_path, "sandbox_speed: 300", edit + '"s\\0.db"')) == [
        "exchange.sandbox_state: 's\\x00.db' contains a NUL character; give a file path in an existing directory, "
        "e.g. tradeterm.sandbox.db"]


def test_sandbox_state_is_not_checked_when_no_in_process_sandbox_uses_it(tmp_path):
    """连外部沙盒（sandbox_url）时不用进程内状态文件，所以它指向什么都不拦（与“用到才检查”一致）。"""
    edit = "sandbox_speed: 300\n  sandbox_url: http://127.0.0.1:8765\n  sandbox_state: /dev/null"
    assert load_config(write(tmp_path, "sandbox_speed: 300", edit)).exchange.sandbox_url == "http://127.0.0.1:8765"


def test_good_paths_still_load_and_nothing_is_created(tmp_path):
    """合法的路径照常加载：已有的 SQLite 库、空文件、配置目录下还不存在的子目录（打开时才建）；加载本身什么都不创建。"""
    sqlite3.connect(tmp_path / "old.db").execute("CREATE TABLE t (x)").connection.close()
    assert load_config(write(tmp_path, "path: tradeterm.db", "path: old.db")).journal_path() == tmp_path / "old.db"
    (tmp_path / "empty.db").write_bytes(b"")
    assert load_config(write(tmp_path, "path: tradeterm.db", "path: empty.db")).journal_path() == tmp_path / "empty.db"
    config = load_config(write(tmp_path, "path: tradeterm.db", "path: runs/2024/j.db"))
    assert config.journal_path() == tmp_path / "runs" / "2024" / "j.db"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yml", "empty.db", "old.db"]


def test_a_parent_that_is_a_file_is_refused(tmp_path):
    """路径穿过一个普通文件（notes.txt/j.db）：父目录永远建不出来，拒绝并说明是哪个上级。"""
    (tmp_path / "notes.txt").write_text("x", encoding="utf-8")
    assert problems_of(write(tmp_path, "path: tradeterm.db", "path: notes.txt/sub/j.db")) == [
        f"journal.path: '{tmp_path / 'notes.txt/sub/j.db'}': '{tmp_path / 'notes.txt'}' is not a directory; give a "
        f"file path in an existing directory, e.g. tradeterm.db"]


def test_spot_symbols_in_a_futures_config_follow_the_existing_rule(tmp_path):
    """合约配置里的现货写法照旧接受（引擎映射成 BTC/USDT:USDT）；结算货币不是计价货币的合约写法被拒绝。"""
    futures = write(tmp_path, "market_type: spot", "market_type: futures")
    assert load_config(futures).strategies[0].symbol == "BTC/USDT"
    text = futures.read_text(encoding="utf-8").replace("symbol: BTC/USDT\n", "symbol: BTC/USDT:BTC\n", 1)
    futures.write_text(text, encoding="utf-8")
    assert problems_of(futures) == ["strategies[0].symbol: 'BTC/USDT:BTC' settles in BTC, but USD-M perpetuals "
                                    "settle in their quote currency; use BTC/USDT:USDT"]


def test_upper_bounds_on_counts_and_amounts(tmp_path):
    """没有上界就会溢出的数也有上界：atr_period、每分钟下单数（1e20 过大）、starting_cash 超过 1e12。"""
    assert problems_of(write(tmp_path, "fraction: 0.2", "fraction: 0.2\n  atr_period: 10000000000000")) == [
        "sizing.atr_period: got 10000000000000; input should be less than or equal to 100000; use a whole number at "
        "least 1 and at most 100000, e.g. 14"]
    assert problems_of(write(tmp_path, "max_order_notional: 5000",
                             "max_order_notional: 5000\n  max_orders_per_minute: 1e20")) == [
        "risk.max_orders_per_minute: 1e+20 is too large; use a whole number above 0 and at most 1000000"]
    assert problems_of(write(tmp_path, "starting_cash: 10000", "starting_cash: 1e13")) == [
        "account.starting_cash: got 10000000000000.0; input should be less than or equal to 1000000000000; use a "
        "number above 0 and at most 1000000000000, e.g. 10000"]


def test_other_text_keys_are_checked(tmp_path):
    """计价货币须是货币代码；插件目录须存在；YAML 1.2 的指数写法（1e4）读成数字。"""
    assert problems_of(write(tmp_path, "quote_currency: USDT", "quote_currency: ''")) == [
        "account.quote_currency: '' is not a currency code; use 2-10 letters or digits, e.g. USDT"]
    assert problems_of(write(tmp_path, "journal:", "strategy_dirs: [nope]\njournal:")) == [
        f"strategy_dirs[0]: 'nope' is not a directory (looked for {tmp_path / 'nope'}); create it or remove the entry"]
    assert load_config(write(tmp_path, "starting_cash: 10000", "starting_cash: 1e4")).account.starting_cash == 10_000


def test_all_problems_in_one_file_are_listed_together(tmp_path):
    """同一个文件里的多处结构错误一次列出（每条一行）。"""
    path = write(tmp_path, "starting_cash: 10000", "starting_cash: .inf")
    path.write_text(path.read_text(encoding="utf-8").replace("fraction: 0.2", "fraction: true")
                    .replace("sandbox: true", "sandbox: 1"), encoding="utf-8")
    problems = problems_of(path)
    assert [p.split(":")[0] for p in problems] == ["exchange.sandbox", "account.starting_cash", "sizing.fraction"]
    assert all("\n" not in p for p in problems)


def test_risk_file_uses_the_same_strict_reader(tmp_path):
    """--risk-config 文件也用严格读取与同样的数字规则（重复键、布尔当数字都拒绝）。"""
    from tradeterm.config.loader import load_risk_file

    path = tmp_path / "risk.yml"
    path.write_text("risk:\n  max_drawdown: 0.2\nrisk:\n  daily_loss: 0.1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_risk_file(path)
    assert caught.value.problems == ["line 3: duplicate key 'risk' (first at line 1, again at line 3); YAML would "
                                     "silently keep only the last one, so merge them into one"]
    path.write_text("risk:\n  max_drawdown: true\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_risk_file(path)
    assert caught.value.problems == ["risk.max_drawdown: true is a boolean, not a number; use a number above 0 and "
                                     "below 1"]
