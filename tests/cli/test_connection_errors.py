"""连不上交易所：沙盒地址上没人在听、实盘/模拟盘的交易所 DNS 解析失败、交易所答 503——`run`、`replay-check`、
`fetch` 都是退出码 2 与一行错误（写明地址、原因与修正方法），不打印 traceback；`ctl`、`attach` 连不上引擎同样如此。

进程内的用例把重试的退避等待设为 0（只省掉 sleep，重试次数与错误路径不变）；沙盒地址那一条用真实子进程跑完整的重试。"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tradeterm.cli.main import main
from tradeterm.config.credentials import forget_secrets

# 仓库根目录（子进程的工作目录）
REPO = Path(__file__).resolve().parents[2]
# 保证解析不了的主机名（.invalid 顶级域按 RFC 2606 永不存在）
UNRESOLVABLE = "http://tradeterm-test.invalid"
# 一个策略实例的配置片段
STRATEGY = "strategies:\n  - {name: a, symbol: BTC/USDT, interval: 1m, class: MACross}\n"


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    """重试之间不等待（退避时间为 0），其余照常；测试结束时忘掉读到的假密钥。"""
    monkeypatch.setattr("tradeterm.exchange.retry.backoff_delay", lambda policy, attempt: 0.0)
    yield
    forget_secrets()


def refused_url() -> str:
    """一个本机上没有服务在听的地址（绑定后立即关闭的端口）。"""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def write_config(tmp_path: Path, exchange: str, mode: str = "paper") -> Path:
    """写一个配置文件（exchange 为 exchange: 块的内容），返回路径。"""
    path = tmp_path / "config.yml"
    path.write_text(f"mode: {mode}\nexchange:\n{exchange}journal:\n  path: j.db\n{STRATEGY}", encoding="utf-8")
    return path


def error_line(code: int, err: str) -> str:
    """退出码 2、没有 traceback，返回 stderr 里唯一的 'error: ' 行（重试的警告日志可以在它前面）。"""
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    return lines[0]


class Unavailable(BaseHTTPRequestHandler):
    """假的交易所：每个请求都答同一个 HTTP 状态码（默认 503，维护中）。"""

    # 回答的 HTTP 状态码
    status = 503

    def do_GET(self) -> None:  # noqa: N802 (http.server 的方法名)
        """回答 status 与一小段 HTML。"""
        body = b"<html>maintenance</html>"
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        """不把访问日志打到测试输出。"""


@pytest.fixture(params=[503, 404])
def unavailable_url(request):
    """一个对每个请求都答 503（维护）或 404（不是 Binance 的 API）的本机 HTTP 服务：(地址, 状态码)。"""
    handler = type("Answer", (Unavailable,), {"status": request.param})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", request.param
    server.shutdown()
    server.server_close()


def test_run_subprocess_with_nothing_listening_on_sandbox_url_is_one_clean_line(tmp_path):
    """`tradeterm run`，exchange.sandbox_url: http://127.0.0.1:1 没人在听：真实进程重试后以 2 退出，
    一行错误写明地址、原因（连接被拒）与两种修正方法。"""
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", 1)) == 0:
            pytest.skip("something listens on 127.0.0.1:1 on this machine")
    config = write_config(tmp_path, "  sandbox: true\n  sandbox_url: http://127.0.0.1:1\n")
    result = subprocess.run([sys.executable, "-m", "tradeterm.cli.main", "run", "--config", str(config), "--no-tui"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    line = error_line(result.returncode, result.stderr)
    assert line == ("error: exchange.sandbox_url http://127.0.0.1:1: cannot reach the exchange (connection refused: "
                    "nothing is listening there); start the sandbox there ('tradeterm sandbox --port 1'), or remove "
                    "exchange.sandbox_url to run a sandbox inside the engine")
    assert "engine running" not in result.stdout


def test_run_headless_with_refused_sandbox_url_in_process(tmp_path, capsys):
    """`run --headless` 与前台一样：连接被拒是一行错误，控制套接字没有留下。"""
    url = refused_url()
    config = write_config(tmp_path, f"  sandbox: true\n  sandbox_url: {url}\n")
    code = main(["run", "--config", str(config), "--headless"])
    line = error_line(code, capsys.readouterr().err)
    assert f"exchange.sandbox_url {url}: cannot reach the exchange (connection refused" in line
    assert not (tmp_path / "j.sock").exists()


@pytest.fixture
def unresolvable_exchange(monkeypatch):
    """让真实交易所的客户端连一个解析不了的主机（代替 api.binance.com；测试不连外网）。"""
    import tradeterm.exchange.client as client

    plain = client.make_client
    monkeypatch.setattr(client, "make_client",
                        lambda base_url=None, **kwargs: plain(base_url or UNRESOLVABLE, **kwargs))


def test_live_mode_with_the_exchange_unreachable_names_the_url_and_the_fix(tmp_path, capsys, monkeypatch,
                                                                           unresolvable_exchange):
    """实盘（确认已通过）而交易所的主机名解析不了：ExchangeNotAvailable 变成一行错误，写明地址、DNS 原因与修正方法。"""
    monkeypatch.setattr("tradeterm.cli.run.confirm_live", lambda *args: None)
    monkeypatch.setenv("TTNET_API_KEY", "AKIANETWORKTEST123")
    monkeypatch.setenv("TTNET_SECRET", "network-test-secret-456")
    config = write_config(tmp_path, "  sandbox: false\n  key_env_prefix: TTNET\n", mode="live")
    code = main(["run", "--config", str(config), "--live", "--no-tui"])
    line = error_line(code, capsys.readouterr().err)
    assert line.startswith(f"error: exchange binance ({UNRESOLVABLE}): cannot reach the exchange (DNS lookup failed")
    assert "check the network connection, DNS, proxy and firewall" in line
    assert "exchange.sandbox: true" in line


def test_paper_mode_on_a_real_exchange_that_is_unreachable(tmp_path, capsys, unresolvable_exchange):
    """模拟盘用真实交易所的公开行情，交易所连不上：同样一行错误。"""
    config = write_config(tmp_path, "  sandbox: false\n")
    code = main(["run", "--config", str(config), "--no-tui"])
    assert "cannot reach the exchange (DNS lookup failed" in error_line(code, capsys.readouterr().err)


def test_exchange_answering_503_or_404_names_the_status(tmp_path, capsys, unavailable_url):
    """地址上的服务答 503（维护）或 404（不是 Binance 的 API）：原因写明状态码与含义，不是 traceback。"""
    url, status = unavailable_url
    config = write_config(tmp_path, f"  sandbox: true\n  sandbox_url: {url}\n")
    code = main(["run", "--config", str(config), "--no-tui"])
    line = error_line(code, capsys.readouterr().err)
    reason = {503: "it answered HTTP 503: not available, maintenance or overload",
              404: "it answered HTTP 404, which is not an answer of a Binance-compatible API"}[status]
    assert f"exchange.sandbox_url {url}: cannot reach the exchange ({reason})" in line


def test_replay_check_with_the_exchange_unreachable_suggests_no_exchange(tmp_path, capsys):
    """replay-check 对照交易所成交历史时连不上沙盒：一行错误，并提示 --no-exchange 跳过这一步。"""
    import asyncio

    from tests.cli.test_replay_check import write_journal

    journal = tmp_path / "journal.db"
    asyncio.run(write_journal(journal, "manual"))
    url = refused_url()
    config = write_config(tmp_path, f"  sandbox: true\n  sandbox_url: {url}\n")
    code = main(["replay-check", "--journal", str(journal), "--config", str(config)])
    line = error_line(code, capsys.readouterr().err)
    assert f"exchange.sandbox_url {url}: cannot reach the exchange (connection refused" in line
    assert line.endswith("or pass --no-exchange to skip the exchange comparison")


def test_fetch_from_a_refused_sandbox_url_and_an_unresolvable_exchange(tmp_path, capsys, unresolvable_exchange):
    """fetch：--sandbox-url 上没人在听、交易所解析不了——一行错误写明旗标、地址与原因。"""
    url = refused_url()
    code = main(["fetch", "BTC/USDT", "1m", "--since", "2024-01-01", "--sandbox-url", url, "--cache-dir",
                 str(tmp_path)])
    line = error_line(code, capsys.readouterr().err)
    assert f"--sandbox-url {url}: could not reach the sandbox after retries (connection refused" in line
    code = main(["fetch", "BTC/USDT", "1m", "--since", "2024-01-01", "--cache-dir", str(tmp_path)])
    line = error_line(code, capsys.readouterr().err)
    assert f"--exchange binance: could not reach {UNRESOLVABLE} after retries (DNS lookup failed" in line


@pytest.mark.parametrize("argv", [["ctl", "status"], ["ctl", "pause", "a"], ["attach"]])
def test_ctl_and_attach_without_an_engine_are_one_line_errors(tmp_path, capsys, argv):
    """没有 headless 引擎在听：ctl 与 attach 都是一行错误，说明怎么启动引擎。"""
    config = write_config(tmp_path, "  sandbox: true\n")
    code = main([*argv, "--config", str(config)])
    line = error_line(code, capsys.readouterr().err)
    assert "no engine is listening" in line and "tradeterm run --headless" in line
