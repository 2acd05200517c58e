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


def test_default_command_runs_offline_with_repo_config(tmp_path):
    """不带子命令即 run：读 config.yml，不需要网络与密钥，为每个实例打印一行。"""
    shutil.copy(REPO / "config.yml", tmp_path / "config.yml")
    result = run_cli(cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "built-in sandbox exchange (offline)" in result.stdout
    for name in ("btc_ma_cross", "btc_mean_reversion", "eth_macd", "eth_momentum"):
        assert f"  {name}" in result.stdout


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
