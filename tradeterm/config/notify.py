"""config.yml 的 `notify:` 与 `supervisor:` 块：通知渠道（Telegram、飞书/Lark、通用 webhook）、每日汇总、守护进程。

秘密（Telegram 机器人令牌、飞书签名密钥、webhook 的 HMAC 密钥）从不写在这里：只写它们所在的环境变量名，
或者 `notify.key_file`（0600 权限的 YAML）；读取见 tradeterm/notify/secrets.py。
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from tradeterm.config.block import Block, checked_path_text, value_problem
from tradeterm.config.values import show, url_problem

# 通知的事件类别（每个渠道的 events 过滤用这些名字；含义见 README 的“通知”一节）
EVENT_CATEGORIES = ("fill", "rejection", "breaker", "kill_switch", "stale", "reconcile", "error", "daily", "engine",
                    "supervisor")
# 环境变量名的格式
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def _checked_events(value: list[str]) -> list[str]:
    """events 列表：每一项须是 EVENT_CATEGORIES 之一，或单独一项 all（全部）。"""
    if value == ["all"]:
        return list(EVENT_CATEGORIES)
    unknown = [item for item in value if item not in EVENT_CATEGORIES]
    if unknown:
        raise value_problem(f"{show(unknown[0])} is not an event; use any of {', '.join(EVENT_CATEGORIES)} "
                            f"(or [all])")
    return list(dict.fromkeys(value))


def _checked_env(value: str | None) -> str | None:
    """环境变量名：字母、数字与下划线，不以数字开头。"""
    if value is not None and not ENV_NAME.fullmatch(value):
        raise value_problem(f"{show(value)} is not an environment variable name; use letters, digits and _, "
                            f"e.g. TRADETERM_TELEGRAM_TOKEN")
    return value


# 像是把秘密直接写进了配置的键（拒绝，并说明秘密该放哪里；错误消息从不回显它的值）
SECRET_KEYS = ("token", "bot_token", "secret", "sign_secret", "signing_secret", "password", "api_key")


def _no_inline_secret(data: Any, env_key: str, env_default: str, file_key: str) -> Any:
    """渠道块里写了 token/secret 这类键时抛出说明：秘密只放环境变量或 notify.key_file。"""
    if isinstance(data, dict):
        for key in SECRET_KEYS:
            if key in data:
                env = data.get(env_key) or env_default
                raise value_problem(f"{key}: secrets never go into config.yml; remove it and set the environment "
                                    f"variable {env} (or {file_key}: ... in notify.key_file, chmod 600)")
    return data


def _checked_url(value: str, example: str, *, paths: bool = True) -> str:
    """渠道地址：http(s)://主机[:端口][/路径]；paths=False 时不许带路径（Telegram 的 api_url 是 API 的根）。"""
    from urllib.parse import urlsplit

    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise value_problem(f"{show(value)} is not an http(s) URL; use a form like {example}")
    if not paths:
        problem = url_problem(value)
        if problem:
            raise value_problem(f"{show(value)} {problem}; use a form like {example}")
    return value.rstrip("/") if not paths else value


class ChannelConfig(Block):
    """每个渠道都有的设置：事件过滤、限速与合并、重试、队列上限、单次请求超时。"""

    # 要发的事件类别（见 EVENT_CATEGORIES）；[all] 为全部（默认）
    events: list[str] = Field(default_factory=lambda: list(EVENT_CATEGORIES))
    # 两条消息之间的最短间隔，秒（渠道自己的限速：Telegram 每个聊天约每秒 1 条，飞书自定义机器人每秒 5 条）
    min_interval: float = Field(1.0, ge=0, le=3600)
    # 收到第一条后再等这么久，把同一阵的事件合并成一条（50 笔成交的一阵只发一条汇总），秒
    coalesce_window: float = Field(0.5, ge=0, le=60)
    # 等待发送的通知上限，条；满了丢最旧的并计数、写日志（慢的或死掉的渠道不会占满内存）
    queue_size: int = Field(200, ge=1, le=100_000)
    # 一条消息失败后的最多重试次数（退避 1、2、4……秒，最长 60 秒）
    retries: int = Field(5, ge=0, le=100)
    # 单次请求的超时，秒（挂住的服务端不会让一条消息等很久）
    timeout: float = Field(10.0, gt=0, le=300)

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str]) -> list[str]:
        """事件类别须是已知的名字。"""
        return _checked_events(value)

    @field_validator("token_env", "secret_env", check_fields=False)
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        """子类里放秘密的环境变量名（token_env、secret_env）：字母、数字与下划线，不以数字开头。"""
        return _checked_env(value)


class TelegramConfig(ChannelConfig):
    """Telegram 机器人：发送提醒，并（commands: true 时）接受命令。令牌来自环境变量或 notify.key_file。"""

    # Bot API 的根地址（不含 /bot<令牌>）；自建的 Bot API 服务器或本地测试服务器也行
    api_url: str = "https://api.telegram.org"
    # 接收提醒、且只有它们发来的命令才被执行的聊天 id（群组为负数）
    chat_ids: list[int] = Field(min_length=1, max_length=100)
    # 可选：只执行这些用户 id 发来的命令（群聊里限制到具体的人）；空列表为聊天里的任何人
    user_ids: list[int] = Field(default_factory=list, max_length=1000)
    # 放令牌的环境变量名（也可以写在 notify.key_file 的 telegram_token 键里）
    token_env: str = "TRADETERM_TELEGRAM_TOKEN"
    # 是否接受命令（/status、/pause、/kill……）；false 时只发提醒
    commands: bool = True
    # 下单、撤单、平仓、一键停止这类命令的确认按钮的有效期，秒
    confirm_timeout: float = Field(60.0, gt=0, le=3600)
    # 长轮询 getUpdates 的等待时间，秒
    poll_timeout: float = Field(25.0, ge=0, le=50)
    # 早于引擎启动这么多秒发出的命令不执行（引擎停着时积压下的 /pause all 不会在重启时突然生效），秒
    command_max_age: float = Field(60.0, gt=0, le=86_400)

    @model_validator(mode="before")
    @classmethod
    def _no_token_here(cls, data: Any) -> Any:
        """令牌不许写在这里。"""
        return _no_inline_secret(data, "token_env", "TRADETERM_TELEGRAM_TOKEN", "telegram_token")

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        """Bot API 根地址：http(s)://主机[:端口]，不带路径。"""
        return _checked_url(value, "https://api.telegram.org", paths=False)



