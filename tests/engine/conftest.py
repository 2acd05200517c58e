"""引擎测试的夹具：进程内沙盒交易所（真实 HTTP/websocket）、按它写的配置、启动好的引擎，以及直接看交易所的 ccxt 客户端。"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

import yaml

from tests.engine.launcher import Launcher
from tradeterm.config import load_config
from tradeterm.engine.factory import open_engine
from tradeterm.sandbox.server import SandboxExchange

# 测试插件目录（Flip、Explodes）
PLUGINS = Path(__file__).parent / "plugins"
# 测试沙盒的回放倍速：1 分钟 K 线每 0.1 秒一根
TEST_SPEED = 600
# wait_for 的防挂死上限至少这么长，秒（见 wait_for）
WAIT_GUARD_S = 60.0


def engine_config(tmp_path: Path, sandbox_url: str, instances: list[dict[str, Any]], **extra: Any):
    """写一份指向 sandbox_url 的 config.yml（日志库在 tmp_path），返回校验后的 AppConfig。"""
    data = {"mode": "paper", "exchange": {"sandbox": True, "sandbox_url": sandbox_url},
            "fees": {"maker": 0.001, "taker": 0.001}, "sizing": {"method": "fixed_fraction", "fraction": 0.1},
            "journal": {"path": str(tmp_path / "journal.db")}, "strategy_dirs": [str(PLUGINS)],
            "strategies": instances, **extra}
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(data))
    return load_config(path)


def flip(name: str = "flip_btc", symbol: str = "BTC/USDT", period: int = 4) -> dict[str, Any]:
    """一个 Flip 实例的配置。"""
    return {"name": name, "symbol": symbol, "interval": "1m", "class": "Flip", "params": {"period": period}}


async def wait_for(predicate, timeout: float = 10.0, what: str = "condition") -> None:
    """轮询直到 predicate() 为真；超时则测试失败。

    超时只是防挂死的上限，不是对速度的断言：实际上限取 timeout 与 WAIT_GUARD_S 中较大的一个，机器再忙（负载 15 时
    一切都慢好几倍）也不会把“还没等到”误报成失败；真的卡住时照样失败。"""
    limit = max(timeout, WAIT_GUARD_S)
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {limit:g}s waiting for {what}")
        await asyncio.sleep(0.05)


async def nudge_until(sandbox, predicate, what: str = "condition", *, pause=asyncio.sleep,
                      guard_s: float = WAIT_GUARD_S, step_s: float = 0.05) -> None:
    """把停住的沙盒时钟（frozen_sandbox）每次拨动 1 毫秒（让沙盒在下一个节拍推送行情）、再让出 step_s 秒（pause，界面测试
    传 pilot.pause），直到 predicate() 为真；guard_s 秒仍不成立则失败（防挂死的上限，不是对速度的断言）。

    为什么要拨：沙盒只在时钟走动的节拍里推送；引擎要看到下一条推送才确认一根 K 线已收盘。1 毫秒一拨，行情几乎不动。"""
    deadline = time.monotonic() + guard_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {guard_s:g}s waiting for {what}")
        sandbox.clock.advance(1)
        await pause(step_s)


@pytest.fixture
async def sandbox():
    """进程内沙盒（真实 HTTP/websocket，随机端口），快速回放。"""
    async with SandboxExchange(port=0, speed=TEST_SPEED, tick_s=0.05) as exchange:
        yield exchange


@pytest.fixture
async def frozen_sandbox():
    """进程内沙盒，模拟时钟停住：行情只在测试拨动（sandbox.clock.advance）时才走（界面测试用 tests/tui/helpers.py 的
    step_until 一根一根地拨）。

    为什么：时钟按墙上时间 600 倍速走时，机器一忙，同一进程里的引擎（与界面）就跟不上每 0.1 秒一根的 K 线，行情订阅被判为
    陈旧（风控随之拒绝下单），或者机器人在测试的空档里自己交易了。时钟停住之后，测试的结果只取决于测试做了什么。
    要让某个测试的引擎连它：在测试模块里定义 `sandbox` 夹具返回它（start_engine、exchange_view 按名字用 sandbox）。"""
    async with SandboxExchange(port=0, speed=TEST_SPEED, tick_s=0.05) as exchange:
        exchange.clock.freeze()
        yield exchange


@pytest.fixture
async def exchange_view(sandbox):
    """直接看沙盒账户的原版 ccxt 客户端（测试用来核对交易所一侧）。"""
    client = sandbox.client()
    await client.load_markets()
    yield client
    await client.close()


@pytest.fixture
async def start_engine(tmp_path, sandbox):
    """启动引擎的工厂：await start_engine([实例...]) -> handle；测试结束时关闭仍开着的引擎。"""
    handles = []

    async def start(instances: list[dict[str, Any]], **extra: Any):
        """按实例列表启动一个引擎（指向夹具的沙盒）。"""
        handle = await open_engine(engine_config(tmp_path, sandbox.url, instances, **extra))
        handles.append(handle)
        return handle

    yield start
    for handle in handles:
        await close(handle)


async def close(handle) -> None:
    """关闭引擎（可重复调用）。"""
    await handle.close()


@pytest.fixture(scope="session")
def launcher():
    """预先导入好 tradeterm 的母进程（tests/engine/launcher.py）：launcher.start(参数, 日志, 目录) 每次 fork 出一个
    真正的 tradeterm 子进程（与 Popen 用法相同），免去每次启动 2~3 秒的导入。整个测试会话共用一个。"""
    starter = Launcher()
    yield starter
    starter.close()
