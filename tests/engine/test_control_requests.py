"""控制套接字上的坏输入：对着真实引擎（沙盒交易所 + TraderEngine）的真实 Unix 套接字，发原始字节行。

每一行坏输入都得到一条干净的 `{"ok": false, "error": "<字段>: <值> ...; <修正方法>"}`，连接照常可用
（只有令牌不对时答完断开），引擎的日志与 stderr 里没有 traceback：深层嵌套的 JSON、超长的行、NaN/Infinity 字面量、
溢出的数、非 UTF-8 字节、空行、不是对象、未知字段、未知命令、缺字段、多字段、类型不对、不存在的实例名。
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import tempfile
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from tests.engine.conftest import flip, wait_for
from tradeterm.engine.arguments import COMMAND_FIELDS
from tradeterm.engine.client import COMMANDS, InProcessClient
from tradeterm.engine.control import ControlServer, SocketClient
from tradeterm.engine.protocol import MAX_DEPTH, MAX_REQUEST_BYTES
from tradeterm.errors import UserError

# 测试用令牌
TOKEN = "engine-test-token"
# 等一条应答的上限，秒（只防挂死：条件满足就立即返回）
ANSWER_TIMEOUT = 30.0
# 测试引擎的实例：Flip（几乎不交易）、均值回归与动量（内置策略，有浮点与整数参数）
INSTANCES = [flip(period=1000),
             {"name": "mr_eth", "symbol": "ETH/USDT", "interval": "1m", "class": "MeanReversion", "params": {}},
             {"name": "mom_btc", "symbol": "BTC/USDT", "interval": "1m", "class": "MomentumStrategy", "params": {}}]


def strict_json(line: bytes) -> Any:
    """严格解析一行应答：NaN/Infinity 字面量视为错误（应答必须是任何 JSON 解析器都认的）。"""
    def refuse(text: str) -> Any:
        """parse_constant：应答里不许出现非有限数。"""
        raise AssertionError(f"reply holds the non-JSON literal {text}: {line[:200]!r}")
    return json.loads(line, parse_constant=refuse)


class Raw:
    """一条原始连接：写任意字节，按行读应答（跳过订阅推送的事件）。"""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        """reader/writer 为已连上的套接字两端。"""
        # 套接字读端
        self.reader = reader
        # 套接字写端
        self.writer = writer

    @classmethod
    async def open(cls, path: Path) -> "Raw":
        """连上 path 上的控制套接字。"""
        reader, writer = await asyncio.open_unix_connection(str(path), limit=64 << 20)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        """原样写出字节并等它进入内核缓冲区。"""
        self.writer.write(data)
        await self.writer.drain()

    async def answer(self) -> dict[str, Any]:
        """读下一条应答（不是事件的那一行）。"""
        while True:
            line = await asyncio.wait_for(self.reader.readline(), ANSWER_TIMEOUT)
            assert line, "the engine closed the connection instead of answering"
            message = strict_json(line)
            if "event" not in message:
                return message

    async def ask(self, data: bytes) -> dict[str, Any]:
        """写一行字节，返回它的应答。"""
        await self.send(data)
        return await self.answer()

    async def request(self, **fields: Any) -> dict[str, Any]:
        """发一条带正确令牌的请求（字段原样编码），返回应答。"""
        return await self.ask(json.dumps({"token": TOKEN, **fields}).encode() + b"\n")

    async def close(self) -> None:
        """关闭连接。"""
        self.writer.close()
        await self.writer.wait_closed()


def no_tracebacks(caplog, capfd) -> None:
    """断言：日志里没有带异常信息或 ERROR 级的记录，stderr 上没有 traceback。"""
    bad = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not bad, [r.getMessage() for r in bad]
    assert "Traceback" not in capfd.readouterr().err


@pytest.fixture
async def served_engine(start_engine):
    """真实引擎（沙盒上的三个实例，已有行情）套上控制套接字；产出 (引擎, 服务端)。"""
    handle = await start_engine(INSTANCES)
    engine = handle.engine
    await wait_for(lambda: engine.mark_price("BTC/USDT") > 0 and engine.mark_price("ETH/USDT") > 0, 20,
                   "BTC and ETH prices")
    directory = Path(tempfile.mkdtemp(prefix="tt", dir="/tmp"))  # 套接字路径须短于约 107 字节
    try:
        async with ControlServer(InProcessClient(engine), directory / "e.sock", TOKEN) as server:
            yield engine, server
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
async def raw(served_engine):
    """连到 served_engine 的一条原始连接。"""
    connection = await Raw.open(served_engine[1].socket_path)
    yield connection
    await connection.close()


async def test_deeply_nested_json_gets_a_protocol_error_and_the_connection_stays_usable(served_engine, raw,
                                                                                          caplog, capfd):
    """10 万个 `[`：一条协议错误（不是 RecursionError），同一连接接着可用；嵌套过深的参数同样被拒。"""
    caplog.set_level(logging.INFO)
    reply = await raw.ask(b"[" * 100_000 + b"\n")
    assert reply == {"id": None, "ok": False, "type": "protocol",
                     "error": f"request: JSON nested too deeply; requests are flat objects nested at most "
                              f"{MAX_DEPTH} levels, e.g. {{\"id\": 1, \"token\": \"...\", \"op\": \"ping\"}}"}
    deep = "[" * 50 + "]" * 50
    line = f'{{"id": 5, "token": "{TOKEN}", "op": "command", "name": "pause", "args": {{"instance": {deep}}}}}'
    reply = await raw.ask(line.encode() + b"\n")
    assert reply["ok"] is False and reply["type"] == "protocol"
    assert reply["error"].startswith(f"request: JSON nested more than {MAX_DEPTH} levels deep")
    assert await raw.request(id=6, op="ping") == {"id": 6, "ok": True, "result": "pong"}
    assert served_engine[0].bots["flip_btc"].state.status.value == "running"
    no_tracebacks(caplog, capfd)


async def test_a_line_over_the_limit_is_answered_at_once_and_skipped_with_bounded_memory(served_engine, raw,
                                                                                         caplog, capfd):
    """100 MB 的一行：写到 2 MB（还没有换行）时就收到错误应答——服务端没有攒整行；其余部分被丢弃，
    内存峰值远小于行长；行尾之后的请求照常得到应答，整行只得到一条错误。"""
    chunk = b"x" * (1 << 20)
    tracemalloc.start()
    try:
        await raw.send(chunk * 2)
        reply = await raw.answer()
        assert reply == {"id": None, "ok": False, "type": "protocol",
                         "error": f"request: line longer than {MAX_REQUEST_BYTES} bytes; send one request of at "
                                  f"most {MAX_REQUEST_BYTES} bytes per line"}
        for _ in range(98):
            await raw.send(chunk)
        reply = await raw.ask(b"\n" + json.dumps({"id": 9, "token": TOKEN, "op": "ping"}).encode() + b"\n")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert reply == {"id": 9, "ok": True, "result": "pong"}
    assert peak < 32 << 20, f"peak traced memory {peak / 1e6:.1f} MB while a 100 MB line was sent"
    no_tracebacks(caplog, capfd)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
async def test_nan_and_infinity_literals_are_refused_at_parse_time(served_engine, raw, literal):
    """set_params 里的 NaN/Infinity 字面量在解码时就被拒：协议错误点名字面量，参数不变。"""
    engine, _ = served_engine
    line = (f'{{"id": 1, "token": "{TOKEN}", "op": "command", "name": "set_params", '
            f'"args": {{"instance": "mr_eth", "params": {{"entry_z": {literal}}}}}}}\n')
    reply = await raw.ask(line.encode())
    assert reply == {"id": None, "ok": False, "type": "protocol",
                     "error": f"request: {literal} is not a JSON number; send finite numbers only (like 0.5)"}
    assert engine.bots["mr_eth"].strategy.params["entry_z"] == 2.0


async def test_numbers_that_overflow_or_have_too_many_digits_are_refused(served_engine, raw):
    """1e400 会变成无穷大、500 位的整数放不进浮点数：都在解码时拒绝，写明数与允许的范围。"""
    line = (f'{{"token": "{TOKEN}", "op": "command", "name": "manual_order", "args": {{"symbol": "BTC/USDT", '
            f'"side": "buy", "amount": 1e400, "dry_run": true}}}}\n')
    reply = await raw.ask(line.encode())
    assert reply["error"] == ("request: number 1e400 is out of range (it would be infinite); send a number between "
                              "-1e308 and 1e308")
    line = f'{{"id": {"7" * 500}, "token": "{TOKEN}", "op": "ping"}}\n'
    reply = await raw.ask(line.encode())
    assert reply["error"] == f"request: an integer of 500 digits ({'7' * 20}...) is too large; send at most 100 digits"
    assert served_engine[0].orders.orders == {}


async def test_bytes_empty_lines_and_non_objects_get_clean_protocol_errors(served_engine, raw, caplog, capfd):
    """非 UTF-8 字节、空行、空白行、数组、字符串、数字、null、残缺的 JSON：各一条协议错误，连接一直可用。"""
    example = '{"id": 1, "token": "...", "op": "ping"}'
    one_per_line = f"send one JSON object per line, e.g. {example}"
    cases = {
        b"\xff\xfe{}\n": "request: byte 0xff at offset 0 is not valid UTF-8; send the request as UTF-8 encoded JSON",
        b'{"op": "ping", "x": "\xc3"}\n': "request: byte 0xc3 at offset 21 is not valid UTF-8; send the request as "
                                         "UTF-8 encoded JSON",
        b"\n": f"request: empty line; send one JSON object per line, e.g. {example}",
        b" \t\r\n": f"request: empty line; send one JSON object per line, e.g. {example}",
        b"[1, 2]\n": f"request: got an array [1, 2], not a request object; {one_per_line}",
        b'"ping"\n': f"request: got a string 'ping', not a request object; {one_per_line}",
        b"42\n": f"request: got a number 42, not a request object; {one_per_line}",
        b"true\n": f"request: got a boolean true, not a request object; {one_per_line}",
        b"null\n": f"request: got null, not a request object; {one_per_line}",
        b'{"op": "ping"\n': f"request: not valid JSON (Expecting ',' delimiter at line 1 column 14); send one JSON "
                            f"object per line, e.g. {example}",
    }
    for line, error in cases.items():
        assert await raw.ask(line) == {"id": None, "ok": False, "type": "protocol", "error": error}, line
    assert await raw.request(id="still-here", op="ping") == {"id": "still-here", "ok": True, "result": "pong"}
    no_tracebacks(caplog, capfd)


async def test_envelope_errors_name_the_field_and_the_fix(served_engine, raw):
    """未知字段、缺 op、未知 op、非命令带 name、缺命令名、未知命令、args 不是对象、id 类型不对：协议错误。"""
    commands = ", ".join(COMMANDS)
    cases = [
        ({"id": 1, "op": "ping", "extra": 1}, 1, "request: unknown field 'extra'; a request has only the fields "
                                                 "id, token, op, name, args"),
        ({"id": 2}, 2, "op: missing; use one of: snapshot, command, subscribe, ping"),
        ({"id": 3, "op": "reboot"}, 3, "op: 'reboot' is not an operation; use one of: snapshot, command, subscribe, "
                                       "ping"),
        ({"id": 4, "op": "ping", "name": "pause"}, 4, "name: only used with op 'command', not with op 'ping'; "
                                                      "remove it"),
        ({"id": 5, "op": "command"}, 5, f"name: missing; allowed: {commands}"),
        ({"id": 6, "op": "command", "name": "explode"}, 6, f"name: unknown command 'explode'; allowed: {commands}"),
        ({"id": 7, "op": "command", "name": ["pause"]}, 7, f"name: unknown command ['pause']; allowed: {commands}"),
        ({"id": 8, "op": "command", "name": "pause", "args": ["flip_btc"]}, 8,
         "args: ['flip_btc'] is an array; command args must be a JSON object, e.g. {\"instance\": \"flip_btc\"}"),
        ({"id": True, "op": "ping"}, None, "id: true is not a request id; use an integer or a string of at most "
                                           "200 characters"),
        ({"id": 1.5, "op": "ping"}, None, "id: 1.5 is not a request id; use an integer or a string of at most "
                                          "200 characters"),
    ]
    for fields, request_id, error in cases:
        assert await raw.request(**fields) == {"id": request_id, "ok": False, "type": "protocol", "error": error}
    assert served_engine[0].bots["flip_btc"].state.status.value == "running"


async def test_command_argument_errors_are_user_errors_and_change_nothing(served_engine, raw, caplog, capfd):
    """每个命令：缺字段、多字段、类型不对、布尔当数、不存在的实例名——一条 user 错误（字段: 值 问题; 修正），
    引擎状态不变（没有实例被暂停，一键停止没有接合，没有下单）。"""
    engine, _ = served_engine
    running = "running instances: flip_btc, mr_eth, mom_btc"
    cases = [
        ("pause", {}, 'pause.instance: missing; give the instance name as text, e.g. "flip_btc"'),
        ("pause", {"instance": None}, 'pause.instance: missing; give the instance name as text, e.g. "flip_btc"'),
        ("stop", {"instance": 5}, 'stop.instance: 5 is a number, not text; give the instance name as text, '
                                  'e.g. "flip_btc"'),
        ("stop", {"instance": ""}, "stop.instance: '' is empty; give the instance name as text, e.g. \"flip_btc\""),
        ("pause", {"instance": "nope"}, f"pause.instance: unknown instance 'nope'; {running}"),
        ("start", {"instance": "flip_btc", "force": True}, "start.force: unknown argument; start takes: instance"),
        ("pause", {"instnce": "flip_btc"}, "pause.instnce: unknown argument (did you mean 'instance'?); "
                                           "pause takes: instance"),
        ("flatten", {"instance": "flip_btc", "dry_run": "yes"}, "flatten.dry_run: 'yes' is a string, not true or "
                                                                "false; use true or false"),
        ("flatten", {"instance": "ghost", "dry_run": True}, f"flatten.instance: unknown instance 'ghost'; {running}"),
        ("kill_switch", {"reset": 1}, "kill_switch.reset: 1 is a number, not true or false; use true or false"),
        ("kill_switch", {"reset": "false"}, "kill_switch.reset: 'false' is a string, not true or false; use true "
                                            "or false"),
        ("cancel_order", {}, "cancel_order.client_order_id: missing; give the client order id shown by 'ctl status'"),
        ("cancel_order", {"client_order_id": "abc"}, "cancel_order.client_order_id: no open order with client order "
                                                     "id 'abc'; 'tradeterm ctl status' lists the open orders"),
        ("cancel_all", {"instance": "nope"}, f"cancel_all.instance: unknown instance 'nope'; {running}"),
        ("set_params", {"instance": "mr_eth"}, 'set_params.params: missing; give {"name": value, ...}, '
                                               'e.g. {"fast": 8}'),
        ("set_params", {"instance": "mr_eth", "params": [1]}, 'set_params.params: [1] is an array, not an object; '
                                                              'give {"name": value, ...}, e.g. {"fast": 8}'),
        ("shutdown", {"now": True}, "shutdown.now: unknown argument; shutdown takes: no arguments"),
    ]
    for number, (name, args, error) in enumerate(cases):
        reply = await raw.request(id=number, op="command", name=name, args=args)
        assert reply == {"id": number, "ok": False, "type": "user", "error": error}, (name, args)
    snapshot = await raw.request(id="status", op="snapshot")
    assert snapshot["ok"] and {i["status"] for i in snapshot["result"]["instances"]} == {"running"}
    assert not snapshot["result"]["account"]["killed"] and not engine.stopped.is_set()
    assert engine.orders.orders == {}
    no_tracebacks(caplog, capfd)


async def test_every_command_has_an_argument_schema():
    """每个命令都声明了参数字段（没有漏掉的命令，也没有多出来的）。"""
    assert tuple(COMMAND_FIELDS) == COMMANDS


async def test_in_process_commands_get_the_same_checks(served_engine):
    """进程内客户端（默认的 `tradeterm run` 控制台）走同一套参数校验：布尔不是开关以外的东西，多余字段被拒。"""
    engine, _ = served_engine
    with pytest.raises(UserError, match=r"^flatten\.dry_run: 1 is a number, not true or false; use true or false$"):
        await engine.command("flatten", instance="flip_btc", dry_run=1)
    with pytest.raises(UserError, match=r"^pause\.force: unknown argument; pause takes: instance$"):
        await engine.command("pause", instance="flip_btc", force=True)
    assert engine.bots["flip_btc"].state.status.value == "running"


async def test_set_params_goes_through_the_config_validation(served_engine):
    """set_params 与加载配置走同一个 param_problems：NaN、无穷大、超大的窗口、布尔当数、未知参数都被拒，
    旧参数不变；合法的修改生效，并经套接字返回新参数。"""
    engine, server = served_engine
    async with await SocketClient.connect(server.socket_path, TOKEN) as client:
        with pytest.raises(UserError, match=r"^set_params\.params for 'mr_eth': .*entry_z=nan"):
            await engine.command("set_params", instance="mr_eth", params={"entry_z": float("nan")})
        with pytest.raises(UserError, match=r"^set_params\.params for 'mr_eth': .*exit_z=-inf"):
            await engine.command("set_params", instance="mr_eth", params={"exit_z": float("-inf")})
        with pytest.raises(UserError, match=r"^set_params\.params for 'mom_btc': .*lookback=1000000000"):
            await client.command("set_params", instance="mom_btc", params={"lookback": 1_000_000_000})
        with pytest.raises(UserError, match=r"^set_params\.params for 'mr_eth': window=True must be a whole number"):
            await client.command("set_params", instance="mr_eth", params={"window": True})
        with pytest.raises(UserError, match=r"^set_params\.params for 'mr_eth': unknown parameter 'entryz' for "
                                             r"MeanReversion \(did you mean 'entry_z'\?\)"):
            await client.command("set_params", instance="mr_eth", params={"entryz": 1.5})
        assert engine.bots["mr_eth"].strategy.params == {"window": 20, "entry_z": 2.0, "exit_z": 0.0}
        assert engine.bots["mom_btc"].strategy.params["lookback"] == 20
        row = await client.command("set_params", instance="mr_eth", params={"entry_z": 2.5})
        assert row["params"] == {"window": 20, "entry_z": 2.5, "exit_z": 0.0}
        assert engine.bots["mr_eth"].strategy.params["entry_z"] == 2.5


async def test_a_wrong_token_on_an_engine_is_answered_then_closed_and_others_keep_working(served_engine, raw):
    """令牌不对（或不是字符串、含孤立代理字符）：auth 错误后断开；别的连接不受影响。"""
    for token in ("wrong", 123, "\ud800"):
        other = await Raw.open(served_engine[1].socket_path)
        line = json.dumps({"id": 1, "token": token, "op": "snapshot"}).encode() + b"\n"
        reply = await other.ask(line)
        assert reply == {"id": 1, "ok": False, "type": "auth", "error": "token: invalid or missing control token; "
                         "read it from the engine's .token file next to its journal"}
        assert await asyncio.wait_for(other.reader.read(), ANSWER_TIMEOUT) == b""
        await other.close()
    assert await raw.request(id=2, op="ping") == {"id": 2, "ok": True, "result": "pong"}


async def test_a_last_line_without_newline_is_answered_before_the_connection_closes(served_engine):
    """客户端写完一行（没有换行）就半关闭：仍得到应答，然后连接结束。"""
    connection = await Raw.open(served_engine[1].socket_path)
    await connection.send(json.dumps({"id": 3, "token": TOKEN, "op": "snapshot"}).encode())
    connection.writer.write_eof()
    reply = await connection.answer()
    assert reply["id"] == 3 and reply["ok"] is True and reply["result"]["mode"] == "paper"
    assert await asyncio.wait_for(connection.reader.read(), ANSWER_TIMEOUT) == b""
    await connection.close()
