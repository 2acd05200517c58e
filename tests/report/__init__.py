"""report 层的测试。"""
