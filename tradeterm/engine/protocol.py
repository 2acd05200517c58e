"""控制套接字的线路协议：一行一个 JSON 对象的读取、解码与信封（id/token/op/name/args）校验。

服务端（tradeterm/engine/control.py）与客户端（tradeterm/engine/control_client.py）共用这里的常量与编码。
每一行坏输入都变成一条英文的协议错误（`RequestError`），写明字段、坏值与修正方法，绝不让连接断掉或打出 traceback：
- 超长的行：读到上限就先答错误，再丢弃到行尾（内存不超过 StreamReader 的上限），连接照常可用；
- 不是 UTF-8、空行、不是 JSON、`NaN`/`Infinity` 字面量、溢出成无穷大的数、位数过多的整数、嵌套过深：解码时拒绝；
- 不是对象、未知字段、id/op/name/args 类型不对：信封校验时拒绝。
命令参数（args 里的字段）的校验在 tradeterm/engine/arguments.py（进程内客户端也走那里）。
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import reprlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tradeterm.engine.client import COMMANDS
from tradeterm.errors import UserError

# 允许的请求种类
OPS = ("snapshot", "command", "subscribe", "ping")
# 请求对象里允许出现的字段
REQUEST_FIELDS = ("id", "token", "op", "name", "args")
# Unix 套接字路径的最大长度，字节（Linux 的 sun_path 为 108 字节含结尾 NUL；macOS 为 104）
MAX_SOCKET_PATH = 103 if sys.platform == "darwin" else 107
# 服务端单行请求的最大长度，字节（也是服务端 StreamReader 的缓冲上限）
MAX_REQUEST_BYTES = 1 << 20
# 客户端单行应答或事件的最大长度，字节（快照可能较大）
MAX_REPLY_BYTES = 64 << 20
# 未写出/未读走的事件上限，条：服务端每个连接的积压与客户端的本地队列；超过时丢最旧的（与事件总线的默认容量一致）
EVENT_BACKLOG = 10_000
# 请求 JSON 的最大嵌套层数（对象与数组各算一层）；正常请求最多 3 层
MAX_DEPTH = 16
# 请求里整数的最大位数（更长的数不可能是合理的取值，也放不进浮点数）
MAX_INT_DIGITS = 100
# 请求 id 字符串的最大长度，字符
MAX_ID_CHARS = 200
# 请求示例（写进错误消息的修正方法里）
EXAMPLE = '{"id": 1, "token": "...", "op": "ping"}'

# 错误消息里显示坏值用的截短器：字符串、容器与大数都只显示开头，深层嵌套只显示几层
_SHORT = reprlib.Repr()
_SHORT.maxstring = 60
_SHORT.maxother = 60
_SHORT.maxlong = 40
_SHORT.maxlevel = 3


def show(value: Any) -> str:
    """错误消息里显示一个值：JSON 的 true/false/null 原样写，字符串加引号，其余截短（永不递归过深）。"""
    if value is True or value is False:
        return "true" if value else "false"
    if value is None:
        return "null"
    return _SHORT.repr(value)


def json_type(value: Any) -> str:
    """值的 JSON 类型名（错误消息用）：object、array、string、number、true/false、null。"""
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (int, float)):
        return "a number"
    return type(value).__name__


class ControlError(UserError):
    """控制套接字的错误：连不上引擎、令牌不对、协议错误、引擎内部错误或连接中断。"""

    def __init__(self, message: str, kind: str = "connection"):
        """message 为英文说明（含修正方法）；kind 为错误种类。"""
        super().__init__(message)
        # 错误种类："connection"、"auth"、"protocol"、"internal" 或 "token"
        self.kind = kind


class RequestError(Exception):
    """一行请求不合协议；服务端把它答成 `{"ok": false, "type": "protocol"}`，连接保持可用。"""

    def __init__(self, message: str, request_id: Any = None):
        """message 为英文说明（字段: 坏值 问题; 修正方法）；request_id 为能认出的请求 id（认不出为 None）。"""
        super().__init__(message)
        # 应答里带回的请求 id
        self.request_id = request_id


@dataclass(frozen=True)
class Request:
    """通过信封校验的一条请求。"""

    request_id: Any                                       # 请求 id（整数、字符串或 None），原样带回应答
    op: str                                               # 请求种类，OPS 之一
    name: str | None = None                               # op 为 command 时的命令名
    args: dict[str, Any] = field(default_factory=dict)    # op 为 command 时的命令参数


def check_socket_path(path: Path) -> Path:
    """检查 Unix 套接字路径不超过系统上限；超长时抛 UserError 并建议更短的日志库路径。"""
    path = Path(path)
    size = len(os.fsencode(str(path)))
    if size > MAX_SOCKET_PATH:
        raise UserError(f"control socket path {path} is {size} bytes, longer than the {MAX_SOCKET_PATH}-byte limit "
                        f"for Unix sockets; use a shorter journal path (the socket is created next to the journal)")
    return path


def encode(message: dict[str, Any]) -> bytes:
    """一条消息 -> 一行 JSON 字节（不可序列化时抛 TypeError/ValueError）。"""
    return json.dumps(message, separators=(",", ":")).encode("utf-8") + b"\n"


def error_line(request_id: Any, kind: str, message: str) -> bytes:
    """一条错误应答。"""
    return encode({"id": request_id, "ok": False, "error": message, "type": kind})


async def discard_line(reader: asyncio.StreamReader) -> None:
    """丢弃超长行的其余部分直到换行（或连接结束）；每次最多读缓冲上限那么多，内存不随行长增长。"""
    while True:
        try:
            await reader.readuntil(b"\n")
            return
        except asyncio.LimitOverrunError as exc:
            await reader.readexactly(exc.consumed)
        except asyncio.IncompleteReadError:
            return


class _Refused(ValueError):
    """解码时遇到协议不接受的数（NaN/Infinity 字面量、溢出、位数过多）。"""


def _refuse_constant(text: str) -> Any:
    """json 的 parse_constant：NaN、Infinity、-Infinity 不是合法 JSON，一律拒绝。"""
    raise _Refused(f"request: {text} is not a JSON number; send finite numbers only (like 0.5)")


def _finite_float(text: str) -> float:
    """json 的 parse_float：超出浮点范围的数（如 1e400）会变成无穷大，拒绝。"""
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"request: number {text[:40]} is out of range (it would be infinite); "
                       f"send a number between -1e308 and 1e308")
    return value


def _bounded_int(text: str) -> int:
    """json 的 parse_int：位数过多的整数拒绝（合理的取值不会这么长，转换也很慢）。"""
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise _Refused(f"request: an integer of {digits} digits ({text[:20]}...) is too large; "
                       f"send at most {MAX_INT_DIGITS} digits")
    return int(text)


def _depth(value: Any) -> int:
    """JSON 值的嵌套层数（非递归地遍历，层数再深也不会爆栈）。"""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest


def decode_request(line: bytes) -> Any:
    """一行字节 -> JSON 值；不是 UTF-8、空行、非法 JSON、非有限数、嵌套过深时抛 RequestError。"""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(f"request: byte 0x{line[exc.start]:02x} at offset {exc.start} is not valid UTF-8; "
                           f"send the request as UTF-8 encoded JSON") from None
    text = text.strip()  # 行尾的换行（与首尾空白）不属于请求；去掉后出错位置按用户看到的那一行算
    if not text:
        raise RequestError(f"request: empty line; send one JSON object per line, e.g. {EXAMPLE}")
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float, parse_int=_bounded_int)
    except _Refused as exc:
        raise RequestError(str(exc)) from None
    except RecursionError:
        raise RequestError(f"request: JSON nested too deeply; requests are flat objects nested at most "
                           f"{MAX_DEPTH} levels, e.g. {EXAMPLE}") from None
    except json.JSONDecodeError as exc:
        raise RequestError(f"request: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
                           f"send one JSON object per line, e.g. {EXAMPLE}") from None
    except ValueError as exc:  # 其他解码问题（如超大整数的转换上限）
        raise RequestError(f"request: not valid JSON ({str(exc)[:80]}); send one JSON object per line, "
                           f"e.g. {EXAMPLE}") from None
    if _depth(value) > MAX_DEPTH:
        raise RequestError(f"request: JSON nested more than {MAX_DEPTH} levels deep; requests are flat objects, "
                           f"e.g. {EXAMPLE}")
    return value


def request_id_of(value: Any) -> Any:
    """校验请求 id：整数（不含布尔）、不太长的字符串或 null；否则抛 RequestError（应答的 id 为 null）。"""
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if isinstance(value, str) and len(value) <= MAX_ID_CHARS:
        return value
    raise RequestError(f"id: {show(value)} is not a request id; use an integer or a string of at most "
                       f"{MAX_ID_CHARS} characters")


def check_envelope(value: Any) -> Request:
    """JSON 值 -> Request：对象、已知字段、id/op/name/args 的类型与取值；不合格时抛 RequestError。

    令牌由服务端在这之前比对（不相符时答 auth 错误并断开）；未知命令名也在这里拒绝。"""
    if not isinstance(value, dict):
        what = "null" if value is None else f"{json_type(value)} {show(value)}"
        raise RequestError(f"request: got {what}, not a request object; send one JSON object per line, "
                           f"e.g. {EXAMPLE}")
    request_id = request_id_of(value.get("id"))
    op = value.get("op")
    unknown = [key for key in value if key not in REQUEST_FIELDS]
    if unknown:
        raise RequestError(f"request: unknown field {show(unknown[0])}; a request has only the fields "
                           f"{', '.join(REQUEST_FIELDS)}", request_id)
    if not isinstance(op, str) or op not in OPS:
        what = "missing" if op is None else f"{show(op)} is not an operation"
        raise RequestError(f"op: {what}; use one of: {', '.join(OPS)}", request_id)
    name, args = value.get("name"), value.get("args")
    if op != "command":
        for key in ("name", "args"):
            if key in value:
                raise RequestError(f"{key}: only used with op 'command', not with op {op!r}; remove it", request_id)
        return Request(request_id, op)
    if not isinstance(name, str) or name not in COMMANDS:
        what = "missing" if name is None else f"unknown command {show(name)}"
        raise RequestError(f"name: {what}; allowed: {', '.join(COMMANDS)}", request_id)
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise RequestError(f"args: {show(args)} is {json_type(args)}; command args must be a JSON object, "
                           f"e.g. {{\"instance\": \"flip_btc\"}}", request_id)
    return Request(request_id, op, name, args)
