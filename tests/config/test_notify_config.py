"""config.yml 的 notify 与 supervisor 块：坏值各有一行说明（键、值、修正方法），写进配置的秘密被拒绝且不回显。"""

from __future__ import annotations

import pytest
import yaml

from tradeterm.config import load_config
from tradeterm.errors import ConfigError


def problems(tmp_path, data: dict) -> str:
    """写配置、加载，返回错误消息（必须出错）。"""
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value)


@pytest.mark.parametrize(("block", "expected"), [
    ({"telegram": {"chat_ids": [1], "token": "123:SECRET-VALUE"}},
     "notify.telegram: token: secrets never go into config.yml; remove it and set the environment variable "
     "TRADETERM_TELEGRAM_TOKEN"),
    ({"lark": {"webhook_url": "https://open.feishu.cn/x", "secret": "SECRET-VALUE"}},
     "notify.lark: secret: secrets never go into config.yml; remove it and set the environment variable "
     "TRADETERM_LARK_SECRET"),
    ({"webhooks": [{"url": "https://example.com/h", "secret_env": "MY_HOOK", "password": "SECRET-VALUE"}]},
     "notify.webhooks[0]: password: secrets never go into config.yml; remove it and set the environment variable MY_HOOK"),
    ({"telegram": {"chat_ids": [1], "events": ["fills"]}}, "notify.telegram.events: 'fills' is not an event"),
    ({"telegram": {"chat_ids": []}}, "notify.telegram.chat_ids"),
    ({"telegram": {"chat_ids": [1], "api_url": "https://api.telegram.org/bot123"}}, "notify.telegram.api_url"),
    ({"telegram": {"chat_ids": [1], "token_env": "1BAD"}}, "notify.telegram.token_env: '1BAD' is not an environment"),
    ({"lark": {"webhook_url": "ftp://x"}}, "notify.lark.webhook_url: 'ftp://x' is not an http(s) URL"),
    ({"webhooks": [{"url": "https://e.com/h", "format": "teams"}]}, "notify.webhooks[0].format"),
    ({"daily_summary": "8am"}, "notify.daily_summary: '8am' is not a time of day; use UTC HH:MM"),
    ({"telegram": {"chat_ids": [1], "min_interval": -1}}, "notify.telegram.min_interval"),
    ({"slack": {}}, "notify.slack: unknown key"),
])
def test_bad_notify_blocks(tmp_path, block, expected):
    """每个坏值一行说明；秘密的值从不出现在消息里。"""
    text = problems(tmp_path, {"notify": block})
    assert expected in text, text
    assert "SECRET-VALUE" not in text


def test_supervisor_bounds_and_defaults(tmp_path):
    """supervisor 的数字有界；不写时取默认值；[all] 展开成全部类别。"""
    assert "supervisor.restart_delay" in problems(tmp_path, {"supervisor": {"restart_delay": 0}})
    path = tmp_path / "ok.yml"
    path.write_text(yaml.safe_dump({"notify": {"webhooks": [{"url": "https://e.com/h", "events": ["all"]}],
                                               "key_file": "keys.yml"}}))
    config = load_config(path)
    assert config.supervisor.heartbeat_timeout == 30 and config.supervisor.hang_restart_after == 300
    assert "supervisor" in config.notify.webhooks[0].events and len(config.notify.webhooks[0].events) == 10
    assert config.notify_key_file() == (tmp_path / "keys.yml").resolve()
