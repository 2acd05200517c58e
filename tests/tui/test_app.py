"""用 Textual 的 Pilot 驱动真实界面，对着真实引擎与进程内沙盒：按键暂停/恢复实例、手动下单经确认到成交、
一键停止平掉一切、帮助屏列出每个按键。沙盒的时钟停住，行情只在测试拨动时才走（见 sandbox 夹具），等待都是等条件。
"""

from __future__ import annotations

import pytest
from textual.command import CommandList
from textual.widgets import Button, DataTable, Input, Select

from tests.engine.conftest import flip
from tests.tui.frozen import FrozenClient
from tests.tui.helpers import SIZE, manual_order_console, wait_for_price, step_until, until
from tradeterm.engine.client import InProcessClient
from tradeterm.tui.app import TradetermApp
from tradeterm.tui.screens.confirm import ConfirmScreen
from tradeterm.tui.screens.help import KEYMAP, HelpScreen
from tradeterm.tui.screens.main import MainScreen
from tradeterm.tui.screens.order_entry import OrderEntryScreen
from tradeterm.tui.screens.params import ParamsScreen


@pytest.fixture
def sandbox(frozen_sandbox):
    """本模块里引擎连的沙盒（start_engine、exchange_view 按名字用它）：时钟停住，行情只在测试拨动时才走。

    按键、下单框、确认框的测试不需要行情在走；需要机器人开仓的测试用 step_until 一根一根地拨。结果因此与机器快慢无关：
    不会有“测试的空档里机器人自己交易了”，也不会因为引擎跟不上 600 倍速的行情而被判为陈旧、下单被拒。"""
    return frozen_sandbox


def status(handle, name: str) -> str:
    """引擎里实例的状态。"""
    return handle.engine.bots[name].state.status.value


async def test_keys_pause_and_resume_the_selected_instance(start_engine):
    """选中第二个实例按 p：引擎里它变成 paused（第一个不受影响），表格显示 paused；再按 p 恢复 running。"""
    handle = await start_engine([flip("flip_btc"), flip("flip_eth", "ETH/USDT")])
    app = TradetermApp(InProcessClient(handle.engine), refresh_s=0.2)
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#instances", DataTable)
        await until(pilot, lambda: table.row_count == 2, what="instances in the table")
        await pilot.press("down")
        assert app.screen.selected_instance() == "flip_eth"
        await pilot.press("p")
        await until(pilot, lambda: status(handle, "flip_eth") == "paused", what="engine pauses flip_eth")
        assert status(handle, "flip_btc") == "running"
        await until(pilot, lambda: "paused" in str(table.get_row("flip_eth")), what="table shows paused")
        await pilot.press("p")
        await until(pilot, lambda: status(handle, "flip_eth") == "running", what="engine resumes flip_eth")
        await pilot.press("s")  # s 停止，再按一次 s 启动
        await until(pilot, lambda: status(handle, "flip_eth") == "stopped", what="engine stops flip_eth")
        await until(pilot, lambda: "stopped" in str(table.get_row("flip_eth")), what="table shows stopped")
        await pilot.press("s")
        await until(pilot, lambda: status(handle, "flip_eth") == "running", what="engine starts flip_eth")


async def test_manual_order_goes_through_review_and_confirmation_to_a_sandbox_fill(start_engine, exchange_view):
    """o 打开下单框，按名义金额买 150 USDT 的 BTC；Review 弹出的确认框列出订单与风控结论；确认后沙盒成交。"""
    engine, app = await manual_order_console(start_engine)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_price(pilot, engine)
        await pilot.press("o")
        await until(pilot, lambda: isinstance(app.screen, OrderEntryScreen), what="order entry")
        form = app.screen
        assert form.query_one("#symbol", Select).value == "BTC/USDT"
        await pilot.press(*"150")  # 焦点在数量框；默认按名义金额、市价买入
        await pilot.click("#review")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirmation")
        body = str(app.screen.query_one("#confirm-body").render())
        assert "BUY" in body and "BTC/USDT" in body and "Risk checks: passed" in body and "Equity" in body
        assert not engine.orders.orders  # 确认之前什么也没下
        await pilot.press("y")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), what="back to the main screen")
        await until(pilot, lambda: engine.manual_positions.get("BTC/USDT") is not None
                    and engine.manual_positions["BTC/USDT"].amount > 0, what="manual fill")
        # 交易所上恰好一笔成交，金额约 150 USDT（按成交价算，不受之后行情走动的影响），余额就是手动持仓
        trades = await exchange_view.fetch_my_trades("BTC/USDT")
        assert len(trades) == 1 and trades[0]["side"] == "buy"
        assert trades[0]["cost"] == pytest.approx(150, rel=0.05)
        balance = await exchange_view.fetch_balance()
        assert balance["total"]["BTC"] == pytest.approx(engine.manual_positions["BTC/USDT"].amount, abs=1e-12)
        await until(pilot, lambda: app.screen.query_one("#positions", DataTable).row_count == 1,
                    what="the position in the table")


