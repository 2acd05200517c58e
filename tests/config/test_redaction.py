"""密钥隐藏：读到的密钥从每条日志（任何处理器、之后才加的处理器、logger.exception 的 traceback、stack_info、
%-参数、extra 字段）、CLI 的错误消息与真实 `tradeterm run` 进程的 stderr 里消失。"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tradeterm.config.credentials import MASK, forget_secrets, load_credentials, redact, register_secrets

# 测试用的假密钥（足够长，能被识别；不是任何真实账户的）
KEY, SECRET = "AKIAREDACTKEY7654321", "redact-secret-value-0123456789"
# 仓库根目录（子进程的工作目录与 PYTHONPATH）
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def loaded_keys():
    """每个测试开始时像实盘启动那样从环境变量读到这组密钥；结束时清空隐藏名单，不影响别的测试。"""
    load_credentials("TTREDACT", environ={"TTREDACT_API_KEY": KEY, "TTREDACT_SECRET": SECRET})
    yield
    forget_secrets()


def fresh_logger(name: str, formatter: logging.Formatter | None = None) -> tuple[logging.Logger, io.StringIO]:
    """密钥登记之后才建的 logger 与处理器（写进 StringIO），返回 (logger, 输出流)。"""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter or logging.Formatter("%(levelname)s %(name)s %(message)s"))
    logger = logging.getLogger(f"tradeterm.test.redaction.{name}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, stream


def assert_clean(text: str) -> None:
    """输出里没有密钥明文，且确实有被替换的地方。"""
    assert KEY not in text and SECRET not in text, text
    assert MASK in text, text


def test_handler_added_after_the_keys_were_loaded_is_redacted():
    """处理器在密钥登记之后才添加（如界面模式的日志文件）：消息与 %-参数里的密钥都被替换。"""
    logger, stream = fresh_logger("late")
    logger.warning("request failed key=%s body=%s", KEY, {"signature": SECRET})
    assert_clean(stream.getvalue())
    assert stream.getvalue().count(MASK) == 2


def test_logger_exception_traceback_holding_the_key_is_redacted():
    """logger.exception：异常消息里带着密钥，traceback 文本里被替换；记录上不再留着可被重新渲染的异常对象。"""
    logger, stream = fresh_logger("exception")
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        """把记录原样留下，检查它的字段。"""

        def emit(self, record: logging.LogRecord) -> None:
            """保存记录。"""
            records.append(record)

    logger.addHandler(Keep())
    try:
        raise RuntimeError(f"binance rejected apiKey={KEY} secret={SECRET}")
    except RuntimeError:
        logger.exception("order stream failed")
    text = stream.getvalue()
    assert_clean(text)
    assert "Traceback (most recent call last)" in text and "RuntimeError: binance rejected apiKey=***" in text
    assert records[0].exc_info is None and KEY not in records[0].exc_text


def test_exc_info_passed_as_an_exception_object_is_redacted():
    """exc_info=异常对象（不在 except 块里）：同样替换。"""
    logger, stream = fresh_logger("exc_object")
    logger.error("instance failed error=%s", "boom", exc_info=ValueError(f"bad signature {SECRET}"))
    assert_clean(stream.getvalue())
    assert "ValueError: bad signature ***" in stream.getvalue()


def test_stack_info_and_extra_fields_are_redacted():
    """stack_info 里的源码行带着密钥、以及格式串用到的 extra 字段带着密钥：都被替换。"""
    logger, stream = fresh_logger("stack", logging.Formatter("%(message)s body=%(body)s"))
    logger.warning("with stack", stack_info=True, extra={"body": SECRET})  # AKIAREDACTKEY7654321
    text = stream.getvalue()
    assert "Stack (most recent call last)" in text
    assert_clean(text)


def test_url_encoded_secret_is_redacted():
    """密钥出现在查询串里时是 URL 编码的形式：它也被替换。"""
    register_secrets(["key+with/slash=and&more"])
    logger, stream = fresh_logger("encoded")
    logger.warning("GET /api/v3/order?apiKey=key%2Bwith%2Fslash%3Dand%26more&x=1")
    assert "key%2Bwith" not in stream.getvalue() and MASK in stream.getvalue()


def test_format_error_report_does_not_show_the_key(capsys):
    """格式串与参数不符（logging 在 stderr 上报告这个错误并列出参数）：报告里的参数也已替换。"""
    logger, _ = fresh_logger("mismatch")
    logger.warning("amount=%d", KEY)
    err = capsys.readouterr().err
    assert "--- Logging error ---" in err
    assert KEY not in err and MASK in err


def test_root_handlers_of_the_cli_are_redacted(capsys):
    """CLI 的根处理器（logging.basicConfig，stderr）：引擎模块的日志里没有密钥。"""
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    root.addHandler(handler)
    try:
        logging.getLogger("tradeterm.engine.trader").error("instance failed error=%s", f"AuthError {KEY}")
    finally:
        root.removeHandler(handler)
    assert_clean(capsys.readouterr().err)


def test_cli_error_message_holding_the_key_is_redacted(tmp_path, capsys):
    """CLI 打印的错误消息里带着密钥（例如交易所的原话）：打印前替换。"""
    from tradeterm.cli.main import main

    missing = tmp_path / f"{KEY}.csv"
    code = main(["backtest", "--strategy", "MACross", "--data", str(missing), "--journal", str(tmp_path / "j.db"),
                 "--no-plot"])
    err = capsys.readouterr().err
    assert code == 2 and "file not found" in err
    assert_clean(err)


def test_redact_without_loaded_keys_is_the_identity():
    """没有登记过密钥时 redact 原样返回，日志记录也不被改写（参数照常保留）。"""
    forget_secrets()
    assert redact(f"x {KEY} y") == f"x {KEY} y"
    record = logging.getLogger("tradeterm.test.redaction.none").makeRecord(
        "n", logging.INFO, __file__, 1, "value=%s", (KEY,), None)
    assert record.args == (KEY,)


def test_uncaught_exception_traceback_in_a_process_is_redacted(tmp_path):
    """程序缺陷（未捕获的异常）照常打印 traceback、退出码 1，但异常消息里的密钥已替换；线程里的也一样。"""
    script = ("import os, sys, threading\n"
              "from tradeterm.config.credentials import load_credentials\n"
              "load_credentials('TTBUG')\n"
              "def work():\n"
              "    raise ValueError('thread saw ' + os.environ['TTBUG_SECRET'])\n"
              "thread = threading.Thread(target=work)\n"
              "thread.start(); thread.join()\n"
              "raise RuntimeError('signed with ' + os.environ['TTBUG_API_KEY'])\n")
    env = {**os.environ, "TTBUG_API_KEY": KEY, "TTBUG_SECRET": SECRET, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, env=env,
                            timeout=120)
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "RuntimeError: signed with ***" in result.stderr and "ValueError: thread saw ***" in result.stderr
    assert KEY not in result.stderr and SECRET not in result.stderr


class EchoingExchange(BaseHTTPRequestHandler):
    """假的交易所：每个请求都答 Binance 的 -2015 错误，错误消息里回显请求头里的 API key 与查询串。"""

    def do_GET(self) -> None:  # noqa: N802 (http.server 的方法名)
        """回答 HTTP 401 与带着密钥的错误 JSON。"""
        body = json.dumps({"code": -2015, "msg": f"Invalid API-key {KEY} for {self.path}, IP, or permissions "
                                                 f"for action."}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        """不把访问日志打到测试输出。"""


def test_live_run_subprocess_stderr_has_no_key_when_the_exchange_echoes_it(tmp_path):
    """真实的 `tradeterm -v run --live` 进程（pty 上输入确认短语）：交易所的错误消息回显密钥，
    -v 的调试日志也记下请求与响应——stderr 里一处明文都没有，错误是一行说明，退出码 2，没有 traceback。"""
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoingExchange)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    (tmp_path / "config.yml").write_text(
        "mode: live\nexchange:\n  id: binance\n  sandbox: false\n  key_env_prefix: TTLIVE\njournal:\n  path: j.db\n"
        "strategies:\n  - {name: a, symbol: BTC/USDT, interval: 1m, class: MACross}\n", encoding="utf-8")
    # 真实的 CLI 入口；唯一的改动是把实盘客户端的地址指向上面的假交易所（测试不能连真实的 Binance）
    launcher = ("import sys, tradeterm.exchange.client as c\n"
                "plain = c.make_client\n"
                f"c.make_client = lambda base_url=None, **kw: plain(base_url or {url!r}, **kw)\n"
                "from tradeterm.cli.main import main\n"
                "sys.exit(main(['-v', 'run', '--config', 'config.yml', '--live', '--no-tui']))\n")
    primary, secondary = os.openpty()
    env = {**os.environ, "TTLIVE_API_KEY": KEY, "TTLIVE_SECRET": SECRET, "PYTHONPATH": str(REPO)}
    try:
        os.write(primary, b"trade live on binance\n")
        result = subprocess.run([sys.executable, "-c", launcher], cwd=tmp_path, stdin=secondary,
                                capture_output=True, text=True, env=env, timeout=180)
    finally:
        os.close(secondary)
        os.close(primary)
        server.shutdown()
        server.server_close()
    assert result.returncode == 2, result.stderr
    assert "Invalid API-key ***" in result.stderr
    # -v 的 ccxt 调试日志记下了带着回显密钥的响应体（出错之前一定先记这一行）：里面也已替换
    assert any("Response: 401" in line and "Invalid API-key ***" in line for line in result.stderr.splitlines())
    assert KEY not in result.stderr and SECRET not in result.stderr and KEY not in result.stdout
    assert "Traceback" not in result.stderr
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(error_lines) == 1 and "refused the API credentials" in error_lines[0]
    assert "TTLIVE_API_KEY" in error_lines[0]
