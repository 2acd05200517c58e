"""账户栏：权益、现金、回撤、熔断与一键停止状态、持仓与挂单数，一行。"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from tradeterm.tui import format as fmt


# 账户栏换成短标签的宽度，列（与 App 的紧凑布局断点相同）
COMPACT_WIDTH = 100
# 各项的标签（正常宽度）
LABELS = {"equity": "Equity ", "cash": "Cash ", "drawdown": "Drawdown ", "breaker": "  Breaker ", "kill": "  Kill ",
          "positions": "  Positions ", "orders": "  Orders "}
# 各项的短标签（紧凑布局）
SHORT_LABELS = {"equity": "Eq ", "cash": "Cash ", "drawdown": "DD ", "breaker": " Brk ", "kill": " Kill ",
                "positions": " Pos ", "orders": " Ord "}


class AccountBar(Static):
    """账户栏；颜色取自 app.tcss 里的部件样式类（好/警告/危险）。"""

    # 可在 CSS 里设置的部件样式：标签、正常、警告、危险
    COMPONENT_CLASSES = {"account--label", "account--ok", "account--warn", "account--bad"}

    def show(self, snapshot: dict[str, Any] | None, stale_s: float | None = None) -> None:
        """按快照更新；还没有快照时显示等待。对账问题排在最前。stale_s 不为 None 表示与引擎失联、这份快照已有这么多秒：行首醒目地写明。"""
        if snapshot is None:
            self.update("waiting for the engine...")
            return
        account = snapshot["account"]
        label = self.get_component_rich_style("account--label")
        ok, warn, bad = (self.get_component_rich_style(f"account--{n}") for n in ("ok", "warn", "bad"))
        drawdown = float(account.get("drawdown") or 0.0)
        # 窄于 COMPACT_WIDTH 列时用短标签，整行仍放得下（80 列的 SSH 终端）
        names = SHORT_LABELS if self.size.width and self.size.width < COMPACT_WIDTH else LABELS
        text = Text()
        if stale_s is not None:
            text.append(f"STALE {stale_s:.0f}s ago ", bad)
        problems = snapshot.get("problems") or []
        if problems:
            # 对账问题排在最前：最要紧，终端再窄也不能被挤出行尾
            text.append(f"{len(problems)} RECONCILE PROBLEM(S)  ", bad)
        text.append(names["equity"], label).append(f"{fmt.money(account['equity'])} {account.get('quote', '')}  ")
        text.append(names["cash"], label).append(f"{fmt.money(account['cash'])}  ")
        text.append(names["drawdown"], label).append(f"{drawdown * 100:.2f}%", warn if drawdown > 0.05 else ok)
        text.append(names["breaker"], label).append(account.get("breaker") or "ok",
                                                    bad if account.get("breaker") else ok)
        text.append(names["kill"], label).append("ENGAGED" if account.get("killed") else "off",
                                                 bad if account.get("killed") else ok)
        text.append(names["positions"], label).append(str(len(snapshot.get("positions", []))))
        text.append(names["orders"], label).append(str(len(snapshot.get("orders", []))))
        self.update(text)
