"""`tradeterm ctl trades` 与 `tradeterm ctl pnl`（真实子进程，经真实的控制套接字）：打印的回合与盈亏和引擎的
`trades` / `pnl` 命令一致；参数有误时一行错误、退出码 2。"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from tests.engine.conftest import engine_config, flip, frozen_sandbox  # noqa: F401（夹具）
from tests.engine.test_queries import run_bars_until
from tradeterm.engine.client import InProcessClient
from tradeterm.engine.control import ControlServer, control_paths, write_token_file
from tradeterm.engine.factory import open_engine

# 仓库根目录（子进程的工作目录）
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def short_dir():
    """/tmp 下的短目录（控制套接字建在日志库旁，路径不能超过 Unix 套接字约 107 字节的上限）。"""
    path = Path(tempfile.mkdtemp(prefix="tt", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def ctl(config_path: Path, *args: str) -> tuple[int, str]:
    """运行 `tradeterm ctl ... --config CFG` 子进程，返回 (退出码, stdout+stderr)。"""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tradeterm.cli.main", "ctl", *args, "--config", str(config_path),
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode(errors="replace")


async def test_ctl_trades_and_pnl_print_what_the_engine_computes(short_dir, frozen_sandbox):
    """ctl trades 的每一行与引擎的回合相同；ctl pnl --weekly 的周与引擎的一致；错的参数以 2 退出。"""
    config = engine_config(short_dir, frozen_sandbox.url, [flip(period=2)])
    handle = await open_engine(config)
    socket_path, token_path = control_paths(config.journal_path())
    server = ControlServer(InProcessClient(handle.engine), socket_path, write_token_file(token_path))
    await server.start()
    try:
        engine = handle.engine
        fills = lambda: sum(1 for _ in engine.orders.orders.values() if _.filled > 0)  # noqa: E731
        await run_bars_until(frozen_sandbox, engine, lambda: fills() >= 4)
        expected = await engine.command("trades")
        code, out = await ctl(short_dir / "config.yml", "trades")
        assert code == 0, out
        rows = [line for line in out.splitlines() if line.split(" ")[0][:2] == "20"]
        assert len(rows) == len(expected["trades"]) >= 1
        for row, trade in zip(rows, expected["trades"]):
            assert "flip_btc" in row and f"{trade['pnl']:+,.2f}" in row and f"{trade['exit_price']:,.2f}" in row
        assert f"{expected['summary']['trades']} closed trades" in out.splitlines()[-1]

        pnl = await engine.command("pnl", period="week", count=3)
        code, out = await ctl(short_dir / "config.yml", "pnl", "flip_btc", "--weekly", "3")
        assert code == 0, out
        weeks = [line for line in out.splitlines() if line[:2] == "20"]
        assert [w.split()[0] for w in weeks] == [r["start"] for r in pnl["periods"]]
        assert f"{pnl['summary']['pnl']:+,.2f}" in out
        by_instance = [line for line in out.splitlines() if line.startswith("flip_btc")]
        assert by_instance and f"{pnl['by_instance'][0]['pnl']:+,.2f}" in by_instance[0]

        code, out = await ctl(short_dir / "config.yml", "pnl", "--daily", "0")
        assert code == 2 and "--daily 0: must be 1 or more" in out and "Traceback" not in out
        code, out = await ctl(short_dir / "config.yml", "trades", "--weekly", "2")
        assert code == 2 and "--weekly is for 'ctl pnl'" in out
        code, out = await ctl(short_dir / "config.yml", "trades", "nope")
        assert code == 2 and "trades.instance: unknown instance 'nope'" in out
    finally:
        await server.stop()
        await handle.close()
