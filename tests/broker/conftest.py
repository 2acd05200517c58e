"""经纪商测试的夹具：沿用引擎测试的进程内沙盒交易所。"""

from tests.engine.conftest import sandbox  # noqa: F401  (pytest 按名字找到这个夹具)
