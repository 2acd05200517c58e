"""把控制台写给终端的字节流（ANSI 转义序列）还原成屏幕上的文字：最小的终端模型，只认光标定位与移动、清屏、清行、
回车换行与退格，足以重建 Textual 画出的文字（颜色等样式忽略）。

两处共用：tests/cli/test_web.py 据此读出浏览器里那一屏显示的是什么（浏览器里的 xterm.js 收到的正是这些字节），
bench/startup.py 据此在伪终端里等首批报价上屏。
"""

from __future__ import annotations

import codecs
import re
import unicodedata

# 终端输出里的控制序列：CSI（ESC [ 参数 结尾字母）、OSC（ESC ] ... BEL 或 ESC \）、DCS/APC/PM（ESC P/_/^ ... ESC \）、
# 字符集选择（ESC ( B 之类）与其余两字节的 ESC 序列
ESCAPE = re.compile(r"\x1b\[([0-9;?<>=]*)[ -/]*([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[P_^][^\x1b]*\x1b\\"
                    r"|\x1b[()#][0-9A-Za-z]|\x1b[78=>DEHMNOZc\\]")


class TerminalScreen:
    """最小的终端模型：只认光标定位与移动、清屏、清行、回车换行与退格，足以重建 Textual 画出的文字（颜色等样式忽略）。"""

    def __init__(self, columns: int, rows: int) -> None:
        """columns、rows 为终端的列数与行数。"""
        # 终端宽度，列
        self.columns = columns
        # 终端高度，行
        self.rows = rows
        # 屏幕内容：rows 行，每行 columns 个字符（宽字符占两格，第二格为空串）
        self.cells = [[" "] * columns for _ in range(rows)]
        # 光标位置：行、列（从 0 开始）
        self.row = self.column = 0
        # UTF-8 的增量解码器：一块输出停在半个多字节字符上时，剩下的字节留到下一块
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        # 上一块输出末尾不完整的控制序列（与下一块拼起来再解析）
        self.pending = ""

    def feed(self, data: bytes) -> None:
        """解析一块终端输出并更新屏幕。"""
        text = self.pending + self.decoder.decode(data)
        # 末尾可能停在半个控制序列上：留到下一块
        cut = text.rfind("\x1b")
        if cut != -1 and not ESCAPE.match(text, cut):
            self.pending, text = text[cut:], text[:cut]
        else:
            self.pending = ""
        position = 0
        for match in ESCAPE.finditer(text):
            self._write(text[position:match.start()])
            if match.group(2):
                self._control(match.group(1), match.group(2))
            position = match.end()
        self._write(text[position:])

    def _control(self, parameters: str, final: str) -> None:
        """执行一个 CSI 控制序列（只处理影响文字位置与内容的几种）。"""
        numbers = [int(p) if p.isdigit() else 0 for p in parameters.split(";")] if parameters[:1] not in "?<>=" \
            else []
        first = numbers[0] if numbers and numbers[0] else 1
        if final in "Hf":
            self.row = min(max((numbers[0] if numbers and numbers[0] else 1) - 1, 0), self.rows - 1)
            column = numbers[1] if len(numbers) > 1 and numbers[1] else 1
            self.column = min(max(column - 1, 0), self.columns - 1)
        elif final == "A":
            self.row = max(self.row - first, 0)
        elif final == "B":
            self.row = min(self.row + first, self.rows - 1)
        elif final == "C":
            self.column = min(self.column + first, self.columns - 1)
        elif final == "D":
            self.column = max(self.column - first, 0)
        elif final == "G":
            self.column = min(first - 1, self.columns - 1)
        elif final == "d":
            self.row = min(first - 1, self.rows - 1)
        elif final == "J" and numbers[:1] in ([2], [3]):
            self.cells = [[" "] * self.columns for _ in range(self.rows)]
        elif final == "K":
            line = self.cells[self.row]
            mode = numbers[0] if numbers else 0
            start, end = {0: (self.column, self.columns), 1: (0, self.column + 1)}.get(mode, (0, self.columns))
            line[start:end] = [" "] * (end - start)

    def _write(self, text: str) -> None:
        """在光标处写文字（到行尾不自动换行，Textual 总是先定位再写）。"""
        for char in text:
            if char == "\r":
                self.column = 0
            elif char == "\n":
                self.row = min(self.row + 1, self.rows - 1)
            elif char == "\b":
                self.column = max(self.column - 1, 0)
            elif char >= " ":
                width = 2 if unicodedata.east_asian_width(char) in "WF" else 1
                if self.column + width <= self.columns:
                    self.cells[self.row][self.column] = char
                    if width == 2:
                        self.cells[self.row][self.column + 1] = ""
                self.column = min(self.column + width, self.columns - 1)

    def lines(self) -> list[str]:
        """屏幕上的每一行文字。"""
        return ["".join(line) for line in self.cells]

    def shows(self, pattern: re.Pattern[str] | str) -> bool:
        """屏幕上是否有一行含 pattern（正则或普通文字）。"""
        if isinstance(pattern, str):
            return any(pattern in line for line in self.lines())
        return any(pattern.search(line) for line in self.lines())
