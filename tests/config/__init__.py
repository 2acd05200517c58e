"""config 层的测试。"""
