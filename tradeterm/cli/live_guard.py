"""实盘（真钱）的显式确认：必须同时有 --live 参数、一个交互终端，以及用户亲手输入的确认短语。

模拟盘是默认；任何一步不满足都拒绝启动实盘，并说明缺了什么。确认短语包含交易所 id，防止把
“在 A 交易所实盘”的习惯性回车带到 B 交易所。
"""

from __future__ import annotations

from typing import TextIO

from tradeterm.errors import UserError


def confirmation_phrase(exchange_id: str) -> str:
    """用户必须原样输入的确认短语。"""
    return f"trade live on {exchange_id}"


def confirm_live(exchange_id: str, live_flag: bool, stdin: TextIO, stdout: TextIO) -> None:
    """确认实盘；未获确认时抛 UserError（不会返回“假”）。"""
    if not live_flag:
        raise UserError("config mode is 'live' but --live was not given; real orders need both "
                        "(or set mode: paper to trade on the simulator)")
    if not stdin.isatty():
        raise UserError("live trading needs a typed confirmation on a terminal; standard input is not a terminal")
    phrase = confirmation_phrase(exchange_id)
    stdout.write(f"LIVE TRADING with real money on {exchange_id}.\nType '{phrase}' to continue: ")
    stdout.flush()
    answer = stdin.readline().strip()
    if answer != phrase:
        raise UserError(f"confirmation did not match '{phrase}'; nothing was started")
