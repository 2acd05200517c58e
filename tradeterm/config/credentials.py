"""API 密钥的读取与保护：只来自环境变量或 0600 权限的密钥文件，永不写进 config.yml、日志或错误消息。

读取顺序：环境变量 `{PREFIX}_API_KEY` 与 `{PREFIX}_SECRET`（前缀默认 TRADETERM，见 exchange.key_env_prefix）；
都没有时读 exchange.key_file（YAML：api_key、secret），文件权限必须是 0600（只有所有者可读写），否则拒绝。
读到的密钥立即登记（`register_secrets`）：从此本进程的每条日志（消息、%-参数、logger.exception 的 traceback、
stack_info，任何处理器，包括之后才添加的）、CLI 打印的错误消息和未捕获异常的 traceback 里，它们都显示为 ***。
"""

from __future__ import annotations

import logging
import os
import stat
import sys
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping
from urllib.parse import quote

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
        register_secrets([api_key, secret])
        return Credentials(api_key, secret, source=f"environment {key_name}/{secret_name}")
    if api_key or secret:
        missing = secret_name if api_key else key_name
        raise ConfigError("credentials", [f"{missing} is not set; set both {key_name} and {secret_name}"])
    if key_file is not None:
        return _from_key_file(Path(key_file))
    raise ConfigError("credentials", [
        f"no API keys found: set the environment variables {key_name} and {secret_name}, or set exchange.key_file "
        f"to a YAML file with api_key and secret (chmod 600). Keys never go into config.yml"])


def read_private_yaml(path: Path, source: str, expected: str) -> dict:
    """读一个 0600 权限的 YAML 秘密文件，返回其中的映射；文件不存在、别人可读、不是 YAML 映射时抛 ConfigError。
    source 为错误消息里的来源说明（如 "exchange.key_file /path"），expected 说明文件里该有哪些键。文件内容从不回显。"""
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
        raise ConfigError("credentials", [f"{source}: not valid YAML; expected {expected}"]) from None
    if not isinstance(data, dict):
        raise ConfigError("credentials", [f"{source}: expected a mapping with {expected}"])
    return data


def _from_key_file(path: Path) -> Credentials:
    """读 0600 权限的 YAML 密钥文件。"""
    source = f"exchange.key_file {path}"
    data = read_private_yaml(path, source, "keys api_key and secret")
    if not data.get("api_key") or not data.get("secret"):
        raise ConfigError("credentials", [f"{source}: expected non-empty keys api_key and secret"])
    register_secrets([str(data["api_key"]), str(data["secret"])])
    return Credentials(str(data["api_key"]), str(data["secret"]), source=source)


