"""`tradeterm web` 作为真实子进程：对着测试里启动的 headless 引擎（其沙盒也在测试里），用 aiohttp 取页面、
检查口令（401/200），经 textual-serve 的 /ws 打开一个浏览器会话并收到控制台的输出（还原成屏幕文字，按键栏不空）；
监听 0.0.0.0 却没有口令时拒绝启动。"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import sys

import aiohttp
import pytest

from tests.cli.terminal_screen import TerminalScreen
from tests.engine.conftest import sandbox  # noqa: F401  （pytest 夹具）
from tests.engine.test_headless import REPO, EngineProcess, headless, short_dir  # noqa: F401  （pytest 夹具）
from tradeterm.tui.app import TradetermApp

# 测试用口令
PASSWORD = "correct horse"
# 等 web 子进程开始监听的上限，秒
START_TIMEOUT_S = 20.0
# 等浏览器会话（attach 子进程）画出主屏的上限，秒
SESSION_TIMEOUT_S = 30.0
# 浏览器会话的终端大小（列, 行），即页面连 /ws 时带的 width、height
SESSION_SIZE = (120, 40)


def free_port() -> int:
    """一个本机空闲的 TCP 端口。"""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def basic(user: str, password: str) -> dict[str, str]:
    """Basic 认证请求头。"""
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def start_web(*args: str, env: dict[str, str] | None = None) -> EngineProcess:
    """以子进程启动 `tradeterm web ...`（输出持续读走）。"""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tradeterm.cli.main", "web", *args, cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
    return EngineProcess(proc)


async def read_session(ws, screen: TerminalScreen, ready, what: str, web: EngineProcess) -> None:
    """把 /ws 上控制台的输出喂给 screen，直到 ready() 为真；SESSION_TIMEOUT_S 内等不到则失败（附上屏幕与 web 的输出）。"""
    deadline = asyncio.get_running_loop().time() + SESSION_TIMEOUT_S
    while not ready():
        remaining = deadline - asyncio.get_running_loop().time()
        assert remaining > 0, f"no {what} over /ws; the screen:\n" + "\n".join(screen.lines()) + f"\n{web.output()}"
        try:
            message = await ws.receive(timeout=remaining)
        except asyncio.TimeoutError:
            continue
        assert message.type in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT), message
        if message.type is aiohttp.WSMsgType.BINARY:
            screen.feed(message.data)


def session_url(port: int) -> str:
    """浏览器会话的 websocket 地址（页面上的脚本就这样连，带着终端大小）。"""
    return f"http://127.0.0.1:{port}/ws?width={SESSION_SIZE[0]}&height={SESSION_SIZE[1]}"


async def stop(process: EngineProcess) -> None:
    """SIGTERM 停掉子进程（textual-serve 优雅退出）；不退就杀掉。"""
    if process.proc.returncode is None:
        process.proc.terminate()
        try:
            await asyncio.wait_for(process.proc.wait(), 10)
        except asyncio.TimeoutError:
            process.proc.kill()
            await process.proc.wait()
    process.reader.cancel()


async def test_web_serves_the_console_page_and_a_browser_session(headless):
    """本机地址不要口令：页面 200 且带应用名；/ws 会话启动 attach 子进程，收到主屏的输出。"""
    _engine, config_path, _journal = headless
    port = free_port()
    web = await start_web("--config", str(config_path), "--port", str(port))
    try:
        await web.wait_line("serving the console on", START_TIMEOUT_S)
        assert "attach --config" in web.output()
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/") as response:
                assert response.status == 200
                page = await response.text()
            assert f"<div>{TradetermApp.TITLE}</div>" in page
            assert f"ws://127.0.0.1:{port}/ws" in page
            screen = TerminalScreen(*SESSION_SIZE)
            async with session.ws_connect(session_url(port)) as ws:
                await read_session(ws, screen, lambda: "Instances" in (text := "\n".join(screen.lines()))
                                   and "BTC/USDT" in text, "main screen", web)
                await ws.send_str(json.dumps(["stdin", "q"]))
    finally:
        await stop(web)


async def test_the_key_bar_shows_before_the_page_is_clicked(headless):
    """浏览器刚打开页面、还没点进终端时的一屏：最下面的按键栏有 ? Help、q Quit、K KILL（修复前是空行）。

    会话就是 textual-serve 对每个标签页做的：`tradeterm web` 配置的命令、textual-serve 设的环境（web 驱动等），
    页面连上 /ws 后先发一次终端大小；不发 focus——页面上的脚本只在终端真的获得焦点（用户点进去）时才发，
    而 web 驱动一启动就告诉 App 它没有焦点。"""
    _engine, config_path, _journal = headless
    port = free_port()
    web = await start_web("--config", str(config_path), "--port", str(port))
    try:
        await web.wait_line("serving the console on", START_TIMEOUT_S)
        screen = TerminalScreen(*SESSION_SIZE)
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(session_url(port)) as ws:
                await ws.send_str(json.dumps(["resize", {"width": SESSION_SIZE[0], "height": SESSION_SIZE[1]}]))
                await read_session(ws, screen, lambda: all(key in screen.lines()[-1]
                                                           for key in ("? Help", "q Quit", "K KILL")),
                                   "key bar with ?, q and K", web)
    finally:
        await stop(web)


async def test_web_on_all_interfaces_requires_the_password(headless):
    """监听 0.0.0.0 且设了口令（环境变量）：无凭据 401，错口令 401，Basic 认证或 ?token= 为 200。"""
    _engine, config_path, _journal = headless
    port = free_port()
    web = await start_web("--config", str(config_path), "--host", "0.0.0.0", "--port", str(port),
                          env={"TRADETERM_WEB_PASSWORD": PASSWORD})
    try:
        await web.wait_line("password required", START_TIMEOUT_S)
        url = f"http://127.0.0.1:{port}/"
        async with aiohttp.ClientSession() as session:
            async with session.get(url) as response:
                assert response.status == 401
                assert response.headers["WWW-Authenticate"].startswith("Basic")
            async with session.get(url, headers=basic("me", "wrong")) as response:
                assert response.status == 401
            async with session.get(f"http://127.0.0.1:{port}/ws") as response:
                assert response.status == 401
            async with session.get(url, headers=basic("anyone", PASSWORD)) as response:
                assert response.status == 200
                assert TradetermApp.TITLE in await response.text()
        # 本测试经 IP 地址访问：aiohttp 默认不收 IP 主机的 Cookie，unsafe=True 让它像浏览器一样收下
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            async with session.get(url, params={"token": PASSWORD}) as response:
                assert response.status == 200
            # ?token= 之后凭会话 Cookie 取静态文件（浏览器加载页面资源与 websocket 时就是这样）
            async with session.get(f"http://127.0.0.1:{port}/static/js/textual.js") as response:
                assert response.status == 200
    finally:
        await stop(web)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1"])
async def test_web_refuses_a_public_address_without_a_password(host, tmp_path):
    """非本机地址、没有口令：以 2 退出，消息说明键、值与修正方法，不打印 traceback。"""
    env = {k: v for k, v in os.environ.items() if k != "TRADETERM_WEB_PASSWORD"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tradeterm.cli.main", "web", "--host", host, "--port", str(free_port()),
        "--config", str(REPO / "config.yml"), cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
    out, err = await asyncio.wait_for(proc.communicate(), START_TIMEOUT_S)
    assert proc.returncode == 2, (out, err)
    message = err.decode()
    assert f"--host {host}" in message
    assert "TRADETERM_WEB_PASSWORD" in message and "127.0.0.1" in message
    assert "Traceback" not in message
