"""strategy 层的测试。"""
