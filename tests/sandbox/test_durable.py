"""持久的沙盒（tradeterm/sandbox/state.py）：像真实交易所一样跨重启（含 SIGKILL）保留账户、订单、成交、计数器、
模拟时钟与行情；--reset 清掉重来；状态文件 0600；进程内沙盒的状态文件路径来自配置。

正常重启与合约用进程内的沙盒（经原版 ccxt 走真实 HTTP）；崩溃用子进程 `tradeterm sandbox --state`，在收到下单响应
之后立刻 SIGKILL。模拟时钟用 speed=1，由测试拨快（run_until），结果不依赖机器快慢。
"""

from __future__ import annotations

import os
import signal
import stat
from pathlib import Path

import pytest
import yaml

from tests.conftest import BTC_USDT_1M
from tests.engine.test_kill_restart import start_process, wait_for_line
from tests.sandbox.helpers import future_cross, run_until
from tradeterm.cli.main import main
from tradeterm.config import load_config
from tradeterm.engine.factory import sandbox_state_path
from tradeterm.errors import UserError
from tradeterm.exchange.client import make_client
from tradeterm.sandbox import SandboxExchange
from tradeterm.sandbox.defaults import DEFAULT_API_KEY, DEFAULT_SECRET
from tradeterm.sandbox.matching import OrderRequest
from tradeterm.sandbox.state import reset_state_file

# 永续合约交易对
PERP = "BTC/USDT:USDT"
# 进程内沙盒的历史根数（越少生成越快）
HISTORY = 500
# 一分钟，毫秒
MINUTE = 60_000


def durable(path: Path, **kwargs) -> SandboxExchange:
    """状态文件为 path 的进程内沙盒：倍速 1（时间只由测试拨快），快节拍，较短历史（kwargs 可覆盖）。"""
    return SandboxExchange(**{"port": 0, "speed": 1, "tick_s": 0.05, "history_bars": HISTORY, "state_path": path,
                              **kwargs})


async def spot_view(client) -> dict:
    """现货一侧对外可见的全部状态：余额、挂单、全部订单、成交。"""
    balance = await client.fetch_balance()
    return {"balance": {k: balance[k] for k in ("free", "used", "total")},
            "open": await client.fetch_open_orders("BTC/USDT"), "orders": await client.fetch_orders("BTC/USDT"),
            "trades": await client.fetch_my_trades("BTC/USDT")}


async def test_spot_account_orders_trades_ids_clock_and_klines_survive_a_restart(tmp_path):
    """下单、部分成交、留一张挂单，停掉沙盒再在同一个状态文件上新建：余额、挂单、订单与成交历史、过去的 K 线都相同；
    时钟接着保存的模拟时间走；留下的挂单在重启后成交；新的订单号与成交号接在旧的后面。"""
    path = tmp_path / "sandbox.db"
    async with durable(path) as first:
        client = first.client(timeout_ms=5_000)
        await client.load_markets()
        await client.create_order("BTC/USDT", "market", "buy", 0.01)
        limit, cross_ts = future_cross(first, "BTC/USDT", -1)
        await client.create_order("BTC/USDT", "limit", "buy", 0.01, limit)
        await run_until(first, cross_ts)
        far = round(first.market("BTC/USDT").price(first.clock.now()) * 1.5, 2)
        await client.create_order("BTC/USDT", "limit", "sell", 0.005, far)
        resting, resting_ts = future_cross(first, "BTC/USDT", -1)
        kept = await client.create_order("BTC/USDT", "limit", "buy", 0.01, resting)
        before = await spot_view(client)
        since = first.clock.now() - 120 * MINUTE
        klines = await client.fetch_ohlcv("BTC/USDT", "1m", since=since, limit=100)
        await client.close()
        # stop() 保存的时钟不早于此刻
        stopped_at = first.clock.now()
    assert len(before["trades"]) == 2 and len(before["open"]) == 2

    async with durable(path) as second:
        assert second.restored
        # 从保存的模拟时间接着走（拨快过几个小时，而不是回到墙上时间的此刻）；倍速 1，重启只花墙上几秒
        assert stopped_at <= second.clock.now() < stopped_at + MINUTE
        assert second.clock.now() >= max(t["timestamp"] for t in before["trades"])
        client = second.client(timeout_ms=5_000)
        await client.load_markets()
        assert await spot_view(client) == before
        assert await client.fetch_ohlcv("BTC/USDT", "1m", since=since, limit=100) == klines
        await run_until(second, resting_ts)
        filled = await client.fetch_order(kept["id"], "BTC/USDT")
        assert filled["status"] == "closed" and filled["average"] == pytest.approx(resting)
        new = await client.create_order("BTC/USDT", "market", "sell", 0.001)
        trades = await client.fetch_my_trades("BTC/USDT")
        await client.close()
    old_order_ids = [int(o["id"]) for o in before["orders"]]
    old_trade_ids = [int(t["id"]) for t in before["trades"]]
    assert int(new["id"]) > max(old_order_ids)
    assert [int(t["id"]) for t in trades[:2]] == old_trade_ids
    assert min(int(t["id"]) for t in trades[2:]) > max(old_trade_ids)


