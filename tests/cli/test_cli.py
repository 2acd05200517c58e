"""命令行：--help 列出命令；默认命令（离线）能跑完；strategies 列出内置策略。均以子进程运行真实入口。"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

# 仓库根目录（默认命令读取这里的 config.yml）
REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """以子进程运行 tradeterm（与 console script 同一个入口函数）。"""
    return subprocess.run([sys.executable, "-m", "tradeterm.cli.main", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=180)


def test_help_lists_commands():
    """--help 列出已有的子命令。"""
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("run", "check", "config", "strategies"):
        assert f"    {command}" in result.stdout


def test_default_command_trades_offline_within_ten_seconds(tmp_path):
    """不带子命令即 run：读仓库的 config.yml，不需要网络与密钥，进程内沙盒上的策略在前 10 秒内下单并成交。"""
    shutil.copy(REPO / "config.yml", tmp_path / "config.yml")
    result = run_cli("--duration", "10", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "mode=paper exchange=sandbox (in-process) instances=4" in result.stdout
    assert "  fill " in result.stdout, result.stdout
    assert "engine stopped" in result.stdout
    assert (tmp_path / "tradeterm.db").exists()


def test_default_config_runs_headless_and_fills_orders_within_ten_seconds(tmp_path):
    """仓库的 config.yml 以 headless 模拟盘运行（进程内沙盒，无网络）：10 秒内日志库里有成交，退出后运行已结束。"""
    import sqlite3

    shutil.copy(REPO / "config.yml", tmp_path / "config.yml")
    result = run_cli("run", "--headless", "--duration", "10", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "control socket:" in result.stdout
    conn = sqlite3.connect(tmp_path / "tradeterm.db")
    try:
        assert conn.execute("SELECT COUNT(*) FROM fills").fetchone()[0] > 0
        assert conn.execute("SELECT finished_ts FROM runs").fetchone()[0] is not None
    finally:
        conn.close()
    assert not (tmp_path / "tradeterm.sock").exists()


def test_mode_live_without_the_flag_is_refused(tmp_path):
    """mode: live 却没有 --live：拒绝启动，说明要什么，不打印 traceback。"""
    text = (REPO / "config.yml").read_text().replace("mode: paper", "mode: live")
    (tmp_path / "config.yml").write_text(text)
    result = run_cli("run", cwd=tmp_path)
    assert result.returncode == 2
    assert "--live was not given" in result.stderr and "Traceback" not in result.stderr


def test_strategies_lists_builtins():
    """strategies 列出四个内置策略及参数默认值。"""
    result = run_cli("strategies")
    assert result.returncode == 0
    assert "MACross" in result.stdout and "fast=10, slow=30" in result.stdout
    assert "MomentumStrategy" in result.stdout


def test_bad_param_on_command_line_is_a_clean_error():
    """--param 写了未知参数：退出码 2，没有 traceback。"""
    result = run_cli("check", "MACross", "--param", "fsat=3")
    assert result.returncode == 2
    assert "unknown parameter 'fsat' for MACross (did you mean 'fast'?)" in result.stderr
    assert "Traceback" not in result.stderr
