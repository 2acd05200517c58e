"""沙盒返回的 Binance 错误：错误码、HTTP 状态与 Binance 自己的消息原文。

ccxt 先按消息原文精确匹配、再按错误码匹配异常类，所以消息必须与 Binance 一字不差；
对应关系以已安装 ccxt 的 `binance().describe()['exceptions']` 为准（见 tests/sandbox/test_errors.py）。
"""

from __future__ import annotations

# 时间戳超出 recvWindow 或领先服务器（ccxt: InvalidNonce）
TIMESTAMP_OUTSIDE = (-1021, "Timestamp for this request is outside of the recvWindow.")
# 时间戳比服务器时间超前 1000 毫秒以上（ccxt: InvalidNonce）
TIMESTAMP_AHEAD = (-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
# 签名不对（ccxt: AuthenticationError）
BAD_SIGNATURE = (-1022, "Signature for this request is not valid.")
# 缺少 API key 头或格式不对（ccxt: AuthenticationError）
BAD_API_KEY_FORMAT = (-2014, "API-key format invalid.")
# API key 不存在（ccxt: AuthenticationError）
REJECTED_API_KEY = (-2015, "Invalid API-key, IP, or permissions for action.")
# 余额不足（ccxt: InsufficientFunds，按消息原文精确匹配）
INSUFFICIENT_BALANCE = (-2010, "Account has insufficient balance for requested action.")
# LIMIT_MAKER 会立即成交（ccxt: OrderImmediatelyFillable）
WOULD_TAKE = (-2010, "Order would immediately match and take.")
# 止损/止盈触发价会立即触发（ccxt: OrderImmediatelyFillable）
STOP_WOULD_TRIGGER = (-2010, "Stop price would trigger immediately.")
# 撤销未知订单（ccxt: OrderNotFound）
UNKNOWN_ORDER = (-2011, "Unknown order sent.")
# 查询不存在的订单（ccxt: OrderNotFound）
NO_SUCH_ORDER = (-2013, "Order does not exist.")
# 交易对不存在（ccxt: BadSymbol）
BAD_SYMBOL = (-1121, "Invalid symbol.")
# K 线周期不支持（ccxt: BadRequest）
BAD_INTERVAL = (-1120, "Invalid interval.")
# 订单类型不支持（ccxt: BadRequest）
BAD_ORDER_TYPE = (-1116, "Invalid orderType.")
# 买卖方向不对（ccxt: BadRequest）
BAD_SIDE = (-1117, "Invalid side.")
# timeInForce 不支持（ccxt: BadRequest）
BAD_TIME_IN_FORCE = (-1115, "Invalid timeInForce.")
# recvWindow 过大（ccxt: BadRequest）
BAD_RECV_WINDOW = (-1131, "recvWindow must be less than 60000.")
# 请求权重超限（HTTP 429/418 时的正文；ccxt 按 HTTP 状态抛 DDoSProtection）
TOO_MANY_REQUESTS = (-1003, "Too much request weight used; current limit is 6000 request weight per 1 MINUTE. "
                            "Please use WebSocket Streams for live updates to avoid polling the API.")
# IP 被封（HTTP 418）
IP_BANNED = (-1003, "Way too much request weight used; IP banned until {until}. "
                    "Please use WebSocket Streams for live updates to avoid bans.")
# 未知错误：只用于沙盒自身的程序错误（HTTP 500，并记日志）；坏输入一律给出具体的 4xx 错误（ccxt: OperationFailed）
UNKNOWN_ERROR = (-1000, "An unknown error occurred while processing the request.")
# 请求体不是合法的 UTF-8 等无法归到某个参数的非法字符（ccxt: BadRequest）
ILLEGAL_CHARS = (-1100, "Illegal characters found in a parameter.")
# 同一参数在查询串（或请求体）里出现了多次（ccxt: BadRequest）
DUPLICATE_PARAM = (-1101, "Duplicate values for a parameter detected.")
# startTime 大于 endTime（ccxt 没有专门映射：ExchangeError）
START_AFTER_END = (-1023, "Start time is greater than end time.")
# 互斥的可选参数一起给出，如 symbol 与 symbols（ccxt: BadRequest）
BAD_COMBINATION = (-1128, "Combination of optional parameters invalid.")
# 合约：限价低于最小价格（PRICE_FILTER minPrice；ccxt: BadRequest）
FUTURES_PRICE_BELOW_MIN = (-4013, "Price less than min price.")
# 合约：限价高于最大价格（PRICE_FILTER maxPrice；ccxt: BadRequest）
FUTURES_PRICE_ABOVE_MAX = (-4002, "Price greater than max price.")
# 合约：触发价高于最大价格（ccxt: BadRequest）
FUTURES_STOP_ABOVE_MAX = (-4007, "Stop price greater than max price.")
# 合约：数量高于最大数量（LOT_SIZE maxQty；ccxt: BadRequest）
FUTURES_QTY_ABOVE_MAX = (-4005, "Quantity greater than max quantity.")

# 各类参数的合法取值（Binance 在 -1100 消息里原样给出的正则）：小数（价格、数量）
DECIMAL_RANGE = r"^([0-9]{1,20})(\.[0-9]{1,20})?$"
# 非负整数（时间戳、编号、limit、recvWindow）
INTEGER_RANGE = r"^[0-9]{1,20}$"
# symbols：交易对 id 的 JSON 数组，如 ["BTCUSDT","ETHUSDT"]
SYMBOLS_RANGE = r'^\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\]$'
# 客户端订单号（newClientOrderId、clientAlgoId）：1..36 个字母、数字与 .:/_-
CLIENT_ID_RANGE = r"^[\.A-Z\:/a-z0-9_-]{1,36}$"


def missing_param(name: str) -> tuple[int, str]:
    """必填参数缺失：-1102，消息中带参数名。"""
    return (-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def illegal_param(name: str, legal_range: str = DECIMAL_RANGE) -> tuple[int, str]:
    """参数含非法字符（不符合 legal_range 正则）：-1100，消息中带参数名与合法取值（与 Binance 原文相同）。"""
    return (-1100, f"Illegal characters found in parameter '{name}'; legal range is '{legal_range}'.")


def invalid_param(name: str) -> tuple[int, str]:
    """参数格式对、取值不合法（如 limit 超出范围、整数超出 64 位）：-1130，消息中带参数名。"""
    return (-1130, f"Data sent for parameter '{name}' is not valid.")


def filter_failure(name: str) -> tuple[int, str]:
    """订单不满足交易对过滤器（PRICE_FILTER、LOT_SIZE、NOTIONAL ...）：-1013。"""
    return (-1013, f"Filter failure: {name}")


class BinanceError(Exception):
    """沙盒处理请求时要返回给客户端的 Binance 错误（HTTP 状态 + {"code", "msg"}）。"""

    def __init__(self, error: tuple[int, str], status: int = 400):
        """error 为 (错误码, 消息原文)；status 为 HTTP 状态码。"""
        # Binance 错误码（负数，如 -2010）
        self.code = error[0]
        # Binance 的消息原文
        self.msg = error[1]
        # HTTP 状态码（多数为 400，鉴权类为 401）
        self.status = status
        super().__init__(f"{self.code} {self.msg}")

    def body(self) -> dict:
        """响应正文：{"code": ..., "msg": ...}。"""
        return {"code": self.code, "msg": self.msg}
