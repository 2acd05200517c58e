"""账户栏：权益、现金、回撤、熔断与一键停止状态、持仓与挂单数，一行。"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from tradeterm.tui import format as fmt


class AccountBar(Static):
    """账户栏；颜色取自 app.tcss 里的部件样式类（好/警告/危险）。"""

    # 可在 CSS 里设置的部件样式：标签、正常、警告、危险
    COMPONENT_CLASSES = {"account--label", "account--ok", "account--warn", "account--bad"}

    def show(self, snapshot: dict[str, Any] | None) -> None:
        """按快照更新；还没有快照时显示等待。"""
        if snapshot is None:
            self.update("waiting for the engine...")
            return
        account = snapshot["account"]
        label = self.get_component_rich_style("account--label")
        ok, warn, bad = (self.get_component_rich_style(f"account--{n}") for n in ("ok", "warn", "bad"))
        drawdown = float(account.get("drawdown") or 0.0)
        text = Text()
        text.append("Equity ", label).append(f"{fmt.money(account['equity'])} {account.get('quote', '')}  ")
        text.append("Cash ", label).append(f"{fmt.money(account['cash'])}  ")
        text.append("Drawdown ", label).append(f"{drawdown * 100:.2f}%", warn if drawdown > 0.05 else ok)
        text.append("  Breaker ", label).append(account.get("breaker") or "ok", bad if account.get("breaker") else ok)
        text.append("  Kill ", label).append("ENGAGED" if account.get("killed") else "off",
                                             bad if account.get("killed") else ok)
        text.append("  Positions ", label).append(str(len(snapshot.get("positions", []))))
        text.append("  Orders ", label).append(str(len(snapshot.get("orders", []))))
        problems = snapshot.get("problems") or []
        if problems:
            text.append(f"  {len(problems)} reconcile problem(s)", bad)
        self.update(text)
