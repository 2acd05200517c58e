"""报价窗格：模型里的买卖价、价差、24 小时统计与报价年龄（tradeterm/tui/model.py 的 Quote），报价表按窗格宽度挑列
（tradeterm/tui/widgets/tables.py 的 QuotesTable），以及对着真引擎与进程内沙盒时表里的买卖价就是引擎报价订阅给的。

还没有报价订阅的报价（只有 K 线）时买卖价显示 -，不拿最新价冒充。等待都是等条件。
"""

from __future__ import annotations

import pytest
from textual.widgets import DataTable

from tests.engine.conftest import flip
from tests.tui.frozen import T0, FrozenClient
from tests.tui.helpers import nudge_until, settled, until
from tradeterm.engine.client import InProcessClient
from tradeterm.engine.events import Event, EventKind
from tradeterm.tui import format as fmt
from tradeterm.tui.app import TradetermApp
from tradeterm.tui.model import ConsoleModel

# 各终端大小（列, 行）上报价表显示的列（窗格宽度：80 列时整屏宽，100~139 列时只占左栏，约三分之二）
COLUMNS_BY_SIZE = {
    (80, 24): ["symbol", "last", "bid", "ask", "spread", "change", "trend"],
    (100, 30): ["symbol", "last", "spread", "change", "volume", "trend"],
    (140, 45): ["symbol", "last", "bid", "ask", "spread", "change", "volume", "trend"],
    (200, 50): ["symbol", "last", "bid", "ask", "spread", "change", "volume", "age", "trend"],
}


def quote_event(event_ts: int, **data) -> Event:
    """一个 QUOTE 事件（事件时间 event_ts，负载 data；负载里的 ts 是报价的交易所时间）。"""
    return Event(EventKind.QUOTE, event_ts, data)


def test_bar_quotes_leave_bid_and_ask_unknown_until_a_ticker_arrives():
    """只有 K 线订阅的 QUOTE：买卖价、价差、24 小时成交量都是 None，涨跌幅是自启动以来的；报价订阅的 QUOTE 到了之后
    买卖价与 24 小时统计齐全，涨跌幅改用交易所的 24 小时涨跌幅。"""
    model = ConsoleModel()
    model.apply_event(quote_event(1, symbol="ETH/USDT", last=100.0, ts_bar=T0))
    model.apply_event(quote_event(2, symbol="ETH/USDT", last=101.0, ts_bar=T0))
    quote = model.quotes["ETH/USDT"]
    assert (quote.bid, quote.ask, quote.spread_bps, quote.volume_24h, quote.age_ms) == (None, None, None, None, None)
    assert quote.change == pytest.approx(0.01)
    model.apply_event(quote_event(3, symbol="ETH/USDT", last=101.0, bid=101.0, ask=101.02, bid_volume=1.0,
                                  ask_volume=2.0, volume_24h=5_000.0, quote_volume_24h=505_000.0, change_24h=-0.02,
                                  ts=T0 + 30_000, source="stream"))
    assert (quote.bid, quote.ask, quote.volume_24h, quote.change) == (101.0, 101.02, 5_000.0, -0.02)
    # 价差 0.02 / 中间价 101.01 = 1.98 bp
    assert quote.spread_bps == pytest.approx(0.02 / 101.01 * 10_000)
    assert quote.age_ms is None and model.changed_quotes == {"ETH/USDT"}


def test_a_quote_older_than_its_bar_reports_its_age():
    """报价订阅的报价停在 T0+30s，K 线已走到 T0+120s 开盘的那根：报价至少旧了 90 秒；新的报价到了即不再旧。"""
    model = ConsoleModel()
    model.apply_event(quote_event(1, symbol="BTC/USDT", last=10.0, bid=10.0, ask=10.01, ts=T0 + 30_000))
    model.apply_event(quote_event(2, symbol="BTC/USDT", last=10.5, ts_bar=T0 + 120_000))
    quote = model.quotes["BTC/USDT"]
    assert quote.age_ms == 90_000 and fmt.duration(quote.age_ms) == "1m"
    model.apply_event(quote_event(3, symbol="BTC/USDT", last=10.5, bid=10.5, ask=10.51, ts=T0 + 125_000))
    assert quote.age_ms is None and quote.bid == 10.5


def row_cells(table: DataTable, key: str) -> dict[str, str]:
    """表里一行：列键 -> 显示的文字。"""
    return {column.key.value: str(cell) for column, cell in zip(table.columns.values(), table.get_row(key))}