async def test_futures_position_wallet_leverage_and_open_order_survive_a_restart(tmp_path):
    """合约：杠杆、持仓（数量、均价）、钱包余额与合约挂单在重启后相同；之后平仓照常计入钱包。"""
    path = tmp_path / "sandbox.db"
    async with durable(path) as first:
        client = first.client(market_types=("spot", "linear"), timeout_ms=5_000)
        await client.load_markets()
        await client.set_leverage(5, PERP)
        opened = await client.create_order(PERP, "market", "buy", 0.01)
        price = round(first.market("BTC/USDT").price(first.clock.now()) * 0.7, 2)
        await client.create_order(PERP, "limit", "buy", 0.01, price)
        [position] = await client.fetch_positions([PERP])
        wallet = (await client.fetch_balance({"type": "swap"}))["info"]["totalWalletBalance"]
        open_orders = await client.fetch_open_orders(PERP)
        await client.close()

    async with durable(path) as second:
        client = second.client(market_types=("spot", "linear"), timeout_ms=5_000)
        await client.load_markets()
        [restored] = await client.fetch_positions([PERP])
        for key in ("side", "contracts", "entryPrice", "leverage"):
            assert restored[key] == position[key], key
        assert restored["entryPrice"] == pytest.approx(opened["average"]) and restored["leverage"] == 5
        assert (await client.fetch_balance({"type": "swap"}))["info"]["totalWalletBalance"] == wallet
        assert await client.fetch_open_orders(PERP) == open_orders
        await client.create_order(PERP, "market", "sell", 0.01, None, {"reduceOnly": True})
        assert await client.fetch_positions([PERP]) == []
        assert float((await client.fetch_balance({"type": "swap"}))["info"]["totalWalletBalance"]) != float(wallet)
        await client.close()


