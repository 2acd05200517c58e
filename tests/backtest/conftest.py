"""回测测试的 pytest 设置：注册 peer 标记（与 backtesting.py / vectorbt 对比的测试，仍在常规测试里运行）。"""

from __future__ import annotations


def pytest_configure(config):
    """注册 peer 标记，`-m peer` 可单独运行，`-m "not peer"` 可跳过。"""
    config.addinivalue_line("markers", "peer: agreement tests against backtesting.py and vectorbt (run by default)")
