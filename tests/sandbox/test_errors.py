"""沙盒的错误消息原文与已安装 ccxt 的映射一致（describe()['exceptions'] 与 handle_errors）。"""

from __future__ import annotations

import json

import ccxt
import pytest

from tradeterm.sandbox import errors

# (沙盒错误, ccxt 应抛的异常类)
CASES = [
    (errors.TIMESTAMP_OUTSIDE, ccxt.InvalidNonce),
    (errors.TIMESTAMP_AHEAD, ccxt.InvalidNonce),
    (errors.BAD_SIGNATURE, ccxt.AuthenticationError),
    (errors.BAD_API_KEY_FORMAT, ccxt.AuthenticationError),
    (errors.REJECTED_API_KEY, ccxt.AuthenticationError),
    (errors.INSUFFICIENT_BALANCE, ccxt.InsufficientFunds),
    (errors.WOULD_TAKE, ccxt.OrderImmediatelyFillable),
    (errors.STOP_WOULD_TRIGGER, ccxt.OrderImmediatelyFillable),
    ((-2010, "Duplicate order sent."), ccxt.InvalidOrder),
    (errors.UNKNOWN_ORDER, ccxt.OrderNotFound),
    (errors.NO_SUCH_ORDER, ccxt.OrderNotFound),
    (errors.BAD_SYMBOL, ccxt.BadSymbol),
    (errors.BAD_INTERVAL, ccxt.BadRequest),
    (errors.BAD_ORDER_TYPE, ccxt.BadRequest),
    (errors.filter_failure("LOT_SIZE"), ccxt.InvalidOrder),
    (errors.filter_failure("PRICE_FILTER"), ccxt.InvalidOrder),
    (errors.filter_failure("NOTIONAL"), ccxt.BadRequest),
    (errors.missing_param("quantity"), ccxt.BadRequest),
    (errors.TOO_MANY_REQUESTS, ccxt.RateLimitExceeded),
]


@pytest.mark.parametrize(("error", "expected"), CASES, ids=[f"{c[0][0]}:{c[0][1][:30]}" for c in CASES])
def test_sandbox_error_maps_to_the_expected_ccxt_exception(error, expected):
    """把沙盒的 {"code","msg"} 交给 ccxt binance 的 handle_errors，得到预期的异常类（不多不少）。"""
    exchange = ccxt.binance()
    body = json.dumps({"code": error[0], "msg": error[1]})
    with pytest.raises(ccxt.BaseError) as caught:
        exchange.handle_errors(400, "Bad Request", "http://127.0.0.1:1/api/v3/order", "POST", {}, body,
                               json.loads(body), {}, "")
    assert type(caught.value) is expected


def test_exact_messages_are_known_to_the_installed_ccxt():
    """按消息原文映射的几条（余额不足、会立即成交）确实在已安装 ccxt 的精确匹配表里。"""
    exact = ccxt.binance().describe()["exceptions"]["exact"]
    assert exact[errors.INSUFFICIENT_BALANCE[1]] is ccxt.InsufficientFunds
    assert exact[errors.WOULD_TAKE[1]] is ccxt.OrderImmediatelyFillable
    assert exact[errors.STOP_WOULD_TRIGGER[1]] is ccxt.OrderImmediatelyFillable
    assert exact[str(errors.TIMESTAMP_OUTSIDE[0])] is ccxt.InvalidNonce
