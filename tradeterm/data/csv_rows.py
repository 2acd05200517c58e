"""CSV 出错时的定位器：把 pandas 的数据行号（0 起，表头之后、跳过空行）对应回文件行号与各格原文。

只在出错时用到，合法文件不为它付出时间。两种实现，由 LazyRows 在第一次用到时按文件内容挑选：
- PlainRows：没有引号、没有单独的 \\r 的文件（几乎所有 K 线文件）：用 numpy 一次找出所有换行，
  百万行的文件也在一秒内定位到任意一行；
- ScannedRows：其余文件（引号里可能有逗号或换行）：用 csv 模块逐条扫描，扫到需要的那一行为止。
两者对“空行”的定义与 pandas 一致：只含空格、制表符（和行尾 \\r）的行不算数据行，但计入行号。
"""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd

# 行首可能是空白行的字符：空格、制表符、\r（\r\n 换行的行尾）
BLANK_BYTES = b" \t\r"


class FileRows:
    """定位器的共同部分：位置写作 `line N`（文件行号，1 起），原文取自文件。子类实现 line 与 fields。"""

    def __init__(self, header_line: int, indexes: dict[str, int]):
        """header_line 为表头所在行号（1 起）；indexes 为列名（小写）-> 列号（0 起）。"""
        # 表头所在行号，1 起
        self.header_line = header_line
        # 列名（小写）-> 列号，0 起
        self.indexes = indexes

    def line(self, row: int) -> int:
        """第 row 个数据行（0 起）在文件里的行号；文件里没有这一行时按没有空行估计。"""
        raise NotImplementedError

    def fields(self, row: int) -> list[str] | None:
        """第 row 个数据行的各格原文；文件里没有这一行时为 None。"""
        raise NotImplementedError

    def width_mismatch(self, width: int) -> int | None:
        """第一个字段数不等于 width 的数据行（0 起）；都一样时为 None。"""
        raise NotImplementedError

    def unclosed_quote(self, at_eof: bool) -> int | None:
        """引号没有在本行关上的那一行的文件行号；没有时为 None。"""
        return None

    def where(self, row: int) -> str:
        """错误消息里的位置，如 `line 5`。"""
        return f"line {self.line(row)}"

    def text(self, row: int, column: str, value: object) -> str:
        """第 row 个数据行 column 列的原文（行太短时为空串）；找不到这一行时用解析后的值。"""
        cells = self.fields(row)
        if cells is None:
            return str(value)
        index = self.indexes[column]
        return cells[index] if index < len(cells) else ""

    def column_texts(self, column: str, count: int, values: np.ndarray) -> pd.Series:
        """column 列前 count 个数据行的原文（找不到的行用解析后的值）。"""
        return pd.Series([self.text(row, column, values[row]) for row in range(count)], dtype=object)


class PlainRows(FileRows):
    """没有引号、没有单独 \\r 的文件：每个非空行就是一条记录，用 numpy 找换行与逗号。"""

    def __init__(self, content: bytes, header_line: int, indexes: dict[str, int]):
        """content 为文件内容（UTF-8 字节，去掉了 BOM）；其余同 FileRows。"""
        super().__init__(header_line, indexes)
        # 文件内容，UTF-8 字节
        self.content = content
        # 每个换行符（\n）的字节位置；第一次用时计算
        self.newlines: np.ndarray | None = None
        # 每个数据行的文件行号（1 起，升序）；第一次用时计算
        self.data_lines: np.ndarray | None = None

    def prepare(self) -> np.ndarray:
        """找出换行位置与数据行的行号（只做一次）；返回数据行行号数组。"""
        if self.data_lines is None:
            data = np.frombuffer(self.content, np.uint8)
            self.newlines = np.flatnonzero(data == ord("\n"))
            total = len(self.newlines) + (0 if self.content.endswith(b"\n") or not self.content else 1)
            starts = np.concatenate([[0], self.newlines + 1])[:total]
            ends = np.concatenate([self.newlines, [len(self.content)]])[:total]
            # 只有以空白开头（或空）的行才可能是空行，逐个细看；普通数据行在这里就排除了
            first = np.where(ends > starts, data[np.minimum(starts, max(len(data) - 1, 0))], ord(" "))
            maybe = np.flatnonzero(np.isin(first, list(BLANK_BYTES)))
            blank = [i for i in maybe if not self.content[starts[i]:ends[i]].strip(BLANK_BYTES)]
            lines = np.arange(1, total + 1)
            keep = lines > self.header_line
            keep[np.asarray(blank, dtype=np.int64)] = False
            self.data_lines = lines[keep]
        return self.data_lines

    def line(self, row: int) -> int:
        """第 row 个数据行的文件行号。"""
        lines = self.prepare()
        return int(lines[row]) if row < len(lines) else self.header_line + 1 + row

    def fields(self, row: int) -> list[str] | None:
        """第 row 个数据行按逗号切开的各格原文。"""
        lines = self.prepare()
        if row >= len(lines):
            return None
        index = int(lines[row]) - 1
        start = 0 if index == 0 else int(self.newlines[index - 1]) + 1
        end = int(self.newlines[index]) if index < len(self.newlines) else len(self.content)
        return self.content[start:end].decode("utf-8").rstrip("\r").split(",")

    def width_mismatch(self, width: int) -> int | None:
        """按每行的逗号个数找第一个字段数不对的数据行。"""
        lines = self.prepare()
        data = np.frombuffer(self.content, np.uint8)
        commas = np.searchsorted(self.newlines, np.flatnonzero(data == ord(",")))
        counts = np.bincount(commas, minlength=int(lines[-1]) if len(lines) else 0) + 1
        wrong = np.flatnonzero(counts[lines - 1] != width) if len(lines) else []
        return int(wrong[0]) if len(wrong) else None


