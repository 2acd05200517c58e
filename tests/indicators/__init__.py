"""indicators 层的测试。"""
