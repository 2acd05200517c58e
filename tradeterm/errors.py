"""tradeterm 自己的错误类型：用户可修正的错误（配置、参数、数据文件）与程序缺陷分开。

CLI 捕获 `UserError` 的子类，只打印其消息（不打印 traceback）并以非零码退出；其他异常按缺陷处理。
"""

from __future__ import annotations


class UserError(Exception):
    """用户输入有误（配置、命令行参数、数据文件）：消息须写明键、值与修正方法。"""


class ConfigError(UserError):
    """配置文件有一处或多处错误；`problems` 每项是一条独立的问题说明。"""

    def __init__(self, source: str, problems: list[str]):
        """source 为配置来源（文件路径）；problems 为逐条问题描述。"""
        # 配置来源，通常是文件路径，用于错误消息开头
        self.source = source
        # 每条问题一行：键路径、错误值、允许的取值
        self.problems = list(problems)
        super().__init__(self.format())

    def format(self) -> str:
        """把全部问题拼成一段多行消息。"""
        head = f"{self.source}: {len(self.problems)} problem(s) found"
        return "\n".join([head, *(f"  - {p}" for p in self.problems)])


class StrategyError(UserError):
    """策略无法加载或参数不合法（未知类名、未知参数、参数类型错误等）。"""


class DataError(UserError):
    """数据文件无法读取或格式不符（缺列、时间戳无法解析、价格不一致等）。"""
