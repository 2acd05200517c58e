"""控制套接字的模糊测试（hypothesis）：对着一个真实的 `tradeterm run --headless` 引擎子进程（指向后台线程里的
沙盒交易所），经它的 Unix 控制套接字发生成的请求行——合法命令的字段被改坏、随机 JSON、深层嵌套、超长的行、
巨大的数、NaN/Infinity 字面量、任意字节。

性质（每个样例是一串请求行）：
- 每一行恰好得到一条 JSON 应答（严格 JSON，没有 NaN），`ok` 为 true/false，错误的种类只有 protocol/user/auth，
  从不是 internal；令牌不对的答完就断开（重连后继续）；
- 引擎一直在运行：每个样例之后 snapshot 照常应答，子进程没有退出；
- 没有存进去的参数是非有限数或超出范围（按与加载配置相同的 param_problems 检查）；
- dry run 从不下单：生成的 manual_order 都是 dry run，日志库里始终没有手动订单；
- 引擎的 stderr 里没有 traceback。
引擎只启动一次（模块级夹具），全部样例共用，所以样例数由 hypothesis 的档位决定而不影响启动开销。
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from tests.engine.conftest import PLUGINS, TEST_SPEED, engine_config
from tests.engine.test_control_requests import INSTANCES, strict_json
from tradeterm.engine.client import COMMANDS
from tradeterm.engine.control import control_paths, read_token_file
from tradeterm.engine.protocol import MAX_REQUEST_BYTES, OPS
from tradeterm.sandbox.server import SandboxExchange
from tradeterm.strategy.loader import load_strategy_class, param_problems

# 仓库根目录（子进程的工作目录）
REPO = Path(__file__).resolve().parents[2]
# 实例名 -> 策略参数名（生成 set_params 用）
PARAM_NAMES = {"flip_btc": ("period",), "mr_eth": ("window", "entry_z", "exit_z"),
               "mom_btc": ("lookback", "exit_lookback", "min_roc")}
# 等引擎启动（打印控制套接字路径）的上限，秒（含 Python 启动、导入 ccxt 与预热）
START_TIMEOUT_S = 90.0
# 等一条应答的上限，秒（只防挂死：应答一到就返回）
ANSWER_TIMEOUT_S = 60.0
# 会让引擎退出的命令：生成器从不发出它的合法形式
EXCLUDED_COMMANDS = ("shutdown",)
# 改坏字段时换进去的占位符：编码后替换成下面的非法数字面量
LITERAL_SLOT = "\u0000literal\u0000"
# JSON 里非法或溢出的数字面量（解码时就被拒），以及一个下溢成 0 的（解码得 0.0，由参数校验拒绝）
REFUSED_LITERALS = ("NaN", "Infinity", "-Infinity", "1e400", "-1e999", "1" * 400, "-" + "9" * 150)
# 注入用的全部数字面量
BAD_LITERALS = (*REFUSED_LITERALS, "1e-400")


class BackgroundSandbox:
    """在后台线程自己的事件循环里运行的沙盒交易所（引擎子进程经 HTTP/websocket 连它）。"""

    def __init__(self) -> None:
        """启动线程与事件循环，并在其中启动沙盒；返回时沙盒已在监听。"""
        # 后台线程的事件循环
        self.loop = asyncio.new_event_loop()
        # 运行事件循环的线程
        self.thread = threading.Thread(target=self.loop.run_forever, name="fuzz-sandbox", daemon=True)
        self.thread.start()
        # 沙盒交易所（随机端口，快速回放）
        self.exchange = SandboxExchange(port=0, speed=TEST_SPEED, tick_s=0.05)
        asyncio.run_coroutine_threadsafe(self.exchange.start(), self.loop).result(START_TIMEOUT_S)

    @property
    def url(self) -> str:
        """沙盒的 HTTP 地址。"""
        return self.exchange.url

    def stop(self) -> None:
        """停止沙盒与事件循环。"""
        asyncio.run_coroutine_threadsafe(self.exchange.stop(), self.loop).result(START_TIMEOUT_S)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(START_TIMEOUT_S)
        self.loop.close()


@dataclass
class FuzzEngine:
    """模块级夹具产出的引擎子进程与它的文件。"""

    proc: subprocess.Popen     # 引擎子进程
    socket_path: Path          # 控制套接字
    token: str                 # 控制令牌
    journal: Path              # 日志库
    stderr_path: Path          # 子进程 stderr 写到的文件


def wait_for_line(path: Path, text: str, proc: subprocess.Popen) -> None:
    """轮询输出文件直到出现 text；进程先退出或超时则失败（附输出）。"""
    deadline = time.monotonic() + START_TIMEOUT_S
    while text not in path.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"engine did not print {text!r} (exit {proc.poll()}):\n"
                                 f"{path.read_text(errors='replace')}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def fuzz_engine():
    """后台线程里的沙盒 + `tradeterm run --headless` 子进程（stdout/stderr 写文件）；整个模块共用。"""
    sandbox = BackgroundSandbox()
    directory = Path(tempfile.mkdtemp(prefix="tf", dir="/tmp"))  # 套接字路径须短于约 107 字节
    config = engine_config(directory, sandbox.url, INSTANCES)
    stdout_path, stderr_path = directory / "stdout.txt", directory / "stderr.txt"
    with open(stdout_path, "wb") as stdout, open(stderr_path, "wb") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "tradeterm.cli.main", "run", "--headless", "--config",
                                 str(directory / "config.yml")], cwd=REPO, stdout=stdout, stderr=stderr,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        wait_for_line(stdout_path, "control socket:", proc)
        socket_path, token_path = control_paths(config.journal_path())
        yield FuzzEngine(proc, socket_path, read_token_file(token_path), config.journal_path(), stderr_path)
    finally:
        proc.terminate()
        try:
            proc.wait(START_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        sandbox.stop()
        shutil.rmtree(directory, ignore_errors=True)


class Wire:
    """一条阻塞式的原始套接字连接：写字节、读应答（跳过事件推送）；对端关闭时 answer 返回 None。"""

    def __init__(self, path: Path):
        """连上 path。"""
        # 套接字
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(ANSWER_TIMEOUT_S)
        self.sock.connect(str(path))
        # 按行读的文件视图
        self.file = self.sock.makefile("rb")

    def send(self, data: bytes) -> bool:
        """写出字节；对端已关闭（令牌不对之后）时返回 False。"""
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def answer(self) -> dict[str, Any] | None:
        """下一条应答；连接结束时为 None。"""
        while True:
            try:
                line = self.file.readline()
            except ConnectionResetError:
                return None
            if not line:
                return None
            message = strict_json(line)
            assert isinstance(message, dict), message
            if "event" not in message:
                return message

    def close(self) -> None:
        """关闭连接。"""
        self.file.close()
        self.sock.close()


# ---- 生成器 ------------------------------------------------------------------------------------------

# 标量 JSON 值（有限数；非有限的经 LITERAL_SLOT 注入）
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(10 ** 30), max_value=10 ** 30),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12),
                    st.sampled_from(["", " ", "buy", "sell", "BUY", "market", "limit", "stop", "flip_btc", "nope",
                                     "BTC/USDT", "ETH/USDT", "DOGE/USDT", "BTC/USDT:USDT", "\ud800", "true", "1e400"]))
# 任意 JSON 值（浅嵌套）
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                             st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                           max_leaves=12)
# 坏值：任意 JSON 值，或待替换成非法数字面量的占位符
HOSTILE = st.one_of(JSON_VALUES, st.just(LITERAL_SLOT), st.floats(min_value=-1e6, max_value=0.0),
                    st.sampled_from([0, -1, 1e308, 5e-324, 10 ** 20, True, False]))
# 正的数（数量、名义金额、价格）：从极小到极大
POSITIVE = st.one_of(st.floats(min_value=1e-12, max_value=1e12), st.sampled_from([1e-9, 0.001, 0.01, 1.0, 100.0]))


def weighted(draw, usual: Any, odd: st.SearchStrategy, percent_odd: int) -> Any:
    """多半取 usual（常见的合法值），约 percent_odd% 的时候从 odd 里取一个坏值。"""
    return draw(odd) if draw(st.integers(min_value=0, max_value=99)) < percent_odd else usual


@st.composite
def instance_names(draw) -> Any:
    """实例名：多半是存在的，有时是随机文本。"""
    return weighted(draw, draw(st.sampled_from(list(PARAM_NAMES))), st.text(max_size=10), 15)


@st.composite
def command_args(draw, name: str) -> dict[str, Any]:
    """一个命令的大致合法的参数（之后再被改坏）。"""
    if name in ("pause", "resume", "stop", "start"):
        return {"instance": draw(instance_names())}
    if name == "set_params":
        instance = draw(instance_names())
        keys = st.sampled_from(PARAM_NAMES.get(instance, ("period",)) + ("unknown",))
        values = st.one_of(st.integers(min_value=-10, max_value=10 ** 12), st.floats(allow_nan=False,
                                                                                    allow_infinity=False), HOSTILE)
        return {"instance": instance, "params": draw(st.dictionaries(keys, values, max_size=3))}
    if name == "cancel_order":
        return {"client_order_id": draw(st.text(max_size=20))}
    if name == "cancel_all":
        return draw(st.sampled_from([{}, {"instance": "flip_btc"}, {"instance": "nope"}]))
    if name == "flatten":
        return {"instance": draw(instance_names()), "dry_run": draw(st.booleans())}
    if name == "kill_switch":
        return {"reset": draw(st.booleans())}
    if name == "manual_order":
        args = {"symbol": draw(st.sampled_from(["BTC/USDT", "ETH/USDT"])), "side": draw(st.sampled_from(["buy", "sell"])),
                draw(st.sampled_from(["amount", "notional"])): draw(POSITIVE), "dry_run": True}
        if draw(st.booleans()):
            args.update(type="limit", price=draw(POSITIVE))
        return args
    return {}


@st.composite
def mutated(draw, args: dict[str, Any]) -> dict[str, Any]:
    """把参数改坏 0-3 处：删字段、加未知字段、换成坏值。"""
    args = dict(args)
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        action = draw(st.sampled_from(["drop", "add", "replace"]))
        if action == "drop" and args:
            args.pop(draw(st.sampled_from(sorted(args))))
        elif action == "add":
            args[draw(st.text(max_size=8))] = draw(HOSTILE)
        elif args:
            args[draw(st.sampled_from(sorted(args)))] = draw(HOSTILE)
    return args


def harmless(request: dict[str, Any]) -> dict[str, Any]:
    """保证生成的请求不会让引擎退出、也不会真的下手动单：shutdown 总带一个多余字段（必被拒），
    manual_order 的 dry_run 只能是 true 或坏值（false/null/缺省会变成真的下单，换成 true）。"""
    args = request.get("args")
    if request.get("name") in EXCLUDED_COMMANDS:
        request["args"] = {**(args if isinstance(args, dict) else {}), "unexpected": 1}
    elif request.get("name") == "manual_order" and isinstance(args, dict) and args.get("dry_run") in (False, None):
        args["dry_run"] = True
    return request


@st.composite
def envelope(draw, token: str, odd: int = 15) -> bytes:
    """一条带令牌的请求：多半是合法命令（参数原样或被改坏），约 odd% 的时候 op/name/id/令牌本身是坏的
    （odd=0：信封总是对的，只有参数被改坏）；坏值的占位符被替换成非法数字面量（NaN、Infinity、1e400、超长整数）。"""
    name = weighted(draw, draw(st.sampled_from(COMMANDS)), st.one_of(st.text(max_size=10), HOSTILE), odd)
    request: dict[str, Any] = {
        "id": weighted(draw, draw(st.integers(min_value=0, max_value=10 ** 6)), HOSTILE, odd),
        "token": weighted(draw, token, st.sampled_from(["wrong", "", None, 1]), odd // 3),
        "op": weighted(draw, "command", st.one_of(st.sampled_from(OPS), HOSTILE), odd + odd // 3)}
    if request["op"] == "command" or draw(st.integers(min_value=0, max_value=9)) == 0:
        request["name"] = name
        base = draw(command_args(name)) if isinstance(name, str) and name in COMMANDS else {}
        choice = draw(st.integers(min_value=0, max_value=9))
        request["args"] = base if choice < 4 else draw(mutated(base)) if choice < 9 or not odd else draw(HOSTILE)
    if odd and draw(st.integers(min_value=0, max_value=19)) == 0:
        request[draw(st.text(max_size=6))] = draw(HOSTILE)
    text = json.dumps(harmless(request))
    if json.dumps(LITERAL_SLOT) in text:
        text = text.replace(json.dumps(LITERAL_SLOT), draw(st.sampled_from(BAD_LITERALS)))
    return text.encode()


@st.composite
def nested(draw, token: str) -> bytes:
    """深层嵌套：光秃秃的 `[`/`{`，或藏在 args 里的嵌套数组/对象（层数从几层到数万层）。"""
    depth = draw(st.integers(min_value=1, max_value=30_000))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
    inner = opener * depth + ("1" if opener != "[" else "") + (closer * depth if draw(st.booleans()) else "")
    if draw(st.booleans()):
        return inner.encode()
    return (f'{{"id": 1, "token": "{token}", "op": "command", "name": "pause", "args": {{"instance": {inner}}}}}'
            .encode())


@st.composite
def long_line(draw, token: str) -> bytes:
    """超过上限的一行：重复的字节，或一条长得离谱的“合法”请求。"""
    size = MAX_REQUEST_BYTES + draw(st.integers(min_value=1, max_value=4096))
    if draw(st.booleans()):
        return draw(st.sampled_from([b"x", b"[", b"{", b" ", b"\xff"])) * size
    return f'{{"id": 1, "token": "{token}", "op": "ping", "name": "{"a" * size}"}}'.encode()


def request_lines(token: str) -> st.SearchStrategy[list[bytes]]:
    """一个样例：3-10 行请求（每行不含换行符），过半是带令牌的请求。"""
    line = st.one_of(
        envelope(token), envelope(token), envelope(token), envelope(token), envelope(token), envelope(token),
        JSON_VALUES.map(lambda value: json.dumps(value).encode()),
        st.binary(max_size=64),
        nested(token),
        st.sampled_from([b"", b" ", b"\r", b"{", b"}", b'{"token": ' + json.dumps(token).encode() + b"}"]),
        long_line(token),
    )
    return st.lists(line.map(lambda data: data.replace(b"\n", b" ")), min_size=3, max_size=10)


# ---- 性质 --------------------------------------------------------------------------------------------


def check_answer(answer: dict[str, Any] | None, line: bytes) -> None:
    """一条应答的形状：ok 为布尔；错误有非空消息且种类为 protocol/user/auth（从不是 internal）。"""
    assert answer is not None, f"no answer for {line[:200]!r}"
    assert isinstance(answer.get("ok"), bool), answer
    if not answer["ok"]:
        assert isinstance(answer.get("error"), str) and answer["error"], answer
        assert answer.get("type") in ("protocol", "user", "auth"), (answer, line[:200])


def exchange_one(wire: Wire, line: bytes, token: str, probe: int) -> tuple[Wire | None, dict[str, Any]]:
    """发一行请求，紧跟一条 ping 探针；断言这一行恰好得到一条应答。
    返回 (仍可用的连接（令牌被拒、连接已断时为 None）, 这一行的应答)。"""
    probe_id = f"probe-{probe}"
    wire.send(line + b"\n" + json.dumps({"id": probe_id, "token": token, "op": "ping"}).encode() + b"\n")
    first = wire.answer()
    check_answer(first, line)
    if first.get("type") == "auth":
        assert wire.answer() is None, "the engine kept a connection open after refusing its token"
        return None, first
    second = wire.answer()
    check_answer(second, line)
    pong = {"id": probe_id, "ok": True, "result": "pong"}
    assert pong in (first, second), (first, second, line[:200])  # 探针的应答（请求与探针并发执行，先后不定）
    return wire, (second if first == pong else first)


def check_engine(engine: FuzzEngine) -> None:
    """样例之后的不变量：引擎在跑、snapshot 照常应答、参数都有限且合法、没有手动订单、stderr 没有 traceback。"""
    assert engine.proc.poll() is None, engine.stderr_path.read_text(errors="replace")
    wire = Wire(engine.socket_path)
    try:
        wire.send(json.dumps({"id": "status", "token": engine.token, "op": "snapshot"}).encode() + b"\n")
        reply = wire.answer()
    finally:
        wire.close()
    assert reply is not None and reply["ok"] is True, reply
    for row in reply["result"]["instances"]:
        cls = load_strategy_class(row["strategy"], [PLUGINS])
        assert param_problems(cls, row["params"]) == [], row
        assert all(math.isfinite(v) for v in row["params"].values() if isinstance(v, (int, float))), row
    conn = sqlite3.connect(f"file:{engine.journal}?mode=ro", uri=True)
    try:
        manual = conn.execute("SELECT COUNT(*) FROM orders WHERE instance IS NULL OR instance = ''").fetchone()[0]
    finally:
        conn.close()
    assert manual == 0, "a dry run placed a manual order"
    assert "Traceback" not in engine.stderr_path.read_text(errors="replace")


def run_examples(engine: FuzzEngine, lines: st.SearchStrategy[list[bytes]], kinds: tuple[str, ...],
                 protocol_ok: Callable[[bytes], bool] = lambda line: True) -> None:
    """对 engine 跑 hypothesis 样例：每个样例的各行依次发出（令牌被拒后重连），每行的应答种类须在 kinds 里
    （协议错误还须 protocol_ok(行) 为真），样例之后检查引擎的不变量；跑完打印样例数、行数、耗时与各种应答的行数。"""
    state = {"wire": None, "probe": 0, "examples": 0}
    # 各种应答的行数（ok/protocol/user/auth），跑完打印一行（-s 时可见），报告覆盖面用
    tally: dict[str, int] = {}

    @given(lines)
    def run(batch: list[bytes]) -> None:
        """一个样例：依次发出各行，然后检查引擎的不变量。"""
        for line in batch:
            if state["wire"] is None:
                state["wire"] = Wire(engine.socket_path)
            state["probe"] += 1
            wire, answer = exchange_one(state["wire"], line, engine.token, state["probe"])
            kind = answer.get("type") or "ok"
            event(f"answer: {kind}")
            tally[kind] = tally.get(kind, 0) + 1
            assert kind in kinds and (kind != "protocol" or protocol_ok(line)), (answer, line[:200])
            if wire is None:
                state["wire"].close()
                state["wire"] = None
        check_engine(engine)
        state["examples"] += 1

    started = time.monotonic()
    try:
        run()
    finally:
        if state["wire"] is not None:
            state["wire"].close()
    print(f"\ncontrol fuzz: {state['examples']} examples, {state['probe']} request lines in "
          f"{time.monotonic() - started:.1f}s; answers {dict(sorted(tally.items()))}")


@pytest.mark.fuzz
def test_every_generated_request_line_gets_exactly_one_clean_answer(fuzz_engine):
    """随机 JSON、字节、嵌套、超长行与被改坏的请求，经同一个引擎的套接字发出：每行恰好一条干净的应答，
    引擎的不变量始终成立。"""
    run_examples(fuzz_engine, request_lines(fuzz_engine.token), ("ok", "protocol", "user", "auth"))


@pytest.mark.fuzz
def test_commands_with_mutated_arguments_get_a_result_or_a_user_error(fuzz_engine):
    """信封总是对的（令牌、op、命令名）、只有参数被改坏：每行要么成功、要么是一条 user 错误
    （写明字段与修正方法）；只有注入了 NaN/Infinity/溢出字面量的行是协议错误。引擎的不变量始终成立。"""
    lines = st.lists(envelope(fuzz_engine.token, odd=0), min_size=3, max_size=10)
    run_examples(fuzz_engine, lines, ("ok", "user", "protocol"),
                 lambda line: any(literal.encode() in line for literal in REFUSED_LITERALS))
