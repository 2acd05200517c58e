"""界面测试共用的小工具：终端大小、“一边让界面运行一边等条件”、快照前让画面就绪并冻住会动的东西。

等待都是等条件：超时只是防挂死的上限（GUARD_S，足够宽，繁忙的机器上也不会误报），不是对速度的断言。
"""

from __future__ import annotations

import asyncio

from rich.cells import cell_len
from textual.widgets import Footer, Input

from tests.engine.conftest import nudge_until as nudge_engine
from tests.tui.frozen import frozen_events
from tradeterm.tui.model import describe_event
from tradeterm.tui.widgets.tables import KeyedTable

# 测试终端的大小（列, 行）：控制台要在 100x30 上可用
SIZE = (100, 30)
# 等条件的防挂死上限，秒：只在真的卡住时触发
GUARD_S = 120.0
# 等条件时每次让界面运行的时长，秒
STEP_S = 0.05
# step_until 最多拨动的 K 线根数（防止条件永远不成立时无限拨下去）
MAX_BARS = 200


async def until(pilot, predicate, timeout: float = GUARD_S, what: str = "condition") -> None:
    """一边让界面运行一边等 predicate() 为真；timeout 是防挂死上限（秒，不小于 GUARD_S），超过则失败。"""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max(timeout, GUARD_S)
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(STEP_S)


async def nudge_until(pilot, sandbox, predicate, what: str) -> None:
    """一边让界面运行，一边拨动停住的沙盒时钟（tests/engine/conftest.py 的 nudge_until，用 pilot.pause 让界面运行），
    直到 predicate() 为真。"""
    await nudge_engine(sandbox, predicate, what, pause=pilot.pause, guard_s=GUARD_S, step_s=STEP_S)


async def step_until(pilot, sandbox, engine, predicate, what: str = "condition") -> None:
    """拨动停住的沙盒时钟（frozen_sandbox），一次一根 K 线，每次都等引擎把这根处理完（收盘、下单、回报都已应用），
    直到 predicate() 为真。最多拨 MAX_BARS 根，仍不成立则失败。

    先等引擎的每条 K 线订阅都收到过推送（订阅连上之后的第一次推送只报正在走的那根），再一根一根地拨。"""
    statuses = list(engine.feeds.status.values())
    before = [s.last_update_ms for s in statuses]
    await nudge_until(pilot, sandbox, lambda: all(s.last_update_ms > seen for s, seen in zip(statuses, before)),
                      "every bar feed to receive a push")
    for _ in range(MAX_BARS):
        if predicate():
            return
        sandbox.clock.advance(min(s.step_ms for s in statuses))
        now = sandbox.clock.now()
        await nudge_until(pilot, sandbox, lambda: all(s.last_bar_ts >= now // s.step_ms * s.step_ms - s.step_ms
                                                      for s in statuses), f"the engine to close the bar before {now}")
    if not predicate():
        raise AssertionError(f"{what} did not happen within {MAX_BARS} bars")


def footer_keys_on_screen(app) -> set[str]:
    """当前屏幕的按键栏上完整显示在屏幕宽度之内的键（key_display 或键名）；屏幕还没装好按键栏时为空集。"""
    width = app.size.width
    shown = set()
    for item in (child for footer in app.screen.query(Footer) for child in footer.children):
        key = getattr(item, "key_display", None) or getattr(item, "key", None)
        if key and item.region.width and item.region.right <= width:
            shown.add(str(key))
    return shown


def steady_cursors(app) -> None:
    """让当前屏幕上每个输入框的光标常亮、不闪（闪烁由 0.5 秒的定时器翻转，快照时它是亮是灭取决于机器快慢）。"""
    for field in app.screen.query(Input):
        field.cursor_blink = False


def columns_measured(table: KeyedTable) -> bool:
    """表里每个自动宽度的列都已按现有的格子量过宽度、表格也已按新列宽重算了尺寸（DataTable 在空闲时才量新行、再在下一次
    空闲时重算尺寸；这之前拍下的列宽只有表头那么宽）。"""
    for key, _, width in table.COLUMNS:
        if width is None:
            widest = max((cell_len(str(cell)) for cell in table.get_column(key)), default=0)
            if table.columns[key].content_width < widest:
                return False
    # 量过之后表格还要在下一次空闲时按新列宽重算虚拟尺寸（再重画）：虚拟宽度够放下全部列，才算真正用上了新列宽
    return table.virtual_size.width >= sum(column.get_render_width(table) for column in table.columns.values())


async def settled(pilot) -> None:
    """等固定事件与快照都进了界面（FrozenClient 保证先事件后快照）、日志窗格写完、图表按全部数据重画过一次，
    光标常亮：画面从此不再变化。条件不满足时失败，而不是照样拍下一张半成品。"""
    app = pilot.app
    events = frozen_events()
    logged = sum(describe_event(event) is not None for event in events)
    main = app.main_screen

    def ready() -> bool:
        """事件都已归并、快照已到、四张表都有行且自动列宽已量过、日志窗格的行都写上了。"""
        tables = list(main.query(KeyedTable))  # 报价、实例、持仓、挂单（主屏还没挂载完时不全）
        logs = list(main.query("#log"))
        return (app.model.events_seen >= len(events) and app.model.snapshot is not None and len(tables) == 4
                and all(table.row_count > 0 and columns_measured(table) for table in tables)
                and len(logs) == 1 and len(logs[0].lines) >= logged)

    await until(pilot, ready, what="the frozen events and snapshot on screen")
    # 数据都到了之后再要求重画一次图表，等图表定时器把它画完（选中的实例此刻已在表里）
    app.model.charts_dirty = True
    await until(pilot, lambda: not app.model.charts_dirty, what="the charts redrawn with every event")
    steady_cursors(app)
    # 图表重画期间表格也可能刷新了格子（列宽要在空闲时重新量）：拍照前再确认一次列宽都量过，并让画面重画两轮
    await until(pilot, lambda: all(columns_measured(table) for table in main.query(KeyedTable)),
                what="every auto-width column measured again")
    await pilot.pause()
    await pilot.pause()


async def manual_order_console(start_engine):
    """手动下单测试的起点：一个暂停的 Flip 实例（它不会交易，交易所上的成交只能来自手动单）的引擎，和连着它的界面
    （还没运行）。返回 (engine, app)；测试里用 `async with app.run_test(...)` 运行界面，先等 wait_for_price。"""
    from tests.engine.conftest import flip
    from tradeterm.engine.client import InProcessClient
    from tradeterm.tui.app import TradetermApp

    handle = await start_engine([flip(period=1000)])
    await handle.engine.command("pause", instance="flip_btc")
    return handle.engine, TradetermApp(InProcessClient(handle.engine), refresh_s=0.2)


async def wait_for_price(pilot, engine) -> None:
    """等引擎有了 BTC/USDT 的价格、界面有了可下单的交易对。"""
    await until(pilot, lambda: engine.mark_price("BTC/USDT") > 0 and pilot.app.model.symbols(), what="a price")