async def test_every_order_and_trade_seen_before_a_sigkill_is_there_after_restart_and_reset_starts_fresh(tmp_path):
    """子进程沙盒（600 倍速，挂单在节拍里成交）：下单、查成交，收到最后一个下单响应后立刻 SIGKILL；在同一个文件上
    重启后，客户端见过的每张订单与每笔成交都在，编号接着往上；再以 --reset 启动：旧状态被清掉，账户重新开始。"""
    state = tmp_path / "crash.db"
    args = ["sandbox", "--state", str(state), "--port", "0", "--speed", "600", "--symbols", "BTC/USDT",
            "--history", str(HISTORY)]
    log = tmp_path / "first.log"
    process = start_process(args, log, tmp_path)
    url = wait_for_line(log, r"listening on (http://\S+)", process).group(1)
    seen_orders: dict[str, dict] = {}
    seen_trades: dict[str, dict] = {}
    client = make_client(url, api_key=DEFAULT_API_KEY, secret=DEFAULT_SECRET, timeout_ms=5_000)
    try:
        await client.load_markets()
        for i in range(6):
            market = await client.create_order("BTC/USDT", "market", "buy", 0.001)
            last = (await client.fetch_ticker("BTC/USDT"))["last"]
            # 紧贴当前价的限价买单：几个节拍（600 倍速）之内就会成交，成交发生在节拍里而不是下单时
            near = await client.create_order("BTC/USDT", "limit", "buy", 0.001, round(last * 0.9995, 2))
            seen_orders.update({o["id"]: o for o in (market, near)})
            seen_trades.update({t["id"]: t for t in await client.fetch_my_trades("BTC/USDT")})
            seen_orders.update({o["id"]: o for o in await client.fetch_orders("BTC/USDT")})
        final = await client.create_order("BTC/USDT", "market", "buy", 0.001)
        process.send_signal(signal.SIGKILL)
        seen_orders[final["id"]] = final
    finally:
        await client.close()
        process.wait(10)
    assert any(o["status"] == "closed" and o["type"] == "limit" for o in seen_orders.values())

    log = tmp_path / "second.log"
    process = start_process(args, log, tmp_path)
    url = wait_for_line(log, r"listening on (http://\S+)", process).group(1)
    assert "(resumed;" in wait_for_line(log, r"state: .*", process).group(0)
    client = make_client(url, api_key=DEFAULT_API_KEY, secret=DEFAULT_SECRET, timeout_ms=5_000)
    try:
        await client.load_markets()
        orders = {o["id"]: o for o in await client.fetch_orders("BTC/USDT", limit=1000)}
        trades = {t["id"]: t for t in await client.fetch_my_trades("BTC/USDT", limit=1000)}
        server_time = await client.fetch_time()
        new = await client.create_order("BTC/USDT", "market", "buy", 0.001)
    finally:
        await client.close()
        process.terminate()
        process.wait(10)
    for order_id, seen in seen_orders.items():
        assert order_id in orders, f"order {order_id} seen before the kill is gone"
        assert orders[order_id]["filled"] >= seen["filled"]
        if seen["status"] != "open":
            assert (orders[order_id]["status"], orders[order_id]["filled"]) == (seen["status"], seen["filled"])
    for trade_id, seen in seen_trades.items():
        assert trade_id in trades, f"trade {trade_id} seen before the kill is gone"
        assert (trades[trade_id]["order"], trades[trade_id]["price"], trades[trade_id]["amount"]) == \
            (seen["order"], seen["price"], seen["amount"])
    assert int(new["id"]) > max(int(i) for i in seen_orders)
    assert server_time >= max(t["timestamp"] for t in trades.values())

    log = tmp_path / "reset.log"
    process = start_process([*args, "--reset"], log, tmp_path)
    url = wait_for_line(log, r"listening on (http://\S+)", process).group(1)
    reset_line = wait_for_line(log, r"reset sandbox state .*", process).group(0)
    assert str(state.resolve()) in reset_line and f"{len(orders) + 1} order(s)" in reset_line
    client = make_client(url, api_key=DEFAULT_API_KEY, secret=DEFAULT_SECRET, timeout_ms=5_000)
    try:
        await client.load_markets()
        assert (await client.fetch_balance())["total"] == {"USDT": 10_000.0}
        assert await client.fetch_orders("BTC/USDT") == []
        assert (await client.create_order("BTC/USDT", "market", "buy", 0.001))["id"] == "1"
    finally:
        await client.close()
        process.terminate()
        process.wait(10)


def test_state_file_and_its_wal_are_private(tmp_path):
    """新建的状态文件与 SQLite 的 -wal 都是 0600（与 umask 无关）；已有的宽权限文件打开时被改成 0600。"""
    old_umask = os.umask(0)
    try:
        path = tmp_path / "new.db"
        sandbox = durable(path)
        sandbox.close_state()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        existing = tmp_path / "existing.db"
        existing.touch(0o644)
        sandbox = durable(existing)
        assert stat.S_IMODE(existing.stat().st_mode) == 0o600
        assert stat.S_IMODE(Path(f"{existing}-wal").stat().st_mode) == 0o600
        sandbox.close_state()
    finally:
        os.umask(old_umask)


def test_saving_writes_only_what_changed(tmp_path):
    """写入是增量的：几十张已结束的订单之后，没有变化的一次保存只改动时钟那一两行。"""
    sandbox = durable(tmp_path / "sandbox.db")
    try:
        account = sandbox.account()
        for _ in range(30):
            request = OrderRequest("BTCUSDT", "BUY", "MARKET", 0.001, 0.0, 0.0, 0.0, "GTC", "c")
            sandbox.engine.place(account, request, sandbox.clock.now())
        sandbox.save()
        changes = sandbox.store._conn.total_changes
        sandbox.save()
        assert sandbox.store._conn.total_changes - changes <= 2
    finally:
        sandbox.close_state()


