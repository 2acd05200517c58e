"""引擎里的通知：成交提醒经真实的 webhook 请求到达；启动过程中的事件（重启后仍接合的一键停止）也会通知；
引擎停止时发“Engine stopped”，停止过程中的最后几个事件也发出去。"""

from __future__ import annotations

from tests.engine.conftest import close, flip, sandbox, start_engine, wait_for  # noqa: F401  (夹具)
from tests.notify.fakes import FakeHook


def texts(hook: FakeHook) -> str:
    """收到的全部消息文字（合并消息也在内）。"""
    return "\n".join(body["text"] for body in hook.bodies())


async def test_alerts_from_a_paper_engine_and_after_a_restart(start_engine):
    """成交 -> 提醒；一键停止 -> critical 提醒；停止 -> Engine stopped；重启后“仍接合”的一键停止是启动时的事件，也到了。"""
    hook = await FakeHook().start()
    notify = {"webhooks": [{"url": hook.hook_url(), "coalesce_window": 0.1, "min_interval": 0}]}
    try:
        handle = await start_engine([flip("flip_btc", "BTC/USDT", period=2)], notify=notify)
        await wait_for(lambda: "Engine started (paper on " in texts(hook), what="the start notice")
        await wait_for(lambda: "Fill: BUY" in texts(hook), what="a fill alert")
        await handle.engine.command("kill_switch")
        await wait_for(lambda: "KILL SWITCH engaged" in texts(hook), what="the kill switch alert")
        assert any(body["severity"] == "critical" for body in hook.bodies())
        await close(handle)
        assert "Engine stopped (paper on " in texts(hook)
        count = len(hook.received)
        again = await start_engine([flip("flip_btc", "BTC/USDT", period=2)], notify=notify)
        await wait_for(lambda: "still engaged from before the restart" in texts(hook), timeout=5, what="the restored kill switch: " + texts(hook)[-600:])
        assert len(hook.received) > count and again.engine.risk.killed
        stats = again.engine.snapshot()["notify"]
        assert stats[0]["channel"] == "webhook[0]" and stats[0]["failed"] == 0
    finally:
        await hook.stop()