class SecretRedactor(logging.Filter):
    """日志过滤器：把给定的秘密字符串从日志消息、参数、异常文本与调用栈里替换成 ***（可挂在任意处理器上）。

    进程里已加载的密钥不靠它：`register_secrets` 在日志记录创建时与每个处理器格式化时统一替换（见模块说明）。"""

    def __init__(self, secrets: list[str]):
        """secrets 为要隐藏的字符串（API key 与 secret）；过短（< 6）的忽略，避免误伤正常文字。"""
        super().__init__()
        # 需要隐藏的秘密字符串（含 URL 编码形式），长的在前（避免部分替换）
        self.secrets = secret_variants(secrets)

    def redact(self, text: str) -> str:
        """替换文本中的全部秘密。"""
        return replace_secrets(text, self.secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        """先把消息格式化，再整体替换，之后清空参数（防止处理器再次格式化出明文）；异常文本与调用栈同样处理。"""
        scrub_record(record, self.secrets)
        return True


# 短于它的字符串不当作秘密（会误伤正常文字），字符数
MIN_SECRET_LENGTH = 6
# 本进程已加载、必须从全部日志与错误输出里隐藏的秘密（含 URL 编码形式），长的在前；由 register_secrets 填写
SECRETS: list[str] = []
# 装钩子时被包住的原 LogRecord 工厂与原 logging.Handler.format（我们的版本先调用它们，再替换秘密）；
# 在装钩子的那一刻取，别的库在本模块导入之后换上的工厂也不会被丢掉
_WRAPPED = {"factory": logging.getLogRecordFactory(), "format": logging.Handler.format}
# 把异常格式化成 traceback 文本用的格式器（与 logging 默认格式相同）
_TRACEBACK_FORMATTER = logging.Formatter()


def secret_variants(secrets) -> list[str]:
    """秘密及其 URL 编码形式（出现在查询串里时），去重、长的在前；过短的忽略。"""
    plain = {s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}
    return sorted(plain | {quote(s, safe="") for s in plain}, key=len, reverse=True)


def replace_secrets(text: str, secrets: list[str]) -> str:
    """把 text 里的每个秘密替换成 ***。"""
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


def redact(text: str) -> str:
    """把本进程已加载的密钥从 text 里替换成 ***（没有加载过密钥时原样返回）；CLI 打印错误消息前也用它。"""
    return replace_secrets(text, SECRETS)


def scrub_record(record: logging.LogRecord, secrets: list[str]) -> None:
    """就地清理一条日志记录：消息（含 %-参数）、异常文本、调用栈里的秘密都换成 ***。

    消息先格式化再替换，参数清空；异常先格式化成文本（Formatter 见到 exc_text 就不再格式化），并丢掉异常对象，
    这样不经 Formatter、自己渲染 traceback 的处理器也拿不到明文。格式串与参数不符时不抛出（交给处理器报告），
    但参数同样先替换。"""
    try:
        record.msg, record.args = replace_secrets(record.getMessage(), secrets), None
    except Exception:  # 格式串与参数不符：logging 会在输出时报告这个错误，这里只保证报告里也没有明文
        record.msg = replace_secrets(str(record.msg), secrets)
        if isinstance(record.args, tuple):
            record.args = tuple(replace_secrets(str(arg), secrets) for arg in record.args)
        elif record.args:
            record.args = (replace_secrets(str(record.args), secrets),)
    if record.exc_info and not record.exc_text:
        record.exc_text = _TRACEBACK_FORMATTER.formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = replace_secrets(record.exc_text, secrets)
        record.exc_info = None
    if record.stack_info:
        record.stack_info = replace_secrets(record.stack_info, secrets)


def _redacting_record_factory(*args, **kwargs) -> logging.LogRecord:
    """LogRecord 工厂：每条日志记录一创建就去掉已加载的密钥（对之后才添加的处理器同样有效）。"""
    record = _WRAPPED["factory"](*args, **kwargs)
    if SECRETS:
        scrub_record(record, SECRETS)
    return record


def _redacting_handler_format(self: logging.Handler, record: logging.LogRecord) -> str:
    """全部处理器的 format：格式化后的整行再替换一次（覆盖 extra 字段、makeLogRecord 造的记录等）。"""
    return redact(_WRAPPED["format"](self, record))


def _redacting_excepthook(kind, value, traceback_) -> None:
    """未捕获的异常（程序缺陷）照常打印 traceback，但先去掉已加载的密钥。"""
    sys.stderr.write(redact("".join(traceback.format_exception(kind, value, traceback_))))


def _redacting_thread_excepthook(args) -> None:
    """线程里未捕获的异常：同上（线程名在前，与 Python 的默认输出一致）。"""
    name = args.thread.name if args.thread is not None else "unknown"
    text = "".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback))
    sys.stderr.write(redact(f"Exception in thread {name}:\n{text}"))


def register_secrets(secrets) -> None:
    """把秘密加进本进程的隐藏名单，并（第一次时）装上钩子：LogRecord 工厂、全部处理器的 format、未捕获异常的输出。

    装在 logging 的类与工厂上而不是某个处理器上，所以之后才添加的处理器（如界面模式的日志文件）、logger.exception
    的 traceback、stack_info 都同样被处理。"""
    SECRETS[:] = secret_variants([*SECRETS, *secrets])
    if logging.getLogRecordFactory() is not _redacting_record_factory:
        _WRAPPED["factory"] = logging.getLogRecordFactory()
        logging.setLogRecordFactory(_redacting_record_factory)
    if logging.Handler.format is not _redacting_handler_format:
        _WRAPPED["format"] = logging.Handler.format
        logging.Handler.format = _redacting_handler_format
    sys.excepthook = _redacting_excepthook
    threading.excepthook = _redacting_thread_excepthook


def forget_secrets() -> None:
    """清空隐藏名单（钩子保留，名单为空时什么也不做）；测试之间用。"""
    SECRETS.clear()


def install_redactor(credentials: Credentials) -> SecretRedactor:
    """让这组凭证从本进程的全部日志与错误输出里消失（见 register_secrets），返回同样内容的过滤器。"""
    register_secrets([credentials.api_key, credentials.secret])
    return SecretRedactor([credentials.api_key, credentials.secret])
