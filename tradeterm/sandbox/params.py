"""沙盒 REST 请求参数的读取与校验：取值规则与错误码同 Binance。

- 小数参数（价格、数量）必须是不带符号、不带指数的十进制数（`^([0-9]{1,20})(\\.[0-9]{1,20})?$`），
  所以 `-0`、`1e5`、`NaN`、`inf` 都以 -1100 拒绝，不会以浮点特殊值流进撮合；
- 整数参数（时间戳、编号、limit）必须是不带符号的十进制整数，超出 64 位时为 -1130；
- 同一参数出现多次为 -1101；请求体不是合法 UTF-8 为 -1100；
- 必填参数缺失或为空为 -1102。
"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qsl

from aiohttp import web

from tradeterm.sandbox import errors
from tradeterm.sandbox.errors import BinanceError

# 64 位有符号整数的最大值（Binance 的整数参数都是 long）
INT64_MAX = 2**63 - 1
# 小数参数的合法形式
DECIMAL_PATTERN = re.compile(errors.DECIMAL_RANGE)
# 整数参数的合法形式
INTEGER_PATTERN = re.compile(errors.INTEGER_RANGE)
# symbols 数组里一个交易对 id 的合法形式
SYMBOL_ID_PATTERN = re.compile(r"^[A-Z0-9-_.]{1,20}$")
# 客户端订单号的合法形式
CLIENT_ID_PATTERN = re.compile(errors.CLIENT_ID_RANGE)


def _text(value: object) -> str:
    """参数值转文本（websocket API 的参数来自 JSON，可能是数字；布尔值不当作数字）。"""
    return value if isinstance(value, str) else str(value)


def required(params: dict, name: str) -> str:
    """取必填参数；缺失或为空抛 -1102。"""
    value = params.get(name)
    if value is None or value == "":
        raise BinanceError(errors.missing_param(name))
    return value


def number(params: dict, name: str, default: float = 0.0) -> float:
    """取小数参数；缺失或为空给 default，不符合 Binance 的小数形式（负号、指数、NaN、inf ...）抛 -1100。"""
    value = params.get(name)
    if value is None or value == "":
        return default
    if not DECIMAL_PATTERN.match(_text(value)):
        raise BinanceError(errors.illegal_param(name))
    return float(value)


def integer(params: dict, name: str, default: int | None = None) -> int | None:
    """取非负整数参数；缺失或为空给 default，不是十进制数字串抛 -1100，超出 64 位抛 -1130。"""
    value = params.get(name)
    if value is None or value == "":
        return default
    text = _text(value)
    if isinstance(value, bool) or not INTEGER_PATTERN.match(text):
        raise BinanceError(errors.illegal_param(name, errors.INTEGER_RANGE))
    result = int(text)
    if result > INT64_MAX:
        raise BinanceError(errors.invalid_param(name))
    return result


def bounded_limit(params: dict, default: int, maximum: int) -> int:
    """limit 参数（盘口、成交与订单列表）：缺省为 default，超过 maximum 时截到 maximum（与 Binance 一致），0 抛 -1130。"""
    limit = integer(params, "limit", default)
    if limit < 1:
        raise BinanceError(errors.invalid_param("limit"))
    return min(limit, maximum)


def strict_limit(params: dict, default: int, maximum: int) -> int:
    """limit 参数（K 线）：缺省为 default，必须在 1..maximum 之内，否则 -1130（Binance 的 klines 不截断）。"""
    limit = integer(params, "limit", default)
    if not 1 <= limit <= maximum:
        raise BinanceError(errors.invalid_param("limit"))
    return limit


def time_range(params: dict) -> tuple[int | None, int | None]:
    """startTime、endTime（UTC 毫秒，可缺省）；两者都给且 startTime > endTime 时抛 -1023。"""
    start, end = integer(params, "startTime"), integer(params, "endTime")
    if start is not None and end is not None and start > end:
        raise BinanceError(errors.START_AFTER_END)
    return start, end


def symbol_list(params: dict) -> list[str] | None:
    """symbols 参数（JSON 数组，如 ["BTCUSDT","ETHUSDT"]）；没给时返回 None。

    不是交易对 id 组成的 JSON 数组（`123`、`null`、`true`、`[1,2]`、坏 JSON）抛 -1100，空数组抛 -1102，
    与 symbol 同时给出抛 -1128；空串视为没给（与其他可选参数一致）。交易对是否存在由调用方检查（-1121）。
    """
    raw = params.get("symbols")
    if raw is None or raw == "":
        return None
    if params.get("symbol") not in (None, ""):
        raise BinanceError(errors.BAD_COMBINATION)
    try:
        values = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError：嵌套极深的数组（如几千层 [[[...）
        values = None
    if not isinstance(values, list) or not all(isinstance(v, str) and SYMBOL_ID_PATTERN.match(v) for v in values):
        raise BinanceError(errors.illegal_param("symbols", errors.SYMBOLS_RANGE))
    if not values:
        raise BinanceError(errors.missing_param("symbols"))
    return values


def client_order_id(params: dict, name: str) -> str | None:
    """客户端订单号参数（可缺省）；含 Binance 不允许的字符或超过 36 个字符时抛 -1100。"""
    value = params.get(name)
    if value is None or value == "":
        return None
    if not CLIENT_ID_PATTERN.match(value):
        raise BinanceError(errors.illegal_param(name, errors.CLIENT_ID_RANGE))
    return value


def unique(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """把 (名, 值) 列表变成字典；同名参数出现多次时抛 -1101。"""
    params = dict(pairs)
    if len(params) != len(pairs):
        raise BinanceError(errors.DUPLICATE_PARAM)
    return params


async def form_body(request: web.Request) -> tuple[str, dict[str, str]]:
    """读取 application/x-www-form-urlencoded 请求体：返回（原文, 参数）。

    不是合法 UTF-8 时抛 -1100，同名参数重复时抛 -1101；没有请求体时为 ("", {})。
    """
    raw = await request.read() if request.can_read_body else b""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BinanceError(errors.ILLEGAL_CHARS) from None
    return text, unique(parse_qsl(text, keep_blank_values=True))
