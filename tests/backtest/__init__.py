"""backtest 层的测试。"""
