"""界面测试的夹具：沿用引擎测试的进程内沙盒（含时钟停住的 frozen_sandbox）与引擎工厂（真实 HTTP/websocket、真实引擎）。"""

from __future__ import annotations

from tests.engine.conftest import exchange_view, frozen_sandbox, sandbox, start_engine  # noqa: F401  （pytest 夹具）
