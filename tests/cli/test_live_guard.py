"""tradeterm/cli/live_guard.py：没有终端时（systemd 下的守护进程与它的引擎子进程）经 TRADETERM_LIVE_CONFIRM 确认实盘。"""

from __future__ import annotations

import io

import pytest

from tradeterm.cli.live_guard import LIVE_CONFIRM_ENV, confirm_live
from tradeterm.errors import UserError


def test_the_exact_phrase_in_the_environment_confirms_live_without_a_terminal():
    """标准输入不是终端、TRADETERM_LIVE_CONFIRM 恰为确认短语：通过，并在输出里写明是它确认的；不读标准输入。"""
    out = io.StringIO()
    stdin = io.StringIO("")
    confirm_live("binance", True, stdin, out, environ={LIVE_CONFIRM_ENV: "trade live on binance"})
    assert "LIVE TRADING with real money on binance (confirmed by TRADETERM_LIVE_CONFIRM)" in out.getvalue()
    assert stdin.tell() == 0


@pytest.mark.parametrize("value", ["trade live on okx", "yes", "trade live on binance ", ""])
def test_any_other_value_is_refused(value):
    """别的交易所的短语、yes、多一个空格、空串：都拒绝，消息写明要设成哪一句。"""
    with pytest.raises(UserError, match="TRADETERM_LIVE_CONFIRM: does not match 'trade live on binance'"):
        confirm_live("binance", True, io.StringIO(""), io.StringIO(), environ={LIVE_CONFIRM_ENV: value})


def test_without_the_variable_a_non_terminal_is_refused_and_told_how():
    """没有终端也没有这个变量：拒绝，并说明在 systemd 下怎么设。"""
    with pytest.raises(UserError, match="not a terminal.*TRADETERM_LIVE_CONFIRM='trade live on binance'"):
        confirm_live("binance", True, io.StringIO(""), io.StringIO(), environ={})


def test_the_variable_does_not_replace_the_live_flag():
    """有这个变量但没给 --live：照样拒绝（两样都要）。"""
    with pytest.raises(UserError, match="--live was not given"):
        confirm_live("binance", False, io.StringIO(""), io.StringIO(),
                     environ={LIVE_CONFIRM_ENV: "trade live on binance"})
