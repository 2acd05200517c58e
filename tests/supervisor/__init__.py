"""tradeterm/supervisor 的测试：守护进程、心跳、退避。"""