class ScannedRows(FileRows):
    """可能有引号的文件：用 csv 模块逐条读记录（能处理引号里的逗号与换行），按需扫到需要的那一行。"""

    def __init__(self, text: str, header_line: int, indexes: dict[str, int]):
        """text 为文件全文；其余同 FileRows。"""
        super().__init__(header_line, indexes)
        # 文件全文
        self.source_text = text
        # 逐条读记录的 csv 读取器；第一次用时创建，读完或读不下去时为 None
        self.reader = None
        # 是否已经开始读（reader 为 None 时用来区分“还没开始”与“已读完”）
        self.started = False
        # 下一条记录开始的行号，1 起
        self.next_start = 1
        # 已扫到的数据行：（文件行号, 各格原文）
        self.records: list[tuple[int, list[str]]] = []
        # csv 模块读不下去的那条记录的起始行号；None 表示没有出过错
        self.broken_at: int | None = None
        # 表头之后读到的最后一条记录（空行也算）的起始行号；None 表示还没有
        self.last_start: int | None = None

    def fill(self, row: int) -> bool:
        """扫描到第 row 个数据行（0 起）为止；文件里有这一行时返回 True。"""
        if not self.started:
            self.started = True
            self.reader = csv.reader(io.StringIO(self.source_text, newline=""))
        while len(self.records) <= row and self.reader is not None:
            try:
                record = next(self.reader)
            except StopIteration:
                self.reader = None
                break
            except csv.Error:
                self.reader, self.broken_at = None, self.next_start
                break
            start, self.next_start = self.next_start, self.reader.line_num + 1
            if start > self.header_line:
                self.last_start = start
            # pandas 跳过的空行：没有字段，或只有一个全是空白的字段
            blank = not record or (len(record) == 1 and not record[0].strip(" \t"))
            if start > self.header_line and not blank:
                self.records.append((start, record))
        return row < len(self.records)

    def line(self, row: int) -> int:
        """第 row 个数据行的文件行号（记录开始的那一行）。"""
        return self.records[row][0] if self.fill(row) else self.header_line + 1 + row

    def fields(self, row: int) -> list[str] | None:
        """第 row 个数据行的各格原文（引号已去掉）。"""
        return self.records[row][1] if self.fill(row) else None

    def width_mismatch(self, width: int) -> int | None:
        """逐条扫描，找第一个字段数不对的数据行。"""
        row = 0
        while self.fill(row):
            if len(self.records[row][1]) != width:
                return row
            row += 1
        return None

    def unclosed_quote(self, at_eof: bool) -> int | None:
        """第一个有格子跨行的数据行，或 csv 模块读不下去的那条记录；at_eof（pandas 报告文件在引号里结束）时
        退而取表头之后的最后一条记录（如只有一个引号的一行，csv 模块把它读成空行）。都没有时为 None。"""
        row = 0
        while self.fill(row):
            if any("\n" in cell or "\r" in cell for cell in self.records[row][1]):
                return self.records[row][0]
            row += 1
        if self.broken_at is not None:
            return self.broken_at
        return self.last_start if at_eof else None


class LazyRows(FileRows):
    """按需挑实现的定位器：第一次用到时才看文件内容（有没有引号、单独的 \r）并建 PlainRows 或 ScannedRows，
    合法文件连这一次扫描也省了。"""

    def __init__(self, content: bytes, header_line: int, indexes: dict[str, int]):
        """content 为文件内容（已确认是 UTF-8 的字节，去掉了 BOM）；其余同 FileRows。"""
        super().__init__(header_line, indexes)
        # 文件内容，UTF-8 字节
        self.content = content
        # 实际的定位器；第一次用时创建
        self.impl: FileRows | None = None

    def backend(self) -> FileRows:
        """实际的定位器：没有引号、没有单独的 \r 时用 PlainRows，否则 ScannedRows（要全文，这时才解码）。"""
        if self.impl is None:
            plain = b'"' not in self.content and self.content.count(b"\r") == self.content.count(b"\r\n")
            self.impl = (PlainRows(self.content, self.header_line, self.indexes) if plain
                         else ScannedRows(self.content.decode("utf-8"), self.header_line, self.indexes))
        return self.impl

    def line(self, row: int) -> int:
        """见 FileRows.line。"""
        return self.backend().line(row)

    def fields(self, row: int) -> list[str] | None:
        """见 FileRows.fields。"""
        return self.backend().fields(row)

    def width_mismatch(self, width: int) -> int | None:
        """见 FileRows.width_mismatch。"""
        return self.backend().width_mismatch(width)

    def unclosed_quote(self, at_eof: bool) -> int | None:
        """见 FileRows.unclosed_quote。"""
        return self.backend().unclosed_quote(at_eof)