async def test_order_entry_shows_form_errors_and_risk_refusals(start_engine):
    """数量填错显示错误；超过单笔上限时预览就被风控拒绝，错误写在表单里，不弹确认、不下单。"""
    handle = await start_engine([flip(period=1000)], risk={"max_order_notional": 100})
    engine = handle.engine
    app = TradetermApp(InProcessClient(engine), refresh_s=0.2)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: engine.mark_price("BTC/USDT") > 0 and app.model.symbols(), what="a price")
        await pilot.press("o")
        await until(pilot, lambda: isinstance(app.screen, OrderEntryScreen), what="order entry")
        await pilot.press(*"abc", "enter")
        error = app.screen.query_one("#form-error")
        assert "notional must be a number" in str(error.render())
        app.screen.query_one("#size", Input).value = "500"
        await pilot.click("#review")
        await until(pilot, lambda: "max_order_notional" in str(error.render()), what="risk refusal")
        assert isinstance(app.screen, OrderEntryScreen) and not engine.orders.orders
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), what="MainScreen")


async def test_kill_switch_flattens_everything_and_stops_every_instance(start_engine, sandbox):
    """K 弹确认；确认后引擎撤单、平掉全部持仓、停止全部实例，横幅显示 KILL SWITCH。"""
    handle = await start_engine([flip("flip_btc", period=2), flip("flip_eth", "ETH/USDT", period=2)])
    engine = handle.engine
    app = TradetermApp(InProcessClient(engine), refresh_s=0.2)
    async with app.run_test(size=SIZE) as pilot:
        await step_until(pilot, sandbox, engine,
                         lambda: any(b.position.amount for b in engine.bots.values()), what="an open position")
        await pilot.press("K")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="kill confirmation")
        assert all(b.state.status.value == "running" for b in engine.bots.values())  # 确认前不动
        await pilot.press("y")
        await until(pilot, lambda: all(b.state.status.value == "stopped" for b in engine.bots.values()),
                    what="every instance stopped")
        await until(pilot, lambda: not engine.all_positions() and not engine.orders.open_orders(),
                    what="no positions and no open orders")
        await until(pilot, lambda: app.banner_info.killed, what="banner shows the kill switch")
        assert "KILL SWITCH ENGAGED" in app.banner_info.text()
        # 接合时再按 K：确认框问的是解除；确认后引擎解除，实例仍是 stopped
        await pilot.press("K")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="reset confirmation")
        assert "Reset" in app.screen.title_text
        await pilot.press("y")
        await until(pilot, lambda: not engine.risk.killed, what="kill switch reset")
        await until(pilot, lambda: not app.banner_info.killed, what="banner clears the kill switch")
        assert all(b.state.status.value == "stopped" for b in engine.bots.values())


async def test_flatten_dialog_names_the_real_amount_and_the_bot_stays_paused(start_engine, sandbox):
    """f：确认框里写的是引擎此刻的真实持仓数量；确认后持仓平掉，实例是 paused（不会马上又开仓）。"""
    handle = await start_engine([flip("flip_btc", period=4)])
    engine = handle.engine
    bot = engine.bots["flip_btc"]
    app = TradetermApp(InProcessClient(engine), refresh_s=0.2)
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#instances", DataTable)
        await until(pilot, lambda: table.row_count == 1, what="the instance in the table")
        # 一根一根拨到开仓；之后时钟不再走，策略不会在确认框打开期间自己平仓，框里的数量就是要核对的那个
        await step_until(pilot, sandbox, engine, lambda: bot.position.amount > 0, what="an open position")
        await pilot.press("f")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="flatten confirmation")
        assert f"{bot.position.amount:.8g} BTC/USDT" in app.screen.body
        await pilot.press("y")
        await until(pilot, lambda: bot.position.amount == 0, what="the position closed")
        assert bot.state.status.value == "paused"


