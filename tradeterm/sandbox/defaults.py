"""沙盒的默认设置（单独成文件，命令行帮助只导入它，不必加载撮合与服务器）。"""

from __future__ import annotations

# 默认的演示 API key（沙盒启动时打印；只在本机沙盒有效）
DEFAULT_API_KEY = "sandbox-demo-key"
# 默认的演示签名密钥
DEFAULT_SECRET = "sandbox-demo-secret"
# 默认监听地址
DEFAULT_HOST = "127.0.0.1"
# 独立运行时的默认端口（进程内默认 0，即随机空闲端口）
DEFAULT_PORT = 8765
# 撮合与推送的节拍，墙上秒：每个节拍推进一次行情、撮合挂单、推送订阅的流
DEFAULT_TICK_S = 0.2
# 默认交易对（合成行情）
DEFAULT_SYMBOLS = ("BTC/USDT", "ETH/USDT")
# 启动时已有的历史 K 线根数（基础周期）
DEFAULT_HISTORY_BARS = 5_000
