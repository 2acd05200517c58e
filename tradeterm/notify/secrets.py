"""通知渠道的秘密：Telegram 机器人令牌、飞书签名密钥、webhook 的 HMAC 密钥。

只来自环境变量（名字在配置里：token_env、secret_env），或 `notify.key_file`（0600 权限的 YAML；键 telegram_token、
lark_secret，webhook 用与其 secret_env 同名的键）；环境变量优先。读到的秘密立即登记进隐藏名单
（tradeterm/config/credentials.py 的 register_secrets）：Telegram 的令牌出现在每个请求的 URL 里，HTTP 客户端库的
日志、异常消息与 traceback 里它们都显示为 ***。飞书 webhook 地址里的 hook id 也是凭证（知道它就能往群里发消息），
同样登记。
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from tradeterm.config.credentials import read_private_yaml, register_secrets
from tradeterm.errors import ConfigError

# notify.key_file 里 Telegram 令牌的键
TELEGRAM_KEY = "telegram_token"
# notify.key_file 里飞书签名密钥的键
LARK_KEY = "lark_secret"


class NotifySecrets:
    """按“环境变量 -> notify.key_file”的顺序取通知渠道的秘密。"""

    def __init__(self, key_file: Path | None, environ: Mapping[str, str] | None = None):
        """key_file 为 notify.key_file 的绝对路径（可以没有）；environ 缺省为进程环境。"""
        # 环境变量
        self.environ = os.environ if environ is None else environ
        # notify.key_file 的路径；None 为没有设置
        self.key_file = key_file
        # 已读出的密钥文件内容（第一次用到时读）
        self._file: dict | None = None

    def _file_values(self) -> dict:
        """密钥文件的内容（没有设置时为空）；权限不是 0600 等问题抛 ConfigError。"""
        if self._file is None:
            self._file = {} if self.key_file is None else read_private_yaml(
                self.key_file, f"notify.key_file {self.key_file}", "keys such as telegram_token and lark_secret")
        return self._file

    def get(self, env_name: str, file_key: str) -> str | None:
        """环境变量 env_name 的值；没有时取密钥文件里 file_key 的值；都没有时 None。取到的值登记为秘密。"""
        value = self.environ.get(env_name, "").strip() or str(self._file_values().get(file_key) or "").strip()
        if value:
            register_secrets([value])
        return value or None

    def require(self, env_name: str, file_key: str, where: str) -> str:
        """同 get，但必须有：都没有时抛 ConfigError，写明怎么设置（从不建议写进 config.yml）。"""
        value = self.get(env_name, file_key)
        if value is None:
            raise ConfigError("notify", [f"{where}: no secret found; set the environment variable {env_name}, or put "
                                         f"{file_key}: ... in notify.key_file (a YAML file, chmod 600). Secrets never "
                                         f"go into config.yml"])
        return value
