"""界面测试的夹具：沿用引擎测试的进程内沙盒与引擎工厂（真实 HTTP/websocket、真实引擎）。"""

from __future__ import annotations

from tests.engine.conftest import exchange_view, sandbox, start_engine  # noqa: F401  （pytest 夹具）