def test_adding_a_symbol_keeps_the_existing_series_and_a_second_user_is_refused(tmp_path):
    """重启时多了一个交易对：已有交易对的 K 线序列不变（种子跟着交易对走）；同一文件不能同时被两个沙盒打开。"""
    path = tmp_path / "sandbox.db"
    first = durable(path, symbols=("ETH/USDT",))
    closes = first.market("ETH/USDT").series.close[:2_000].copy()
    with pytest.raises(UserError, match="in use by another running sandbox"):
        durable(path)
    first.close_state()
    second = durable(path, symbols=("BTC/USDT", "ETH/USDT"), seed=99, history_bars=HISTORY * 2)
    try:
        assert (second.market("ETH/USDT").series.close[:2_000] == closes).all()
        assert second.symbols == ["ETH/USDT", "BTC/USDT"]
    finally:
        second.close_state()


def test_a_synthetic_state_refuses_replay_data_and_names_the_fix(tmp_path):
    """合成行情的状态文件用 --data 启动：英文错误写明文件、原因与重置命令，不改动文件。"""
    path = tmp_path / "sandbox.db"
    durable(path).close_state()
    with pytest.raises(UserError) as error:
        durable(path, data=[str(BTC_USDT_1M)])
    message = str(error.value)
    assert str(path) in message and "synthetic market" in message and "--reset --state" in message


def test_a_replay_state_resumes_on_the_same_files_whatever_history_is_given(tmp_path):
    """回放 CSV 的状态文件：同样的文件重启时恢复（起点与历史根数取保存的值，--history 不同也一样），行情序列相同。"""
    path = tmp_path / "sandbox.db"
    first = durable(path, data=[str(BTC_USDT_1M)])
    series = first.market("BTC/USDT").series
    first.close_state()
    second = durable(path, data=[str(BTC_USDT_1M)], history_bars=HISTORY * 3)
    try:
        assert second.restored
        again = second.market("BTC/USDT").series
        assert again.start_ts == series.start_ts and (again.close == series.close).all()
    finally:
        second.close_state()


def write_config(tmp_path: Path, **exchange) -> Path:
    """在 tmp_path 写一份只有日志库与 exchange 设置的 config.yml，返回路径。"""
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump({"exchange": exchange, "journal": {"path": "data/journal.db"}}))
    return path


def test_in_process_state_path_defaults_next_to_the_journal_and_follows_the_config_dir(tmp_path):
    """exchange.sandbox_state 缺省为日志库旁的 .sandbox.db；相对路径按配置文件目录解析；与日志库相同或不是文件时报错并写明键。"""
    assert sandbox_state_path(load_config(write_config(tmp_path))) == tmp_path / "data" / "journal.sandbox.db"
    custom = load_config(write_config(tmp_path, sandbox_state="state/sb.db"))
    assert sandbox_state_path(custom) == tmp_path / "state" / "sb.db"
    clash = load_config(write_config(tmp_path, sandbox_state="data/journal.db"))
    with pytest.raises(UserError, match="exchange.sandbox_state 'data/journal.db'"):
        sandbox_state_path(clash)
    with pytest.raises(UserError, match="exchange.sandbox_state: 'state/' is not a file path"):
        load_config(write_config(tmp_path, sandbox_state="state/"))


def test_reset_with_config_deletes_the_in_process_state_and_exits(tmp_path, capsys):
    """`tradeterm sandbox --reset --config`：删掉该配置的进程内沙盒状态文件、提示日志库仍有旧持仓，不启动服务；
    文件正被使用时拒绝；--reset 不带 --state/--config 时报错并写明参数。"""
    config_path = write_config(tmp_path)
    state = sandbox_state_path(load_config(config_path))
    sandbox = durable(state)
    with pytest.raises(UserError, match="in use"):
        reset_state_file(state)
    sandbox.close_state()
    assert main(["sandbox", "--reset", "--config", str(config_path)]) == 0
    out = capsys.readouterr().out
    assert f"reset sandbox state {state}: deleted 2 account(s), 0 order(s)" in out
    assert "journal" in out and "journal.path" in out
    assert not state.exists() and not Path(f"{state}-wal").exists()
    assert main(["sandbox", "--reset"]) == 2
    assert "--reset: nothing to reset; add --state FILE" in capsys.readouterr().err
