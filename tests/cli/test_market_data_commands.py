"""命令行：`tradeterm sandbox` 作为独立进程运行，`tradeterm fetch` 从它取数据进缓存，`tradeterm data` 列出/导入/导出。"""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

from tradeterm.cli import fetch as fetch_cmd
from tradeterm.cli.main import main
from tests.conftest import BTC_USDT_1M

# 1 分钟，毫秒
MINUTE = 60_000


@pytest.fixture(scope="module")
def sandbox_process():
    """以子进程运行 `tradeterm sandbox --port 0`，返回（REST 地址, 启动时打印的文本）；结束时终止该进程。"""
    process = subprocess.Popen([sys.executable, "-m", "tradeterm.cli.main", "sandbox", "--port", "0", "--speed", "60",
                                "--history", "2000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [process.stdout.readline() for _ in range(4)]
        url = lines[0].split(" listening on ")[1].split()[0]
        yield url, "".join(lines)
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_sandbox_command_prints_url_and_demo_credentials(sandbox_process):
    """独立运行的沙盒打印监听地址与它接受的演示凭证。"""
    url, banner = sandbox_process
    assert url.startswith("http://127.0.0.1:")
    assert "api key = sandbox-demo-key" in banner and "secret = sandbox-demo-secret" in banner


def test_fetch_fills_the_cache_and_data_lists_it(sandbox_process, tmp_path, capsys):
    """fetch 取 1,000 根进缓存（进度条到 100%），再取一次不重复下载；data 列出交易对、根数与缺口。"""
    url, _ = sandbox_process
    since = str(int(time.time() * 1000) // MINUTE * MINUTE - 1_500 * MINUTE)
    until = str(int(since) + 1_000 * MINUTE)
    args = ["fetch", "BTCUSDT", "1m", "--since", since, "--until", until, "--sandbox-url", url,
            "--cache-dir", str(tmp_path)]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "BTC/USDT 1m: 1,000 bars" in out and "0 gap(s); 1,000 newly fetched" in out
    assert "100%" in err and "1,000 bars fetched" in err
    assert main(args) == 0
    out, err = capsys.readouterr()
    # 第二次全部来自缓存：没有进度条，摘要写明新取 0 根
    assert "1,000 bars" in out and "0 newly fetched" in out and "bars" not in err
    assert main(["data", "--cache-dir", str(tmp_path)]) == 0
    listing = capsys.readouterr().out
    row = next(line for line in listing.splitlines() if line.startswith("sandbox"))
    assert row.split()[:3] == ["sandbox", "BTC/USDT", "1m"] and "1,000" in row


def _free_port() -> int:
    """一个此刻没人监听的本机端口。"""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_exchange_sandbox_uses_the_sandbox_listening_on_the_default_url(sandbox_process, tmp_path, capsys,
                                                                        monkeypatch):
    """--exchange sandbox（不给 --sandbox-url）：默认地址上有沙盒在监听时就用它，不另起进程内沙盒。"""
    url, _ = sandbox_process
    monkeypatch.setattr(fetch_cmd, "DEFAULT_SANDBOX_URL", url)
    since = str(int(time.time() * 1000) // MINUTE * MINUTE - 600 * MINUTE)
    args = ["fetch", "BTC/USDT", "1m", "--since", since, "--until", str(int(since) + 100 * MINUTE),
            "--exchange", "sandbox", "--cache-dir", str(tmp_path)]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "BTC/USDT 1m: 100 bars" in out and "in-process" not in err
    assert str(tmp_path / "sandbox" / "BTC-USDT" / "1m.npz") in out


def test_exchange_sandbox_without_a_running_one_starts_an_in_process_sandbox(tmp_path, capsys, monkeypatch):
    """`fetch BTC/USDT 1m --since 2024-01-01 --exchange sandbox`，默认地址上没有沙盒：在本进程里起一个，
    取到它的全部历史（5,000 根）进缓存；再跑一次几乎什么都不取（至多跨分钟新收盘的一两根）；data 列出它。"""
    monkeypatch.setattr(fetch_cmd, "DEFAULT_SANDBOX_URL", f"http://127.0.0.1:{_free_port()}")
    args = ["fetch", "BTC/USDT", "1m", "--since", "2024-01-01", "--exchange", "sandbox", "--cache-dir", str(tmp_path)]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "using an in-process sandbox" in err and "100%" in err
    bars = int(out.split("BTC/USDT 1m: ")[1].split(" bars")[0].replace(",", ""))
    assert bars >= 5_000
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "100%" not in err or " 1 bars fetched" in err or " 2 bars fetched" in err
    assert main(["data", "--cache-dir", str(tmp_path)]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("sandbox"))
    assert row.split()[:3] == ["sandbox", "BTC/USDT", "1m"]


def test_data_import_and_export_csv(tmp_path, capsys):
    """data import 把真实 CSV 并入缓存，data export 写出同样的行数。"""
    cache = str(tmp_path / "cache")
    assert main(["data", "--cache-dir", cache, "import", str(BTC_USDT_1M), "BTC/USDT", "1m"]) == 0
    assert "30,240 bars" in capsys.readouterr().out
    out_file = tmp_path / "out.csv"
    assert main(["data", "--cache-dir", cache, "export", "BTC/USDT", "1m", str(out_file)]) == 0
    assert "wrote 30,240 bars" in capsys.readouterr().out
    assert len(out_file.read_text().splitlines()) == 30_241



def test_exporting_a_series_that_is_not_cached_is_an_error(tmp_path, capsys):
    """data export 一个没缓存的序列：退出码 2，一行说明缓存里没有它、怎样取，不写出空文件（旧版本写 0 行、退出码 0）。"""
    cache = str(tmp_path / "cache")
    out_file = tmp_path / "out.csv"
    assert main(["data", "--cache-dir", cache, "export", "ETH/USDT", "5m", str(out_file)]) == 2
    err = capsys.readouterr().err
    assert "no cached candles for binance ETH/USDT 5m" in err and "tradeterm fetch ETH/USDT 5m" in err
    assert "Traceback" not in err and not out_file.exists()


def test_bad_arguments_are_user_errors_naming_the_flag(tmp_path, capsys):
    """写错日期或周期：退出码 2，消息写明参数与正确写法，不打印 traceback。"""
    assert main(["fetch", "BTC/USDT", "1m", "--since", "yesterday-ish", "--cache-dir", str(tmp_path)]) == 2
    assert "--since 'yesterday-ish': not a date" in capsys.readouterr().err
    assert main(["fetch", "BTC/USDT", "7m", "--since", "2023-03-01", "--cache-dir", str(tmp_path)]) == 2
    assert "timeframe '7m' is not supported" in capsys.readouterr().err
    assert main(["sandbox", "--speed", "-1"]) == 2
    assert "--speed -1.0: must be > 0" in capsys.readouterr().err
