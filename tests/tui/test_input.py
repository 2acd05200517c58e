"""不丢键的输入：打开表单的键之后紧跟着（不等界面）敲下的键、粘贴，都按顺序落进表单；引擎在忙、事件循环被拖慢时也一样。
表单逐字校验：整数参数里的小数是错误（不截断），下单数量里意思不明的逗号是错误；确认框写出将要发出的原数。

“全速输入”的做法：按键直接投递进 App 的消息队列（`post_message(events.Key)`），一个接一个，中间不让界面运行——
就像终端一次送来一整段输入；Pilot 的 press 每个键都等界面处理完，测不出这个问题。等待都是等条件。
"""

from __future__ import annotations

import threading

import pytest
from textual import events
from textual.widgets import Input, Static

from tests.engine.conftest import flip
from tests.tui.frozen import FrozenClient
from tests.tui.helpers import SIZE, manual_order_console, wait_for_price, settled, until
from tradeterm.engine.client import InProcessClient
from tradeterm.tui import format as fmt
from tradeterm.tui.app import TradetermApp
from tradeterm.tui.screens.confirm import ConfirmScreen
from tradeterm.tui.screens.main import MainScreen
from tradeterm.tui.screens.order_entry import OrderEntryScreen
from tradeterm.tui.screens.params import ParamsScreen


@pytest.fixture
def sandbox(frozen_sandbox):
    """本模块里引擎连的沙盒：时钟停住（行情不走，机器人不会在测试的空档里交易）。"""
    return frozen_sandbox


def burst(app, keys: list[str | events.Paste]) -> None:
    """把一串按键（或粘贴）一次投递进 App 的队列，中间不让界面运行（终端一次送来整段输入）。"""
    for key in keys:
        if isinstance(key, events.Paste):
            app.post_message(key)
        else:
            app.post_message(events.Key(key, key if len(key) == 1 else None))


def size_field(app) -> Input | None:
    """下单框的数量输入框（下单框不在最上层时为 None）。"""
    return app.screen.query_one("#size", Input) if isinstance(app.screen, OrderEntryScreen) else None


class BusyLoop:
    """让界面的事件循环变慢：后台线程做纯 Python 计算（与界面线程争 GIL），像机器上的其他负载一样拖慢每一轮处理。"""

    def __init__(self) -> None:
        """建好线程（start 后开始）。"""
        # 置位时线程退出
        self.done = threading.Event()
        # 做计算的后台线程
        self.thread = threading.Thread(target=self._burn, daemon=True)

    def _burn(self) -> None:
        """一直计算直到 done。"""
        x = 0
        while not self.done.is_set():
            for _ in range(10_000):
                x = (x * 1_103_515_245 + 12_345) & 0x7FFFFFFF

    def __enter__(self) -> "BusyLoop":
        """开始拖慢。"""
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        """停止拖慢。"""
        self.done.set()
        self.thread.join()


async def test_keys_typed_right_after_o_all_reach_the_order_form():
    """o 后面紧跟的数字、退格与粘贴一次到达：下单框里正好是敲下的结果，顺序不乱。"""
    app = TradetermApp(FrozenClient())
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        burst(app, ["o", *"0.015", "backspace", "backspace", *"2", events.Paste("5"), "0"])
        await until(pilot, lambda: size_field(app) is not None and size_field(app).value == "0.0250",
                    what="every key in the order form")


async def test_fast_typing_with_the_engine_busy_loses_nothing(start_engine):
    """真引擎 + 界面线程被另一个线程拖慢：o 之后全速敲下的 30 个键全部进了数量框（旧版本丢了开头的键）。"""
    handle = await start_engine([flip(period=1000)])
    app = TradetermApp(InProcessClient(handle.engine), refresh_s=0.05)
    typed = "12345.678" * 3 + "901"
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.symbols(), what="the engine's first snapshot")
        with BusyLoop():
            burst(app, ["o", *typed])
            await until(pilot, lambda: size_field(app) is not None and size_field(app).value == typed,
                        what="all 30 keys in the size field")


async def test_a_decimal_in_an_integer_parameter_is_an_error_not_a_truncation(start_engine):
    """e 后全速改参数：period 里敲 8.5 -> 表单报错，引擎的参数不变；敲 8 -> 生效。"""
    handle = await start_engine([flip()])
    engine = handle.engine
    app = TradetermApp(InProcessClient(engine), refresh_s=0.2)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.screen.query_one("#instances").row_count == 1, what="the instance row")
        burst(app, ["e", "end", "backspace", *"8.5", "enter"])
        await until(pilot, lambda: isinstance(app.screen, ParamsScreen)
                    and "not a whole number" in str(app.screen.query_one("#form-error", Static).render()),
                    what="the form error")
        assert "period: '8.5'" in str(app.screen.query_one("#form-error", Static).render())
        assert engine.bots["flip_btc"].strategy.params["period"] == 4
        burst(app, ["backspace", "backspace", "enter"])
        await until(pilot, lambda: isinstance(app.screen, MainScreen), what="the dialog to close")
        assert engine.bots["flip_btc"].strategy.params["period"] == 8


async def test_the_confirmation_shows_the_exact_amount_that_will_be_sent(start_engine):
    """数量里的小数逗号（0,015）是错误，什么也不下；按名义金额 150 USDT 买：确认框写的数量（按步长取整后的原数，
    不四舍五入到 6 位有效数字）正是随后发给交易所、记进订单的数量。"""
    engine, app = await manual_order_console(start_engine)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_price(pilot, engine)
        await pilot.press("o")
        await until(pilot, lambda: size_field(app) is not None and app.focused is size_field(app),
                    what="the order form")
        form = app.screen
        burst(app, [*"0,015", "enter"])
        await until(pilot, lambda: "use a dot for decimals" in str(form.query_one("#form-error").render()),
                    what="the decimal-comma error")
        assert not engine.orders.orders
        burst(app, ["ctrl+u", *"150", "enter"])
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        first_line = str(app.screen.query_one("#confirm-body").render()).splitlines()[0]
        assert first_line.startswith("BUY ") and "BTC/USDT" in first_line, first_line
        shown = first_line.split()[1]
        await pilot.press("y")
        await until(pilot, lambda: engine.orders.orders, what="the order sent")
        (order,) = engine.orders.orders.values()
        assert shown == fmt.exact(order.amount) and float(shown) == order.amount
