"""按键栏：Textual 的 Footer，只改一处——App 没有焦点时也会第一次填上按键（浏览器版 `tradeterm web` 的按键栏因此不再空白）。

为什么需要它：Footer 挂载时还没拿到按键，先画成空的；等屏幕发布“按键变了”时再重新 compose。但 Footer 在 App 没有焦点
（app_focus 为假）时跳过这次重画——本意是窗口失焦时焦点被移走、焦点部件的按键暂时不在，按键栏不该跟着闪掉一截。
textual-serve 启动的会话用 Textual 的 web 驱动（TEXTUAL_DRIVER=textual.drivers.web_driver:WebDriver），它一开始就给
App 发 AppBlur；页面上的终端要等用户点进去才告诉 App “有焦点了”（textual-serve 的页面从不自动聚焦终端）。于是浏览器里
按键栏一直是空的，直到在页面上点一下。终端里 App 一开始就有焦点，不会这样。

这里只补上“还是空的”这一种情况：没有焦点、也还没有任何按键时照样重画一次；已经画好的按键栏在失焦时仍按 Textual 的
做法保持不变。
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


class KeyBar(Footer):
    """与 Footer 用法相同的按键栏（Footer 的 CSS 规则同样作用于它）；App 没有焦点时也会填上第一批按键。"""

    def bindings_changed(self, screen: Screen) -> None:
        """屏幕的按键变了：交给 Footer；App 没有焦点而按键栏还空着时（Footer 会跳过），自己重画一次。"""
        super().bindings_changed(screen)
        if not screen.app.app_focus and not self.children and self.is_attached and screen is self.screen:
            self.call_after_refresh(self.recompose)
