"""终端控制台（Textual 应用）：经 EngineClient 看行情、实例、持仓、挂单、账户与日志，并用键盘操控引擎。

入口是 `tradeterm.tui.app.TradetermApp`；`tradeterm run`（在终端上）与 `tradeterm attach` 打开它。
"""
