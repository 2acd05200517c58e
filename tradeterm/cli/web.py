"""`tradeterm web`：用 textual-serve 在浏览器里提供同一个终端控制台。

textual-serve 为每个浏览器会话（每个标签页）启动一个子进程运行控制台；这里的子进程命令是
`tradeterm attach --config <配置>`，即每个标签页都附着到同一个 `tradeterm run --headless` 引擎上。
不在每个会话里各起一个进程内引擎：多个标签页会在同一个日志库上启动多个引擎（日志库锁也会拒绝），
关掉标签页还会停掉机器人。所以先启动 `tradeterm run --headless`，再启动 `tradeterm web`。

安全：默认只监听 127.0.0.1。监听其他地址（如 0.0.0.0）必须设置口令（--password 或环境变量
TRADETERM_WEB_PASSWORD），否则拒绝启动。设置了口令时，每个 HTTP 请求（页面、静态文件、websocket）都要带上它：
浏览器的 Basic 认证对话框（用户名随意），或 URL 里的 `?token=口令`；认证通过后发一个会话 Cookie，
之后的静态文件与 websocket 请求凭 Cookie 通过。口令只比较常数时间的摘要，不写进日志。
注意：这是明文 HTTP；跨网络使用时请放在 HTTPS 反向代理或 SSH 隧道后面。
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import ipaddress
import os
import shlex
import sys
from pathlib import Path
from typing import Any

from tradeterm.cli.flags import whole_number
from tradeterm.errors import UserError

# 口令的环境变量名（比命令行参数安全：不会出现在 ps 的输出里）
PASSWORD_ENV = "TRADETERM_WEB_PASSWORD"
# 不需要口令的监听地址（只有本机能连上）
LOOPBACK_NAMES = frozenset({"localhost"})
# 认证通过后发的 Cookie 名
COOKIE_NAME = "tradeterm_web"
# Basic 认证的领域名（浏览器对话框里显示）
REALM = "tradeterm"
# 浏览器页面上的应用名（与 TradetermApp.TITLE 相同）
PAGE_TITLE = "tradeterm"
# 默认监听地址
DEFAULT_HOST = "127.0.0.1"
# 默认端口
DEFAULT_PORT = 8000


def register(subparsers: argparse._SubParsersAction) -> None:
    """注册 web 子命令。"""
    parser = subparsers.add_parser(
        "web", help="serve the console in a web browser (textual-serve); every browser tab attaches to the "
                    "headless engine ('tradeterm run --headless' first)")
    parser.add_argument("--config", default="config.yml", help="config file of the engine (default: ./config.yml)")
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help="address to listen on (default: 127.0.0.1; any non-loopback address requires "
                             f"a password)")
    parser.add_argument("--port", type=whole_number("--port 8000"), default=DEFAULT_PORT,
                        help="TCP port (default: 8000)")
    parser.add_argument("--attach", action="store_true", default=True,
                        help="each browser session attaches to the headless engine (the default and only mode: "
                             "an engine per browser tab would trade the same journal twice)")
    parser.add_argument("--password", default=None,
                        help=f"password required by the browser (Basic auth, any user name, or ?token=...); "
                             f"prefer the {PASSWORD_ENV} environment variable. Required when --host is not "
                             "a loopback address")
    parser.set_defaults(handler=run_web)


def is_loopback(host: str) -> bool:
    """host 是否只有本机能连上（localhost、127.0.0.0/8、::1）。"""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def resolve_password(args: argparse.Namespace) -> str | None:
    """口令：--password 优先，其次环境变量；空串当作没有。"""
    password = args.password if args.password is not None else os.environ.get(PASSWORD_ENV)
    return password or None


def check_bind(host: str, port: int, password: str | None) -> None:
    """监听地址与端口的检查：非本机地址没有口令时拒绝（UserError 说明键、值与修正方法）。"""
    if not 0 < port < 65536:
        raise UserError(f"--port {port} is not a TCP port: use a number from 1 to 65535 (default {DEFAULT_PORT})")
    if not password and not is_loopback(host):
        raise UserError(
            f"--host {host} would expose the console (and its kill switch and order entry) to the network "
            f"without a password: set {PASSWORD_ENV}=... (or --password ...), or bind to 127.0.0.1")


def session_command(config_path: Path) -> str:
    """每个浏览器会话运行的命令（shell 命令行）：用同一个 Python 附着到 headless 引擎。"""
    parts = [sys.executable, "-m", "tradeterm.cli.main", "attach", "--config", str(config_path)]
    return " ".join(shlex.quote(part) for part in parts)


def cookie_value(password: str) -> str:
    """会话 Cookie 的值：口令的 HMAC 摘要（Cookie 里不放口令本身）。"""
    return hmac.new(password.encode(), b"tradeterm-web-session", hashlib.sha256).hexdigest()


def check_request(password: str, headers: Any, query: Any, cookies: Any) -> tuple[bool, bool]:
    """按口令检查一个请求；返回 (是否放行, 是否需要补发 Cookie)。

    放行的凭据：Basic 认证头里的口令（用户名随意）、查询参数 token、或之前发的 Cookie。"""
    expected_cookie = cookie_value(password)
    if hmac.compare_digest(cookies.get(COOKIE_NAME, ""), expected_cookie):
        return True, False
    token = query.get("token")
    if token is not None and hmac.compare_digest(token.encode(), password.encode()):
        return True, True
    header = headers.get("Authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return False, False
        _, _, given = decoded.partition(":")
        if hmac.compare_digest(given.encode(), password.encode()):
            return True, True
    return False, False


def make_server(command: str, host: str, port: int, password: str | None) -> Any:
    """构造 textual-serve 的服务器（加上口令检查，页面里的 websocket 地址按请求的 Host 生成）。"""
    from aiohttp import web
    from textual_serve.server import Server

    class TradetermServer(Server):
        """textual-serve 的 Server：口令中间件 + 按请求生成的公开地址 + 简短的启动提示。"""

        def __init__(self) -> None:
            """参数取自外层函数。"""
            super().__init__(command, host=host, port=port, title=PAGE_TITLE)
            # 口令；None 表示不检查（只在本机地址上允许）
            self.password = password

        async def _make_app(self) -> web.Application:
            """textual-serve 的 aiohttp 应用，前面加一个口令中间件。"""
            app = await super()._make_app()
            if self.password is not None:
                app.middlewares.append(self._auth_middleware)
            return app

        @web.middleware
        async def _auth_middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
            """每个请求先验口令；不通过回 401 并请浏览器弹出 Basic 认证框。"""
            assert self.password is not None
            allowed, set_cookie = check_request(self.password, request.headers, request.query, request.cookies)
            if not allowed:
                return web.Response(status=401, text="tradeterm web: password required "
                                                     "(Basic auth with any user name, or ?token=...)\n",
                                    headers={"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'})
            response = await handler(request)
            if set_cookie and not response.prepared:
                response.set_cookie(COOKIE_NAME, cookie_value(self.password), httponly=True, samesite="Strict")
            return response

        async def handle_index(self, request: web.Request) -> Any:
            """页面：静态文件与 websocket 的地址用浏览器访问时的 Host（监听 0.0.0.0 时也能用）。"""
            self.public_url = f"{request.scheme}://{request.host}"
            return await super().handle_index(request)

        async def on_startup(self, app: web.Application) -> None:
            """启动提示（一行，测试与脚本据此知道已在监听）。"""
            auth = "password required" if self.password else "no password (loopback only)"
            print(f"tradeterm web: serving the console on http://{self.host}:{self.port} ({auth}); "
                  f"each browser tab runs: {self.command}", flush=True)
            print("press Ctrl+C to stop (the engine keeps running)", flush=True)

    return TradetermServer()


def run_web(args: argparse.Namespace) -> int:
    """检查参数与配置，然后提供网页直到 Ctrl+C / SIGTERM。"""
    from tradeterm.config import load_config
    from tradeterm.engine.control import control_paths

    password = resolve_password(args)
    check_bind(args.host, args.port, password)
    config_path = Path(args.config).resolve()
    config = load_config(str(config_path))  # 配置有错现在就报，而不是等浏览器连上
    socket_path, _ = control_paths(config.journal_path())
    if not Path(socket_path).exists():
        print(f"warning: no headless engine is listening at {socket_path}; browser sessions will fail until "
              f"you start it: tradeterm run --headless --config {config_path}", file=sys.stderr, flush=True)
    server = make_server(session_command(config_path), args.host, args.port, password)
    try:
        server.serve()
    except OSError as exc:
        raise UserError(f"cannot listen on --host {args.host} --port {args.port}: {exc.strerror or exc}; "
                        "choose another --port or stop the program using it") from None
    return 0
