"""交易所账户被重置（沙盒状态被删掉）而日志库还留着旧持仓：引擎不含糊其辞，对账问题写明是怎么回事、该怎么办。"""

from __future__ import annotations

import yaml

from tests.engine.conftest import PLUGINS, close, flip, wait_for
from tradeterm.config import load_config
from tradeterm.engine.factory import open_engine, sandbox_state_path
from tradeterm.sandbox.state import reset_state_file


def in_process_config(tmp_path):
    """进程内沙盒（持久状态在日志库旁）的配置：Flip 每 40 根进出一次，600 倍速。"""
    data = {"mode": "paper", "exchange": {"sandbox": True, "sandbox_speed": 600},
            "sizing": {"method": "fixed_fraction", "fraction": 0.1}, "journal": {"path": "journal.db"},
            "strategy_dirs": [str(PLUGINS)], "strategies": [flip("flip_btc", "BTC/USDT", 40)]}
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(data))
    return load_config(path)


async def test_reset_exchange_with_an_old_journal_says_what_to_do(tmp_path):
    """有持仓时停掉引擎、重置沙盒状态、再启动：problems 说明交易所账户是新的，并给出新日志库 / 一起重置的做法；
    涉及的实例被停止（不在对不上的持仓上继续交易）。不重置时重启没有问题、持仓还在。"""
    config = in_process_config(tmp_path)
    handle = await open_engine(config)
    try:
        bot = handle.engine.bots["flip_btc"]
        await wait_for(lambda: bot.position.amount > 0 and not handle.engine.orders.open_orders(), 60,
                       "an open position")
        # 极长的周期：之后的几次启动里策略都不会自己平仓（改过的参数写进日志库，重启后恢复）
        await handle.engine.command("set_params", instance="flip_btc", params={"period": 1_000_000})
    finally:
        await close(handle)
    again = await open_engine(config)
    try:
        assert again.engine.problems == []  # 持久的沙盒：同一个账户，接着走
        assert again.engine.bots["flip_btc"].state.status.value == "running"
        assert again.engine.bots["flip_btc"].position.amount > 0
    finally:
        await close(again)
    assert reset_state_file(sandbox_state_path(config)) is not None
    fresh = await open_engine(config)
    try:
        problems = fresh.engine.problems
        assert problems, "a fresh exchange account must not pass silently"
        text = " ".join(problems)
        assert "no trade history" in text and "journal.path" in text and "tradeterm sandbox --reset" in text, text
        bot = fresh.engine.bots["flip_btc"]
        assert bot.state.status.value == "stopped" and "reconcile" in bot.state.error
    finally:
        await close(fresh)
