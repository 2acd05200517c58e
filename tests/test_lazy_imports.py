"""按需导出（tradeterm/lazy.py）：`import tradeterm` 与 `import tradeterm.config.credentials` 不加载 pandas、numba、
pydantic；导出的名字照常可用（策略插件的 `from tradeterm import Strategy`）；不存在的名字是 AttributeError。
在全新的子进程里检查（本测试进程早已导入了这些库）。速度本身在 bench/startup.py 里量。"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# 启动路径上不该出现的重库
HEAVY = ("pandas", "numba", "pydantic", "ccxt", "textual")


def loaded_after(statement: str) -> dict[str, bool]:
    """在新的 Python 进程里执行 statement，返回每个重库是否已被导入。"""
    code = (f"import sys, json\n{statement}\n"
            f"print(json.dumps({{name: name in sys.modules for name in {HEAVY!r}}}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize("statement", ["import tradeterm", "import tradeterm.config.credentials",
                                       "from tradeterm.cli.main import main; main(['--version'])"])
def test_the_start_up_path_loads_no_heavy_library(statement):
    """包、凭据模块与 --version 都不导入重库。"""
    assert not any(loaded_after(statement).values()), loaded_after(statement)


def test_exported_names_still_work():
    """导出的名字按需导入后就是原来的对象；未导出的名字是 AttributeError。"""
    import tradeterm
    import tradeterm.config as config
    from tradeterm.config.schema import AppConfig
    from tradeterm.strategy.base import Strategy

    assert tradeterm.Strategy is Strategy and config.AppConfig is AppConfig
    assert tradeterm.indicators.__name__ == "tradeterm.indicators"
    assert set(tradeterm.__all__) >= {"Strategy", "TradeSignal", "indicators", "__version__"}
    with pytest.raises(AttributeError, match="no attribute 'Strateg'"):
        getattr(tradeterm, "Strateg")
