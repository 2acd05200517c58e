"""回测层：模拟经纪商、逐事件回测循环与 numba 快速路径（成交模型在 tradeterm/execution，仓位计算在 tradeterm/sizing，与模拟盘、实盘、沙盒共用）。"""
