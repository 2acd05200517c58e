"""数据层的默认设置（单独成文件：`tradeterm fetch --help`、`tradeterm data --help` 只导入它，不必加载 pandas 与 numpy）。"""

from __future__ import annotations

import os
from pathlib import Path

# 默认的 K 线缓存目录（可用环境变量 TRADETERM_CACHE_DIR 或 --cache-dir 覆盖）；进程启动时读一次环境变量
DEFAULT_CACHE_DIR = Path(os.environ.get("TRADETERM_CACHE_DIR", Path.home() / ".cache" / "tradeterm" / "candles"))
