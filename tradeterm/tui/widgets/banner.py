"""模式横幅：每个屏幕顶上一行，写明模式（paper / LIVE）、交易所、连接方式与连接状态。实盘时整行红底，一眼可辨；
行情订阅陈旧时变橙色并点名是哪条。"""

from __future__ import annotations

from dataclasses import dataclass

from textual.widgets import Static


@dataclass(frozen=True)
class BannerInfo:
    """横幅要显示的状态（由 App 维护，各屏幕的横幅跟随它变化）。"""

    mode: str = "?"              # 运行模式：paper 或 live；还没拿到快照时为 "?"
    exchange: str = ""           # 交易所说明，如 "sandbox (in-process)"
    attached: bool = False       # 是否经控制套接字连到 headless 引擎（否则为进程内引擎）
    connection_error: str = ""   # 与引擎失联的说明（空串表示连接正常）
    killed: bool = False         # 一键停止是否已触发
    stale: tuple[str, ...] = ()  # 陈旧的行情订阅（如 "BTC/USDT 1m (5 bars behind)"）；空表示都正常
    retry_s: float = 2.0         # 失联后重连的间隔，秒

    def text(self) -> str:
        """横幅的一行文字（英文）。"""
        where = "attached to headless engine" if self.attached else "in-process engine"
        if self.mode == "live":
            head = f"!! LIVE TRADING - REAL MONEY !!  exchange: {self.exchange}  ({where})"
        else:
            head = f"{self.mode.upper()} MODE  exchange: {self.exchange}  ({where})"
        if self.killed:
            head += "  |  KILL SWITCH ENGAGED"
        if self.stale:
            head += f"  |  STALE FEED: {', '.join(self.stale)}"
        if self.connection_error:
            head += f"  |  DISCONNECTED: {self.connection_error} - retrying every {self.retry_s:g} s"
        return head


class ModeBanner(Static):
    """顶上一行的模式横幅；样式（颜色）全在 app.tcss 里按 -live / -disconnected / -killed / -stale 类切换。"""

    def on_mount(self) -> None:
        """跟随 App 的 banner_info 变化。"""
        self.watch(self.app, "banner_info", self.show_info, init=True)

    def show_info(self, info: BannerInfo) -> None:
        """按状态更新文字与样式类。"""
        self.update(info.text())
        self.set_class(info.mode == "live", "-live")
        self.set_class(bool(info.connection_error), "-disconnected")
        self.set_class(info.killed, "-killed")
        self.set_class(bool(info.stale), "-stale")