class LarkConfig(ChannelConfig):
    """飞书/Lark 自定义机器人 webhook：消息卡片（标题颜色按严重程度），带签名。"""

    # 自定义机器人的 webhook 地址
    webhook_url: str
    # 放签名密钥的环境变量名（也可以写在 notify.key_file 的 lark_secret 键里）；没有密钥时不签名（并警告）
    secret_env: str = "TRADETERM_LARK_SECRET"
    # 飞书自定义机器人每秒最多 5 条、每分钟 100 条
    min_interval: float = Field(0.5, ge=0, le=3600)

    @model_validator(mode="before")
    @classmethod
    def _no_secret_here(cls, data: Any) -> Any:
        """签名密钥不许写在这里。"""
        return _no_inline_secret(data, "secret_env", "TRADETERM_LARK_SECRET", "lark_secret")

    @field_validator("webhook_url")
    @classmethod
    def _url(cls, value: str) -> str:
        """webhook 地址的格式。"""
        return _checked_url(value, "https://open.feishu.cn/open-apis/bot/v2/hook/<id>")


class WebhookConfig(ChannelConfig):
    """通用 webhook：JSON POST；format 选载荷形状（generic、slack、discord），可选 HMAC-SHA256 签名头。"""

    # 接收地址
    url: str
    # 载荷形状：generic（tradeterm 自己的字段）、slack（{"text": ...}）、discord（{"content": ...}）
    format: Literal["generic", "slack", "discord"] = "generic"
    # 可选：放 HMAC 密钥的环境变量名；有密钥时加 X-Tradeterm-Timestamp 与 X-Tradeterm-Signature 头
    secret_env: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_secret_here(cls, data: Any) -> Any:
        """HMAC 密钥不许写在这里。"""
        env = data.get("secret_env") if isinstance(data, dict) else None
        return _no_inline_secret(data, "secret_env", env or "TRADETERM_WEBHOOK_SECRET",
                                 env or "TRADETERM_WEBHOOK_SECRET")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        """地址的格式。"""
        return _checked_url(value, "https://example.com/hooks/tradeterm")


class NotifyConfig(Block):
    """通知：各渠道、每日汇总的时间、放秘密的 0600 文件。"""

    # Telegram 机器人（提醒与命令）
    telegram: TelegramConfig | None = None
    # 飞书/Lark 自定义机器人
    lark: LarkConfig | None = None
    # 通用 webhook（可以有多个）
    webhooks: list[WebhookConfig] = Field(default_factory=list, max_length=20)
    # 每日汇总的时间，UTC 的 "HH:MM"；null 为不发
    daily_summary: str | None = None
    # 可选：0600 权限的 YAML 文件，键 telegram_token、lark_secret 与 webhook 的 secret_env 同名的键；
    # 环境变量优先；相对路径相对于配置文件所在目录
    key_file: Path | None = None

    @field_validator("daily_summary")
    @classmethod
    def _hhmm(cls, value: str | None) -> str | None:
        """每日汇总的时间：00:00..23:59。"""
        if value is not None and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", str(value)):
            raise value_problem(f"{show(value)} is not a time of day; use UTC HH:MM, e.g. \"08:00\"")
        return value

    @field_validator("key_file", mode="before")
    @classmethod
    def _key_file(cls, value: Any) -> Any:
        """路径文字本身的检查。"""
        return checked_path_text(value, "notify-keys.yml")

    def channel_count(self) -> int:
        """配置了的渠道个数。"""
        return int(self.telegram is not None) + int(self.lark is not None) + len(self.webhooks)


class SupervisorConfig(Block):
    """`tradeterm run --headless --supervise` 的守护进程：崩溃后重启的退避、心跳检查。"""

    # 首次重启前的等待，秒；之后每次翻倍
    restart_delay: float = Field(1.0, gt=0, le=3600)
    # 重启等待的上限，秒
    restart_delay_max: float = Field(60.0, gt=0, le=86_400)
    # 引擎连续运行这么久后，退避重新从 restart_delay 开始，秒
    stable_after: float = Field(600.0, gt=0, le=604_800)
    # 心跳（经控制套接字 ping 引擎）的间隔，秒
    heartbeat_interval: float = Field(5.0, gt=0, le=3600)
    # 这么久没有心跳应答就通知“引擎不再应答”，秒
    heartbeat_timeout: float = Field(30.0, gt=0, le=86_400)
    # 不应答持续这么久就杀掉并重启引擎，秒；null 为只通知、不重启
    hang_restart_after: float | None = Field(300.0, gt=0, le=604_800)
    # 崩溃通知里附带的最后几行日志，行
    log_lines: int = Field(20, ge=0, le=500)