@pytest.mark.parametrize("size", list(COLUMNS_BY_SIZE), ids=lambda s: f"{s[0]}x{s[1]}")
async def test_quote_columns_fit_the_pane_at_each_terminal_size(size):
    """固定数据（FrozenClient）：每种终端大小上列的组合如 COLUMNS_BY_SIZE，列宽之和不超过窗格宽度；ETH 有报价订阅的
    买卖价（买一 = 最新价，卖一高 0.01），BTC 只有 K 线，买卖价与价差写 -。"""
    app = TradetermApp(FrozenClient())
    async with app.run_test(size=size) as pilot:
        await settled(pilot)
        table = app.main_screen.query_one("#quotes", DataTable)
        assert [column.key.value for column in table.columns.values()] == COLUMNS_BY_SIZE[size]
        assert sum(column.get_render_width(table) for column in table.columns.values()) <= table.size.width
        eth, btc = row_cells(table, "ETH/USDT"), row_cells(table, "BTC/USDT")
        expected_eth = {"last": "3,305.20", "bid": "3,305.20", "ask": "3,305.21", "spread": "0.03",
                        "change": "+1.23%", "volume": "103K", "age": ""}
        assert {k: eth[k] for k in expected_eth if k in eth} == {k: v for k, v in expected_eth.items() if k in eth}
        assert all(btc[k] == "-" for k in ("bid", "ask", "spread", "volume") if k in btc)


async def test_resizing_switches_the_column_set_and_keeps_the_rows():
    """140 列 -> 80 列 -> 200 列：每次换一套列，行都还在、值都对（换列时按模型重写全部行）。"""
    app = TradetermApp(FrozenClient())
    async with app.run_test(size=(140, 45)) as pilot:
        await settled(pilot)
        table = app.main_screen.query_one("#quotes", DataTable)
        for size in ((80, 24), (200, 50)):
            await pilot.resize_terminal(*size)
            wanted = COLUMNS_BY_SIZE[size]
            await until(pilot, lambda: [c.key.value for c in table.columns.values()] == wanted and table.row_count == 2,
                        what=f"the columns for {size}")
            assert row_cells(table, "ETH/USDT")["bid"] == "3,305.20" and row_cells(table, "BTC/USDT")["bid"] == "-"


async def test_old_quote_shows_its_age_at_wide_terminals():
    """200 列：报价比它的 K 线旧时 Age 列写出至少旧了多久（>1m），新报价到达后 Age 列变空。"""
    app = TradetermApp(FrozenClient())
    async with app.run_test(size=(200, 50)) as pilot:
        await settled(pilot)
        table = app.main_screen.query_one("#quotes", DataTable)
        app.model.apply_event(quote_event(T0, symbol="ETH/USDT", last=3_306.0, ts_bar=T0 + 120_000))
        await until(pilot, lambda: row_cells(table, "ETH/USDT")["age"] == ">1m", what="the age of the old quote")
        app.model.apply_event(quote_event(T0, symbol="ETH/USDT", last=3_306.0, bid=3_306.0, ask=3_306.01,
                                          ts=T0 + 125_000))
        await until(pilot, lambda: row_cells(table, "ETH/USDT")["age"] == "", what="a fresh quote")


@pytest.fixture
def sandbox(frozen_sandbox):
    """本模块里引擎连的沙盒：时钟停住，行情只在测试拨动时才走。"""
    return frozen_sandbox


async def test_quotes_pane_shows_the_engines_bid_and_ask_from_the_sandbox(start_engine, sandbox):
    """真引擎 + 进程内沙盒，80x24：报价表每个交易对的 Bid/Ask 就是引擎报价订阅给的（买一 < 卖一），价差按它们算。"""
    handle = await start_engine([flip("flip_btc"), flip("flip_eth", "ETH/USDT")])
    states = handle.engine.tickers.states
    app = TradetermApp(InProcessClient(handle.engine), refresh_s=0.2)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.main_screen.query_one("#quotes", DataTable)

        def shown() -> bool:
            """两行都显示着引擎此刻的买卖价。"""
            if table.row_count != 2 or any(states.get(s) is None or states[s].bid is None for s in states):
                return False
            return all(row_cells(table, s)["bid"] == fmt.money(states[s].bid)
                       and row_cells(table, s)["ask"] == fmt.money(states[s].ask) for s in states)

        await nudge_until(pilot, sandbox, shown, "the engine's bid and ask in the quotes pane")
        for symbol, state in states.items():
            assert state.bid < state.ask
            assert row_cells(table, symbol)["spread"] == f"{app.model.quotes[symbol].spread_bps:.2f}"
