"""API 密钥的读取与保护：只来自环境变量或 0600 权限的密钥文件，永不写进 config.yml、日志或错误消息。

读取顺序：环境变量 `{PREFIX}_API_KEY` 与 `{PREFIX}_SECRET`（前缀默认 TRADETERM，见 exchange.key_env_prefix）；
都没有时读 exchange.key_file（YAML：api_key、secret），文件权限必须是 0600（只有所有者可读写），否则拒绝。
`SecretRedactor` 是一个 logging 过滤器，把已加载的密钥从所有日志记录里替换成 ***。
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import yaml

from tradeterm.errors import ConfigError

# 日志与界面里代替密钥显示的文字
MASK = "***"


@dataclass(frozen=True)
class Credentials:
    """交易所 API 凭证。repr/str 不显示内容，防止被打印或写进日志。"""

    api_key: str = field(repr=False)  # API key（明文，只在内存中）
    secret: str = field(repr=False)   # API secret（明文，只在内存中）
    source: str = ""                  # 来源说明（环境变量名或文件路径），不含密钥

    def __str__(self) -> str:
        """只显示来源与掩码。"""
        return f"Credentials(api_key={MASK}, secret={MASK}, source={self.source})"

    def as_ccxt(self) -> dict[str, str]:
        """ccxt 构造参数里的 apiKey/secret。"""
        return {"apiKey": self.api_key, "secret": self.secret}


def load_credentials(prefix: str = "TRADETERM", key_file: Path | None = None,
                     environ: Mapping[str, str] | None = None) -> Credentials:
    """按“环境变量 -> 0600 密钥文件”的顺序读取凭证；都没有或不合规时抛 ConfigError，说明怎么设置。"""
    env = os.environ if environ is None else environ
    key_name, secret_name = f"{prefix}_API_KEY", f"{prefix}_SECRET"
    api_key, secret = env.get(key_name, "").strip(), env.get(secret_name, "").strip()
    if api_key and secret:
        return Credentials(api_key, secret, source=f"environment {key_name}/{secret_name}")
    if api_key or secret:
        missing = secret_name if api_key else key_name
        raise ConfigError("credentials", [f"{missing} is not set; set both {key_name} and {secret_name}"])
    if key_file is not None:
        return _from_key_file(Path(key_file))
    raise ConfigError("credentials", [
        f"no API keys found: set the environment variables {key_name} and {secret_name}, or set exchange.key_file "
        f"to a YAML file with api_key and secret (chmod 600). Keys never go into config.yml"])


def _from_key_file(path: Path) -> Credentials:
    """读 0600 权限的 YAML 密钥文件。"""
    source = f"exchange.key_file {path}"
    if not path.is_file():
        raise ConfigError("credentials", [f"{source}: file not found"])
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError("credentials", [f"{source}: permissions are {mode:o}, other users can read it; "
                                          f"run: chmod 600 {path}"])
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError:
        # 不回显文件内容：里面是密钥
        raise ConfigError("credentials", [f"{source}: not valid YAML; expected keys api_key and secret"]) from None
    if not isinstance(data, dict) or not data.get("api_key") or not data.get("secret"):
        raise ConfigError("credentials", [f"{source}: expected non-empty keys api_key and secret"])
    return Credentials(str(data["api_key"]), str(data["secret"]), source=source)


class SecretRedactor(logging.Filter):
    """日志过滤器：把给定的秘密字符串从日志消息与参数中替换成 ***。挂在根 logger 的处理器上。"""

    def __init__(self, secrets: list[str]):
        """secrets 为要隐藏的字符串（API key 与 secret）；过短（< 6）的忽略，避免误伤正常文字。"""
        super().__init__()
        # 需要隐藏的秘密字符串，长的在前（避免部分替换）
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        """替换文本中的全部秘密。"""
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        """先把消息格式化，再整体替换，之后清空参数（防止处理器再次格式化出明文）。"""
        record.msg = self.redact(record.getMessage())
        record.args = None
        return True


def install_redactor(credentials: Credentials) -> SecretRedactor:
    """给根 logger 的所有处理器装上密钥过滤器，返回它。"""
    redactor = SecretRedactor([credentials.api_key, credentials.secret])
    for handler in logging.getLogger().handlers:
        handler.addFilter(redactor)
    return redactor
