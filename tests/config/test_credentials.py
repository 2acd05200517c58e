"""密钥：只从环境变量或 0600 文件读取；不显示、不进日志；实盘需要 --live、终端与确认短语。"""

from __future__ import annotations

import io
import logging

import pytest

from tradeterm.cli.live_guard import confirm_live
from tradeterm.config.credentials import MASK, SecretRedactor, load_credentials
from tradeterm.errors import ConfigError, UserError

# 测试用的假密钥（足够长，能被过滤器识别）
KEY, SECRET = "AKIAFAKEKEY123456", "s3cr3t-value-987654"


def test_environment_variables_are_used_first():
    """两个环境变量都在时直接使用，来源写明变量名但不含值。"""
    creds = load_credentials("TT", environ={"TT_API_KEY": KEY, "TT_SECRET": SECRET})
    assert (creds.api_key, creds.secret) == (KEY, SECRET)
    assert KEY not in repr(creds) and SECRET not in str(creds) and "TT_API_KEY" in creds.source


def test_half_set_environment_is_an_error():
    """只设了一个变量：说清楚缺哪个。"""
    with pytest.raises(ConfigError, match="TT_SECRET is not set"):
        load_credentials("TT", environ={"TT_API_KEY": KEY})


def test_key_file_must_be_0600(tmp_path):
    """0644 的密钥文件被拒绝并给出 chmod 命令；改成 0600 后可读。"""
    path = tmp_path / "keys.yml"
    path.write_text(f"api_key: {KEY}\nsecret: {SECRET}\n")
    path.chmod(0o644)
    with pytest.raises(ConfigError, match=f"permissions are 644.*chmod 600 {path}"):
        load_credentials("TT", path, environ={})
    path.chmod(0o600)
    assert load_credentials("TT", path, environ={}).secret == SECRET


def test_bad_key_file_never_echoes_its_content(tmp_path):
    """格式错误的密钥文件：错误消息里没有文件内容。"""
    path = tmp_path / "keys.yml"
    path.write_text(f"api_key: [{SECRET}\n")
    path.chmod(0o600)
    with pytest.raises(ConfigError) as caught:
        load_credentials("TT", path, environ={})
    assert SECRET not in str(caught.value)


def test_no_keys_explains_both_ways():
    """什么都没有：提示两种设置方式，并强调不要写进 config.yml。"""
    with pytest.raises(ConfigError, match="TT_API_KEY and TT_SECRET.*never go into config.yml"):
        load_credentials("TT", environ={})


def test_redactor_removes_secrets_from_log_records():
    """日志消息与 %-参数里的密钥都被替换成 ***。"""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(SecretRedactor([KEY, SECRET, "abc"]))
    logger = logging.getLogger("tradeterm.test.redact")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("request failed key=%s body=%s", KEY, {"signature": SECRET})
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert KEY not in text and SECRET not in text and text.count(MASK) == 2


class FakeTerminal(io.StringIO):
    """带 isatty() 的输入流，模拟用户在终端里输入。"""

    def isatty(self) -> bool:
        """声称自己是终端。"""
        return True


def test_live_needs_flag_terminal_and_exact_phrase():
    """缺 --live、非终端、短语不符都拒绝；原样输入短语才通过。"""
    out = io.StringIO()
    with pytest.raises(UserError, match="--live was not given"):
        confirm_live("binance", False, FakeTerminal("trade live on binance\n"), out)
    with pytest.raises(UserError, match="not a terminal"):
        confirm_live("binance", True, io.StringIO("trade live on binance\n"), out)
    with pytest.raises(UserError, match="did not match"):
        confirm_live("binance", True, FakeTerminal("yes\n"), out)
    confirm_live("binance", True, FakeTerminal("trade live on binance\n"), out)
    assert "LIVE TRADING with real money on binance" in out.getvalue()
