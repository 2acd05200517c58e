"""命令行旗标的坏取值：每个都是退出码 2、一行英文错误（写明旗标与取值、怎么改），不打印 traceback，
也不在出错之前创建任何文件或目录（日志库、输出文件、缺少的上级目录）。进程内调用真实入口 main()。"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import BTC_USDT_1M
from tradeterm.cli.main import main


@pytest.fixture
def small_csv(tmp_path) -> Path:
    """真实 BTC/USDT 1 分钟 K 线的前 300 根（临时副本），回测几乎瞬间完成。"""
    lines = BTC_USDT_1M.read_text(encoding="utf-8").splitlines()[:301]
    path = tmp_path / "btc.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_main(capsys, *argv: str) -> tuple[int, str, str]:
    """运行 tradeterm ARGV，返回 (退出码, stdout, stderr)。"""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, *parts: str) -> str:
    """退出码 2；stderr 恰好一行，包含 parts 的每一段；没有 traceback。返回那一行。"""
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    for part in parts:
        assert part in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("value, says", [
    ("inf", "'inf' is not a finite number"),
    ("nan", "'nan' is not a finite number"),
    ("1e400", "'1e400' is not a finite number"),
    ("true", "'true' is not a number"),
    ("-1", "--cash -1: starting cash must be above 0"),
    ("0", "--cash 0: starting cash must be above 0"),
    ("1e300", "--cash 1e+300: starting cash must be above 0 and at most 1,000,000,000,000"),
])
def test_backtest_cash_must_be_a_finite_positive_amount(tmp_path, capsys, small_csv, value, says):
    """--cash inf/nan/1e400/true/-1/0/1e300：拒绝，写明旗标与取值；日志库没有被创建。"""
    journal = tmp_path / "j.db"
    code, _, err = run_main(capsys, "backtest", "--strategy", "MACross", "--data", str(small_csv), "--cash", value,
                            "--journal", str(journal), "--no-plot")
    assert_one_line_error(code, err, "--cash", says, "e.g. --cash 10000")
    assert not journal.exists()


@pytest.mark.parametrize("flag, value, says", [
    ("--fee", "nan", "'nan' is not a finite number"),
    ("--fee", "inf", "'inf' is not a finite number"),
    ("--slippage-bps", "-inf", "expected one argument"),
    ("--slippage-bps", "1e999", "'1e999' is not a finite number"),
    ("--trailing-stop", "nan", "'nan' is not a finite number"),
    ("--bars", "1e3", "'1e3' is not a whole number"),
    ("--bars", "0", "--bars 0: synthetic candles per symbol must be between 1 and 10,000,000"),
    ("--bars", "99999999999", "--bars 99999999999"),
])
def test_backtest_numeric_flags_refuse_non_finite_and_out_of_range_values(tmp_path, capsys, small_csv, flag,
                                                                           value, says):
    """费率、滑点、移动止损、--bars：非有限数、非整数与超出范围的值都是一行错误。"""
    code, _, err = run_main(capsys, "backtest", "--strategy", "MACross", "--data", str(small_csv), flag, value,
                            "--journal", str(tmp_path / "j.db"), "--no-plot")
    assert_one_line_error(code, err, flag, says)


@pytest.mark.parametrize("symbol, market, says", [
    ("BTC/BTC", "spot", "'BTC/BTC' has the same base and quote currency (BTC)"),
    ("USDT/USDT", "spot", "'USDT/USDT' has the same base and quote currency (USDT)"),
    ("BTC/USDT:USDT", "spot", "'BTC/USDT:USDT' is a perpetual futures symbol but the market type is spot"),
    ("BTC/USDT:BTC", "futures", "'BTC/USDT:BTC' settles in BTC"),
    ("BTC", "spot", "'BTC' is not a symbol"),
])
def test_backtest_symbol_must_be_a_pair_of_the_market_type(tmp_path, capsys, small_csv, symbol, market, says):
    """--symbol：基础与计价货币相同、现货配合约写法、结算货币不对、不是交易对：一行错误，不回测。"""
    journal = tmp_path / "j.db"
    code, _, err = run_main(capsys, "backtest", "--strategy", "MACross", "--data", str(small_csv), "--symbol",
                            symbol, "--market-type", market, "--journal", str(journal), "--no-plot")
    assert_one_line_error(code, err, "--symbol", says)
    assert not journal.exists()


def test_config_mode_data_symbol_is_checked_against_the_config_market_type(tmp_path, capsys, small_csv):
    """--config 模式的 --data SYMBOL=FILE：交易对同样按（配置的）市场类型检查。"""
    config = tmp_path / "config.yml"
    config.write_text("strategies:\n  - {name: a, symbol: BTC/USDT, interval: 1m, class: MACross}\n",
                      encoding="utf-8")
    code, _, err = run_main(capsys, "backtest", "--config", str(config), "--data", f"BTC/USDT:USDT={small_csv}",
                            "--journal", str(tmp_path / "j.db"), "--no-plot")
    assert_one_line_error(code, err, "--data 'BTC/USDT:USDT' is a perpetual futures symbol")


@pytest.mark.parametrize("flag, name", [("--json", "out.json"), ("--trades", "trades.csv")])
def test_output_file_that_is_a_directory_or_has_no_parent_is_refused_before_running(tmp_path, capsys, small_csv,
                                                                                    flag, name):
    """--json/--trades 指向目录、或上级目录不存在：回测之前就拒绝（日志库没有运行记录），不创建目录。"""
    journal = tmp_path / "j.db"
    code, out, err = run_main(capsys, "backtest", "--strategy", "MACross", "--data", str(small_csv), flag,
                              str(tmp_path), "--journal", str(journal), "--no-plot")
    assert_one_line_error(code, err, f"{flag} '{tmp_path}': is a directory", f"e.g. {tmp_path / name}")
    assert out == "" and not journal.exists()
    missing = tmp_path / "missing" / name
    code, out, err = run_main(capsys, "backtest", "--strategy", "MACross", "--data", str(small_csv), flag,
                              str(missing), "--journal", str(journal), "--no-plot")
    assert_one_line_error(code, err, flag, f"the directory {missing.parent} does not exist")
    assert out == "" and not journal.exists() and not missing.parent.exists()


def test_journal_that_is_a_directory_or_not_a_database_is_refused_and_left_untouched(tmp_path, capsys, small_csv):
    """--journal 指向目录或一个不是 SQLite 库的文件：回测之前拒绝，文件内容不变。"""
    code, _, err = run_main(capsys, "backtest", "--strategy", "MACross", "--data", str(small_csv), "--journal",
                            str(tmp_path), "--no-plot")
    assert_one_line_error(code, err, f"--journal '{tmp_path}' is a directory")
    notes = tmp_path / "notes.txt"
    notes.write_text("my trading notes\n", encoding="utf-8")
    code, out, err = run_main(capsys, "backtest", "--strategy", "MACross", "--data", str(small_csv), "--journal",
                              str(notes), "--no-plot")
    assert_one_line_error(code, err, f"--journal '{notes}' exists and is not a SQLite database")
    assert out == "" and notes.read_text(encoding="utf-8") == "my trading notes\n"


@pytest.mark.parametrize("journal", ["/nonexistent/dir/x.db", "{tmp}/no/such/dir/x.db"])
def test_journal_in_a_missing_directory_is_refused_without_creating_it(tmp_path, capsys, small_csv, journal):
    """--journal /nonexistent/dir/x.db：拒绝并说明缺的目录；以前会把整个目录树建出来。"""
    path = Path(journal.format(tmp=tmp_path))
    missing = [parent for parent in path.parents if not parent.exists()]
    if not missing:
        pytest.skip(f"{path.parent} exists on this machine")
    top = missing[-1]  # 最上面一级缺少的目录（/nonexistent 或 tmp/no）
    code, _, err = run_main(capsys, "backtest", "--strategy", "MACross", "--data", str(small_csv), "--journal",
                            str(path), "--no-plot")
    assert_one_line_error(code, err, f"--journal '{path}'", f"directory '{path.parent}' does not exist")
    assert not top.exists()


@pytest.mark.parametrize("argv, says", [
    (["run", "--duration", "nan"], "argument --duration: 'nan' is not a finite number"),
    (["run", "--duration", "-5"], "--duration -5: must be above 0 seconds"),
    (["run", "--duration", "0"], "--duration 0: must be above 0 seconds"),
    (["ctl", "order", "BTC/USDT", "buy", "--amount", "inf"], "argument --amount: 'inf' is not a finite number"),
    (["ctl", "order", "BTC/USDT", "buy", "--notional", "true"], "argument --notional: 'true' is not a number"),
    (["ctl", "order", "BTC/USDT", "buy", "--amount", "1", "--price", "nan"], "argument --price: 'nan'"),
    (["check", "MACross", "--samples", "0"], "--samples 0: check at least 1 bar"),
    (["check", "MACross", "--samples", "2.5"], "argument --samples: '2.5' is not a whole number"),
    (["sandbox", "--port", "99999"], "--port 99999: must be between 0 and 65535"),
    (["sandbox", "--port", "abc"], "argument --port: 'abc' is not a whole number"),
    (["sandbox", "--seed", "-1"], "--seed -1: must be a whole number from 0"),
    (["sandbox", "--speed", "inf"], "argument --speed: 'inf' is not a finite number"),
    (["sandbox", "--speed", "1e9"], "--speed 1e+09: must be at most 100,000"),
    (["sandbox", "--history", "1000000000"], "--history 1000000000: must be at most 1,000,000 bars"),
    (["sandbox", "--volume-share", "nan"], "argument --volume-share: 'nan' is not a finite number"),
    (["sandbox", "--slippage-bps", "5000"], "--slippage-bps 5000: slippage is in basis points"),
    (["web", "--port", "0"], "--port 0 is not a TCP port"),
    (["web", "--port", "8e3"], "argument --port: '8e3' is not a whole number"),
    (["replay-check", "0", "--journal", "x.db"], "RUN 0: run ids are whole numbers from 1"),
    (["replay-check", "99999999999999999999", "--journal", "x.db"], "RUN 99999999999999999999: run ids are"),
    (["replay-check", "--journal", "x.db", "--price-tolerance-bps", "inf"], "'inf' is not a finite number"),
    (["replay-check", "--journal", "x.db", "--bar-tolerance", "1.5"], "'1.5' is not a whole number"),
    (["fetch", "BTC/USDT", "1m", "--since", "nan"], "--since 'nan': not a date"),
    (["fetch", "BTC/USDT", "1m", "--since", "-1"], "--since '-1': outside 1970-01-01 .. 2100-01-01 UTC"),
    (["fetch", "BTC/USDT", "1m", "--since", "9999-12-31"], "--since '9999-12-31': outside 1970-01-01"),
    (["fetch", "BTC/USDT", "1m", "--since", "2023-01-01", "--until", "0999-01-01"], "--until '0999-01-01'"),
    (["fetch", "BTC/USDT", "1m", "--since", "99999999999999999999"], "outside 1970-01-01 .. 2100-01-01 UTC"),
    (["fetch", "BTC/BTC", "1m", "--since", "2023-01-01"], "SYMBOL 'BTC/BTC' has the same base and quote"),
    (["fetch", "BTC/USDT", "1m", "--since", "2023-01-01", "--sandbox-url", "abc"], "--sandbox-url 'abc' has no"),
    (["fetch", "BTC/USDT", "1m", "--since", "2023-01-01", "--sandbox-url", "http://127.0.0.1:99999"],
     "has a port that is not a whole number from 1 to 65535"),
    (["data", "import", "x.csv", "USDT/USDT", "1m"], "SYMBOL 'USDT/USDT' has the same base and quote"),
    (["check", "MACross", "--dir", "no-such-dir"], "--dir 'no-such-dir': not a directory"),
    (["strategies", "--dir", "plug\0ins"], "--dir 'plug\\x00ins': not a directory"),
    (["replay-check", "--journal", "x.db", "--dir", "config.yml"], "--dir 'config.yml': not a directory"),
    (["backtest", "--strategy", "MACross", "--data", "x.csv", "--no-such-flag"], "unrecognized arguments"),
    (["backtest", "--strategy"], "argument --strategy: expected one argument"),
    (["no-such-command"], "unrecognized arguments: no-such-command"),
])
def test_bad_values_of_every_command_are_one_line_errors(tmp_path, capsys, monkeypatch, argv, says):
    """每个子命令的数字、端口、日期、交易对、地址旗标：非有限数、非整数、超范围都是一行错误、退出码 2。"""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.yml").write_text("strategies:\n  - {name: a, symbol: BTC/USDT, interval: 1m, "
                                         "class: MACross}\n", encoding="utf-8")
    code, _, err = run_main(capsys, *argv)
    assert_one_line_error(code, err, says)


def test_cache_dir_that_is_a_file_and_export_to_a_directory_are_refused(tmp_path, capsys):
    """--cache-dir 是文件（或在文件之下）、data export 写到目录：一行错误，不先连网。"""
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    code, _, err = run_main(capsys, "fetch", "BTC/USDT", "1m", "--since", "2023-01-01", "--cache-dir",
                            str(blocker / "cache"))
    assert_one_line_error(code, err, f"--cache-dir '{blocker / 'cache'}' is inside {blocker}, which is a file")
    code, _, err = run_main(capsys, "data", "--cache-dir", str(blocker), "list")
    assert_one_line_error(code, err, "exists and is not a directory")
    code, _, err = run_main(capsys, "data", "--cache-dir", str(tmp_path / "c"), "export", "BTC/USDT", "1m",
                            str(tmp_path))
    assert_one_line_error(code, err, f"FILE '{tmp_path}': is a directory")


def test_help_still_exits_0(capsys):
    """--help 与 --version 仍以 0 退出（main 把 argparse 的退出变成返回值）。"""
    assert main(["backtest", "--help"]) == 0
    assert "--cash" in capsys.readouterr().out
    assert main(["--version"]) == 0
