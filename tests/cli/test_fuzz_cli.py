"""命令行的模糊测试（hypothesis）：对每个很快就结束的子命令生成参数表——合法的旗标配上变异的取值（inf、nan、负数、
极大数、布尔、目录、不存在的文件、不是数据库的文件、Unicode、NUL ...），进程内调用 main(argv)。

性质：退出码只能是 0、2（或该命令自己定义的 1），stdout/stderr 里没有 traceback；退出码 0 时输出满足基本不变量
（回测写进了日志库、权益有限；JSON 能读；沙盒收到的参数都在范围内 ...）。会长时间运行的部分（引擎、沙盒服务、
网页服务、网络）换成立即返回的替身：这里检查的是参数与文件的校验，不是引擎本身。
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from tests.conftest import BTC_USDT_1M
from tradeterm.cli.main import main

# 对任何数字旗标都要试的敌意取值（{...} 是运行时换成真实路径的占位符）
HOSTILE = ("inf", "-inf", "nan", "NaN", "Infinity", "1e400", "-1e400", "-1", "0", "-0", "0.0", "true", "false",
           "yes", "null", "", "  ", "1e300", "-1e300", "99999999999999999999", "1e-300", "1.5", "abc", "٣", "1_000",
           "0x10", "é", "{nul}", "{dir}", "{missing}", "{notdb}", "--", "-", "\u202e1")
# 路径类旗标的取值（占位符见 World.paths）
PATHS = ("{csv}", "{dir}", "{missing}", "{missing}/deeper/x", "{notdb}", "{nul}", "{empty}", "{tmp}/new.db",
         "{tmp}/out.json", "/nonexistent/dir/x.db", "", "/", "/dev/null")


def hostile() -> st.SearchStrategy[str]:
    """一个旗标值：固定的敌意取值、任意整数与浮点数的文本、短的任意文字。"""
    return st.one_of(st.sampled_from(HOSTILE), st.integers(-10 ** 6, 10 ** 13).map(str),
                     st.floats(allow_nan=True, allow_infinity=True).map(repr), st.text(max_size=6))


def flag_value(*good: str) -> st.SearchStrategy[str]:
    """合法取值（让成功的路径也被走到）与敌意取值各占一半。"""
    return st.one_of(st.sampled_from(good), hostile()) if good else hostile()


def mutations(table: dict[str, tuple[str, ...]], max_flags: int = 3) -> st.SearchStrategy[list[str]]:
    """从 table（旗标 -> 合法取值）里选几个旗标，各配一个（可能有敌意的）取值，展开成参数表。"""
    pairs = st.sampled_from(sorted(table)).flatmap(lambda flag: st.tuples(st.just(flag), flag_value(*table[flag])))
    return st.lists(pairs, max_size=max_flags).map(lambda items: [part for pair in items for part in pair])


class World:
    """测试的文件环境：小 CSV、目录、不存在的路径、不是数据库的文件、有一次模拟盘运行的日志库、配置；
    每次调用 main 另有一个新的空目录（{tmp}，也是那次调用的当前目录，相对路径的输出都落在里面）。"""

    def __init__(self, root: Path, replay_journal: Path):
        """root 为模块级的临时目录；replay_journal 为模块级夹具写好的（只读使用的）日志库。"""
        # 模块级的临时目录（每次调用的新目录建在它下面）
        self.root = root
        # 占位符 -> 真实路径（{tmp} 每次调用时换成新目录）
        self.paths = {"csv": str(root / "btc.csv"), "dir": str(root / "adir"), "missing": str(root / "missing"),
                      "notdb": str(root / "notes.txt"), "nul": str(root / "nul\0.db"), "empty": str(root / "empty.db"),
                      "tmp": "", "config": str(root / "config.yml"), "badconfig": str(root / "bad.yml"),
                      "journal": str(replay_journal)}

    def argv(self, parts: list[str]) -> list[str]:
        """新建本次调用的目录，并把参数表里的占位符换成真实路径。"""
        self.paths["tmp"] = tempfile.mkdtemp(dir=self.root)
        out = []
        for part in parts:
            for name, path in self.paths.items():
                part = part.replace("{" + name + "}", path)
            out.append(part)
        return out


@pytest.fixture(scope="module")
def world_root(tmp_path_factory) -> tuple[Path, Path]:
    """模块级的文件环境（只建一次）：(根目录, 有一次模拟盘运行的日志库)。"""
    from tests.cli.test_replay_check import write_journal

    root = tmp_path_factory.mktemp("fuzz_cli")
    lines = BTC_USDT_1M.read_text(encoding="utf-8").splitlines()[:301]
    (root / "btc.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "adir").mkdir()
    (root / "notes.txt").write_text("not a database\n", encoding="utf-8")
    (root / "empty.db").write_bytes(b"")
    (root / "config.yml").write_text("exchange:\n  sandbox: true\njournal:\n  path: fuzz.db\nstrategies:\n"
                                     "  - {name: a, symbol: BTC/USDT, interval: 1m, class: MACross}\n",
                                     encoding="utf-8")
    (root / "bad.yml").write_text("strategies: [\n", encoding="utf-8")
    journal = root / "replay.db"
    asyncio.run(write_journal(journal, "manual"))
    return root, journal


@pytest.fixture
def world(world_root) -> World:
    """给样例用的文件环境。"""
    return World(*world_root)


def run_main(capsys, world: World, parts: list[str], allowed: tuple[int, ...] = (0, 2)) -> tuple[int, str, list[str]]:
    """在本次调用的新目录里运行 main(参数表)，检查退出码在 allowed 里、输出没有 traceback；
    返回 (退出码, stdout, 换好路径的参数表)。相对路径（变异出的 'inf'、'0x10' ...）不会写进仓库目录。"""
    argv = world.argv(parts)
    here = os.getcwd()
    os.chdir(world.paths["tmp"])
    try:
        code = main(argv)
    finally:
        os.chdir(here)
    out, err = capsys.readouterr()
    event(f"{argv[0]} exit {code}")  # --hypothesis-show-statistics 列出成功与各类错误的比例
    assert code in allowed, (argv, code, out, err)
    assert "Traceback" not in out and "Traceback" not in err, (argv, out, err)
    if code == 2:
        assert "error" in err, (argv, err)
    return code, out, argv


def last_value(argv: list[str], flag: str) -> str:
    """argv 里 flag 最后一次出现时的取值（argparse 以最后一次为准）。"""
    return argv[len(argv) - argv[::-1].index(flag)]


def is_sqlite(path: Path) -> bool:
    """文件是不是 SQLite 库（看开头的魔数）。"""
    with open(path, "rb") as handle:
        return handle.read(16) == b"SQLite format 3\x00"


# backtest 单策略模式的旗标及其合法取值
BACKTEST_FLAGS = {
    "--cash": ("10000", "5000.5", "1e6"), "--fee": ("0", "0.001", "0.0999"), "--slippage-bps": ("0", "5", "1000"),
    "--trailing-stop": ("0", "0.02", "0.5"),
    "--symbol": ("BTC/USDT", "BTCUSDT", "btc-usdt", "BTC/USDT:USDT", "ETH/BTC", "BTC/BTC", "USDT/USDT"),
    "--timeframe": ("1m", "5m", "1M", "7m"), "--market-type": ("spot", "futures", "margin"),
    "--param": ("fast=5", "slow=20", "fast=nan", "fast=1e400", "slow=1e15", "fast=true", "fsat=3", "fast=-1"),
    "--json": ("{tmp}/out.json", *PATHS), "--trades": ("{tmp}/trades.csv", *PATHS),
    "--journal": ("{tmp}/j2.db", *PATHS), "--engine": ("auto", "fast", "event", "warp"),
    "--strategy": ("MACross", "MeanReversion", "MomentumStrategy", "MACDStrategy", "Nope", ":X", ".x:Y", ":"),
    "--data": ("{csv}", *PATHS), "--bars": ("500",),
}


@pytest.mark.fuzz
@given(extra=mutations(BACKTEST_FLAGS))
def test_fuzz_backtest_flags(world, capsys, extra):
    """backtest 单策略模式：变异的旗标要么是一行错误（2），要么回测成功、写进 SQLite 日志库、权益有限、JSON 能读。"""
    base = ["backtest", "--strategy", "MACross", "--data", "{csv}", "--journal", "{tmp}/j.db", "--no-plot"]
    code, out, argv = run_main(capsys, world, base + extra)
    if code != 0:
        return
    here = Path(world.paths["tmp"])  # 那次调用的当前目录：相对路径相对于它
    journal = here / out.rsplit("recorded as run ", 1)[1].split(" in journal ", 1)[1].strip()
    assert is_sqlite(journal)
    conn = sqlite3.connect(journal)
    try:
        final = conn.execute("SELECT final_equity FROM runs ORDER BY id DESC LIMIT 1").fetchone()[0]
    finally:
        conn.close()
    assert final is not None and math.isfinite(final) and final >= 0
    written = {flag: here / last_value(argv, flag) for flag in ("--json", "--trades") if flag in argv}
    # /dev/null 之类也是合法的输出（丢弃），不读回；--trades 写到同一个文件时 JSON 被它覆盖
    if "--json" in written and written["--json"].is_file() and written["--json"] != written.get("--trades"):
        payload = json.loads(written["--json"].read_text(encoding="utf-8"))
        assert math.isfinite(payload["metrics"]["final_equity"])


@pytest.mark.fuzz
@given(config=st.one_of(st.just("{config}"), st.sampled_from(["{badconfig}", *PATHS])),
       extra=mutations({"--bars": ("300",)}, 1),
       command=st.sampled_from(["config", "backtest", "run"]), duration=flag_value("1", "0.5"))
def test_fuzz_config_path_commands(world, capsys, monkeypatch, config, extra, command, duration):
    """config、backtest --config、run --config（引擎换成立即返回的替身）：坏的配置路径与取值都是一行错误；
    run 成功时替身收到的 duration 是正的有限数。"""
    calls: list[float | None] = []

    async def fake_serve(config_, *, headless=False, duration=None):
        """代替引擎：记下参数立即返回。"""
        calls.append(duration)
        return 0

    monkeypatch.setattr("tradeterm.cli.run.serve", fake_serve)
    argv = {"config": ["config", "--config", config],
            "backtest": ["backtest", "--config", config, "--no-plot", "--journal", "{tmp}/j.db", *extra],
            "run": ["run", "--config", config, "--no-tui", "--duration", duration]}[command]
    code, out, _ = run_main(capsys, world, argv)
    if code == 0 and command == "config":
        assert " OK" in out.splitlines()[0]
    if code == 0 and command == "run":
        assert calls and math.isfinite(calls[0]) and calls[0] > 0


# sandbox 的旗标及其合法取值
SANDBOX_FLAGS = {
    "--port": ("0", "8765", "65535"), "--seed": ("0", "7"), "--speed": ("1", "60", "100000"),
    "--history": ("10", "2000"), "--maker-fee": ("0", "0.001"), "--taker-fee": ("0.002",),
    "--slippage-bps": ("1",), "--volume-share": ("0.25", "1"), "--state": ("{tmp}/state.db", *PATHS),
    "--symbols": ("BTC/USDT", "ETH/USDT"), "--host": ("127.0.0.1",),
}


@pytest.mark.fuzz
@given(extra=mutations(SANDBOX_FLAGS, 4))
def test_fuzz_sandbox_flags(world, capsys, monkeypatch, extra):
    """sandbox（服务换成替身）：成功时替身收到的每个数都有限且在范围内。"""
    received: list[dict] = []

    class FakeSandbox:
        """代替 SandboxExchange：只记下构造参数。"""

        def __init__(self, **kwargs):
            """记下参数。"""
            received.append(kwargs)

    async def fake_serve(sandbox):
        """代替服务循环：立即返回。"""

    monkeypatch.setattr("tradeterm.sandbox.server.SandboxExchange", FakeSandbox)
    monkeypatch.setattr("tradeterm.cli.sandbox._serve", fake_serve)
    code, _, _ = run_main(capsys, world, ["sandbox", *extra])
    if code == 0:
        kwargs = received[0]
        assert 0 <= kwargs["port"] <= 65535 and 10 <= kwargs["history_bars"] <= 1_000_000
        assert math.isfinite(kwargs["speed"]) and 0 < kwargs["speed"] <= 100_000 and kwargs["seed"] >= 0
        trading = kwargs["trading"]
        assert all(math.isfinite(v) and v >= 0 for v in (trading.maker_fee, trading.taker_fee, trading.slippage_bps))


# replay-check 的旗标及其合法取值
REPLAY_FLAGS = {
    "--journal": ("{journal}", *PATHS), "--price-tolerance-bps": ("0", "50"), "--bar-tolerance": ("0", "1"),
    "--json": ("{tmp}/replay.json", *PATHS), "--dir": ("{dir}", "{missing}"),
}


@pytest.mark.fuzz
@given(run=st.one_of(st.none(), flag_value("1", "2")), extra=mutations(REPLAY_FLAGS))
def test_fuzz_replay_check_flags(world, capsys, run, extra):
    """replay-check（只读日志库、不连交易所）：0/1 时报告写出、--json 能读；否则一行错误。"""
    argv = ["replay-check", *([run] if run is not None else []), "--journal", "{journal}", "--no-exchange", *extra]
    code, out, argv = run_main(capsys, world, argv, allowed=(0, 1, 2))
    if code != 2:
        assert out.startswith("replay-check: run ")
        written = Path(world.paths["tmp"], out.rsplit("wrote ", 1)[1].strip()) if "--json" in argv else None
        if written is not None and written.is_file():  # /dev/null 之类也是合法的输出（丢弃），不读回
            json.loads(written.read_text(encoding="utf-8"))


# fetch 与 data 的旗标及其合法取值
MARKET_DATA_FLAGS = {
    "--since": ("2024-01-01", "1700000000000"), "--until": ("2024-02-01",),
    "--exchange": ("binance", "sandbox", "nope"), "--sandbox-url": ("http://127.0.0.1:9", "abc", "http://h:0"),
}


@pytest.mark.fuzz
@given(symbol=flag_value("BTC/USDT", "BTCUSDT", "BTC/BTC", "BTC/USDT:USDT"), timeframe=flag_value("1m", "1h", "7m"),
       extra=mutations(MARKET_DATA_FLAGS), action=st.sampled_from(["fetch", "import", "export", "list"]),
       file=st.sampled_from(["{csv}", "{tmp}/out.csv", *PATHS]), cache=flag_value("{tmp}/cache", *PATHS))
def test_fuzz_fetch_and_data(world, capsys, monkeypatch, symbol, timeframe, extra, action, file, cache):
    """fetch（网络换成“交易所不可达”）与 data import/export/list：永远是 0 或一行错误；fetch 不会成功。"""
    import ccxt

    def unreachable(exchange_id, sandbox_url):
        """代替 ccxt 客户端：交易所不可达。"""
        raise ccxt.ExchangeNotAvailable(f"{exchange_id} GET {sandbox_url or 'https://api.binance.com'}/api/v3/time")

    async def no_sandbox(sandbox_url):
        """代替沙盒探测：不连本机端口、不启动进程内沙盒。"""
        return sandbox_url or "http://127.0.0.1:9", None

    monkeypatch.setattr("tradeterm.cli.fetch.make_exchange", unreachable)
    monkeypatch.setattr("tradeterm.cli.fetch.sandbox_endpoint", no_sandbox)
    if action == "fetch":
        argv = ["fetch", symbol, timeframe, "--cache-dir", cache, "--since", "2024-01-01", *extra]
    else:
        tail = {"import": [file, symbol, timeframe], "export": [symbol, timeframe, file], "list": []}[action]
        argv = ["data", "--cache-dir", cache, action, *tail]
    code, out, _ = run_main(capsys, world, argv)
    assert not (action == "fetch" and code == 0), out


# check 的旗标及其合法取值
CHECK_FLAGS = {"--samples": ("5", "60"), "--param": ("fast=5", "fast=nan", "slow=1e15"),
               "--data": ("{csv}", *PATHS), "--dir": ("{dir}",)}
# ctl 的旗标及其合法取值
CTL_FLAGS = {"--amount": ("0.01",), "--notional": ("100",), "--price": ("25000",), "--param": ("fast=5",),
             "--config": ("{config}", "{badconfig}", *PATHS)}


@pytest.mark.fuzz
@given(strategy=st.sampled_from(["MACross", "MeanReversion", "Nope", ":X"]), check=mutations(CHECK_FLAGS),
       action=st.sampled_from(["status", "pause", "order", "kill-switch", "set_params", "bogus"]),
       target=flag_value("a", "BTC/USDT"), side=st.sampled_from(["buy", "sell", "hold"]), ctl=mutations(CTL_FLAGS))
def test_fuzz_check_and_ctl(world, capsys, strategy, check, action, target, side, ctl):
    """check（前视检查，0/1/2）与 ctl（没有引擎在听：只能是一行错误）。"""
    run_main(capsys, world, ["check", strategy, "--data", "{csv}", *check], allowed=(0, 1, 2))
    code, _, _ = run_main(capsys, world, ["ctl", action, target, side, "--config", "{config}", *ctl])
    assert code == 2
