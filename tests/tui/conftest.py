"""界面测试的夹具：沿用引擎测试的进程内沙盒与引擎工厂（真实 HTTP/websocket、真实引擎），另有一个时钟停住的沙盒。"""

from __future__ import annotations

import pytest

from tests.engine.conftest import TEST_SPEED, exchange_view, sandbox, start_engine  # noqa: F401  （pytest 夹具）
from tradeterm.sandbox.server import SandboxExchange


@pytest.fixture
async def frozen_sandbox():
    """进程内沙盒，模拟时钟停住：行情只在测试拨动（clock.advance，见 tests/tui/helpers.py 的 step_until）时才走。

    为什么：时钟按墙上时间 600 倍速走时，机器一忙，同一进程里的引擎与界面就跟不上每 0.1 秒一根的 K 线，行情订阅被判为
    陈旧（风控随之拒绝下单），或者机器人在测试的空档里自己交易了。时钟停住之后，测试的结果只取决于测试做了什么。"""
    async with SandboxExchange(port=0, speed=TEST_SPEED, tick_s=0.05) as exchange:
        exchange.clock.freeze()
        yield exchange
