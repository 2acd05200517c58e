"""报告层：绩效指标（metrics）、终端表格（tables）与 plotext 图表（charts）。"""
