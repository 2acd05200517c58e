"""models 层的测试。"""