async def test_help_screen_lists_every_binding():
    """? 打开帮助屏：主屏与 App 的每个按键都在表里；Esc 关闭。"""
    app = TradetermApp(FrozenClient())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), what="HelpScreen")
        keys = {key for _, key, _ in KEYMAP}
        listed = " ".join(keys)
        for binding in [*MainScreen.BINDINGS, *TradetermApp.BINDINGS]:
            assert (binding.key_display or binding.key) in listed, binding
        table = app.screen.query_one("#keys", DataTable)
        assert table.row_count == len(KEYMAP)
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), what="MainScreen")


async def test_commands_need_confirmation_and_params_errors_are_shown(start_engine):
    """c/C/f 只在确认后发命令（n 取消什么也不发）；e 改参数：非法值显示引擎的错误，合法值生效。"""
    handle = await start_engine([flip()])
    engine = handle.engine
    app = TradetermApp(InProcessClient(engine), refresh_s=0.2)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.screen.query_one("#instances", DataTable).row_count == 1, what="instance")
        await pilot.press("C")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="ConfirmScreen")
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), what="MainScreen")
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, ParamsScreen), what="ParamsScreen")
        app.screen.query_one("#param-0", Input).value = "zero"
        await pilot.click("#save")
        await until(pilot, lambda: "period" in str(app.screen.query_one("#form-error").render()),
                    what="the engine's error message")
        assert engine.bots["flip_btc"].strategy.params["period"] == 4
        app.screen.query_one("#param-0", Input).value = "6"
        # 按钮按下后约 0.2 秒内带着 -active，这期间的点击被按钮忽略（防连击）：等它消失再点，不靠“停一会儿”
        save = app.screen.query_one("#save", Button)
        await until(pilot, lambda: not save.has_class("-active"), what="the Save button ready for another click")
        await pilot.click("#save")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), what="params dialog closes")
        assert engine.bots["flip_btc"].strategy.params["period"] == 6


async def test_quit_asks_first_and_says_whether_the_engine_stops():
    """q 弹确认：进程内说明会停止引擎，附着时说明引擎继续运行；n 取消，y 退出。"""
    for attached, phrase in ((False, "STOPS THE ENGINE"), (True, "KEEP RUNNING")):
        app = TradetermApp(FrozenClient(), attached=attached)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("q")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="ConfirmScreen")
            assert phrase in str(app.screen.query_one("#confirm-body").render())
            await pilot.press("n")
            await until(pilot, lambda: isinstance(app.screen, MainScreen), what="MainScreen")
            await pilot.press("q", "y")
            await pilot.pause()
        assert app.return_code == 0


def highlighted_command(app) -> str | None:
    """命令面板里高亮的那一项的标题；面板没开、还没有结果或没有高亮时为 None。"""
    lists = app.screen.query(CommandList)
    if not lists or lists.first().highlighted is None:
        return None
    prompt = lists.first().get_option_at_index(lists.first().highlighted).prompt
    return str(getattr(prompt, "plain", prompt)).split("\n")[0].strip()


async def test_command_palette_offers_every_action():
    """命令面板（Ctrl+P）里有控制台的每个动作；从面板选 Cancel all orders 也要先确认。"""
    client = FrozenClient()
    app = TradetermApp(client)
    async with app.run_test(size=SIZE) as pilot:
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for title in ("Pause / resume instance", "Manual order", "Kill switch", "Cancel all orders", "Help"):
            assert title in titles
        await pilot.press("ctrl+p")
        await pilot.press(*"cancel all orders")
        # 面板的搜索是后台进行的：等它把 Cancel all orders 列出来并高亮，再按回车（不靠“停一会儿”）
        await until(pilot, lambda: highlighted_command(app) == "Cancel all orders", what="the palette's match")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirmation from the palette")
        await pilot.press("y")
        await until(pilot, lambda: client.commands == [("cancel_all", {})], what="cancel_all sent")
