"""沙盒测试的夹具：每个测试一个新的进程内沙盒（127.0.0.1 随机端口）与连到它的原版 ccxt 客户端；
模糊测试用整个模块共用的一个沙盒（module_sandbox）。"""

from __future__ import annotations

import pytest
import pytest_asyncio

from tradeterm.sandbox import SandboxExchange

# 测试用的回放倍速：一根 1 分钟 K 线 1 秒
TEST_SPEED = 60.0
# 测试用的节拍，秒（比默认快，测试等待更短）
TEST_TICK_S = 0.05


def new_sandbox() -> SandboxExchange:
    """测试用的沙盒（尚未启动）：合成行情 BTC/USDT、ETH/USDT，演示账户 10,000 USDT。"""
    return SandboxExchange(port=0, speed=TEST_SPEED, tick_s=TEST_TICK_S, history_bars=3_000)


@pytest.fixture
async def sandbox():
    """一个启动好的沙盒（见 new_sandbox），每个测试一个。"""
    async with new_sandbox() as running:
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_sandbox():
    """整个测试模块共用的一个沙盒（模糊测试用：几千个请求打在同一个服务器上，不为每个样例重启）。

    使用它的测试须跑在模块级事件循环里：`pytestmark = pytest.mark.asyncio(loop_scope="module")`。
    """
    async with new_sandbox() as running:
        yield running


@pytest.fixture
async def exchange(sandbox):
    """指向沙盒的 ccxt.async_support.binance（已加载市场）。"""
    client = sandbox.client(timeout_ms=3_000)
    await client.load_markets()
    yield client
    await client.close()


@pytest.fixture
async def pro(sandbox):
    """指向沙盒的 ccxt.pro.binance（已加载市场）。"""
    client = sandbox.client(pro=True, timeout_ms=3_000)
    await client.load_markets()
    yield client
    await client.close()
