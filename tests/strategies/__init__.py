"""strategies 层的测试。"""
