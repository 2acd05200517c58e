"""把指标排成终端里的纯文本表格（英文表头）。"""

from __future__ import annotations

import math

from tradeterm.report.metrics import METRIC_LABELS


def format_value(value: float | int | None, kind: str) -> str:
    """按格式类型把一个指标值转成文本：pct 百分比、money 两位小数、num 三位小数、int 整数。"""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if kind == "pct":
        return f"{value * 100:.2f}%"
    if kind == "money":
        return f"{value:,.2f}"
    if kind == "int":
        return f"{int(value):,d}"
    return f"{value:.3f}"


def metrics_table(columns: dict[str, dict]) -> str:
    """多列指标表：columns 为 列名 -> 指标字典（键同 METRIC_LABELS）；第一列是指标名。"""
    header = ["Metric", *columns]
    rows = [[label, *(format_value(col.get(key), kind) for col in columns.values())]
            for key, (label, kind) in METRIC_LABELS.items()]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths)))]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
    return "\n".join(lines)
