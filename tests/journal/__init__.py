"""journal 层的测试。"""
