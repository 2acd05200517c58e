"""实盘（真钱）的显式确认：必须同时有 --live 参数、一个交互终端，以及用户亲手输入的确认短语。

模拟盘是默认；任何一步不满足都拒绝启动实盘，并说明缺了什么。确认短语包含交易所 id，防止把
“在 A 交易所实盘”的习惯性回车带到 B 交易所。

没有终端的场合（systemd 下的守护进程 `tradeterm run --headless --supervise` 及它的引擎子进程）：标准输入不是终端时，
环境变量 TRADETERM_LIVE_CONFIRM 恰好等于确认短语即算确认——这是显式的、按交易所写明的选择，与亲手输入同样具体。
"""

from __future__ import annotations

import os
from typing import Mapping, TextIO

from tradeterm.errors import UserError

# 没有终端时用来确认实盘的环境变量：值须与确认短语一字不差
LIVE_CONFIRM_ENV = "TRADETERM_LIVE_CONFIRM"


def confirmation_phrase(exchange_id: str) -> str:
    """用户必须原样输入的确认短语。"""
    return f"trade live on {exchange_id}"


def confirm_live(exchange_id: str, live_flag: bool, stdin: TextIO, stdout: TextIO,
                 environ: Mapping[str, str] | None = None) -> None:
    """确认实盘；未获确认时抛 UserError（不会返回“假”）。environ 为环境变量（None 为 os.environ）。"""
    if not live_flag:
        raise UserError("config mode is 'live' but --live was not given; real orders need both "
                        "(or set mode: paper to trade on the simulator)")
    phrase = confirmation_phrase(exchange_id)
    if not stdin.isatty():
        given = (os.environ if environ is None else environ).get(LIVE_CONFIRM_ENV)
        if given == phrase:
            stdout.write(f"LIVE TRADING with real money on {exchange_id} (confirmed by {LIVE_CONFIRM_ENV}).\n")
            stdout.flush()
            return
        if given is not None:
            raise UserError(f"{LIVE_CONFIRM_ENV}: does not match '{phrase}'; set it to exactly that phrase "
                            f"to confirm live trading without a terminal; nothing was started")
        raise UserError(f"live trading needs a typed confirmation on a terminal; standard input is not a terminal "
                        f"(without one, e.g. under systemd, set {LIVE_CONFIRM_ENV}='{phrase}')")
    stdout.write(f"LIVE TRADING with real money on {exchange_id}.\nType '{phrase}' to continue: ")
    stdout.flush()
    answer = stdin.readline().strip()
    if answer != phrase:
        raise UserError(f"confirmation did not match '{phrase}'; nothing was started")
