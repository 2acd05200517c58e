"""把控制台写给终端的字节流（ANSI 转义序列）还原成屏幕上的文字：测试据此读出浏览器里那一屏显示的是什么
（浏览器里的 xterm.js 收到的正是这些字节）。

只实现 Textual 的输出用到的那一小部分：光标定位（CSI 行;列 H）、换行与回车、按字符的显示宽度前进；其余 CSI（颜色 SGR、
模式切换）、OSC 与两字节的 ESC 序列都忽略。
"""

from __future__ import annotations

import codecs
import re

from rich.cells import get_character_cell_size

# 一个完整的转义序列或一个普通字符：CSI（参数 + 结尾字节）、OSC（到 BEL 或 ST 为止）、两字节的 ESC 序列、其他字符
TOKEN = re.compile(r"\x1b\[([0-?]*)[ -/]*([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]|[^\x1b]", re.S)
# 缓冲区末尾没收全的转义序列最多保留这么多个字符；更长还不完整就当作坏序列丢掉 ESC（不让解析卡住）
MAX_PENDING = 256


class TerminalScreen:
    """一块 width x height 的字符屏：feed() 喂进终端输出的字节（可以是任意切开的片段），lines() 读出每一行的文字。"""

    def __init__(self, width: int, height: int) -> None:
        """width、height 为终端的列数与行数。"""
        # 终端列数
        self.width = width
        # 终端行数
        self.height = height
        # 每个格子里的字符（宽字符占两格：第二格为空串，拼接时不多出空格）
        self.cells = [[" "] * width for _ in range(height)]
        # 光标所在的列与行（从 0 开始）
        self.x, self.y = 0, 0
        # UTF-8 的增量解码器：一个多字节字符可能被切在两段输出之间
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        # 上一段末尾还没收全的转义序列
        self.pending = ""

    def feed(self, data: bytes) -> None:
        """喂进一段终端输出。"""
        text = self.pending + self.decoder.decode(data)
        position = 0
        while position < len(text):
            match = TOKEN.match(text, position)
            if match is None:  # 只可能是末尾一个没收全的转义序列：留到下一段
                if len(text) - position <= MAX_PENDING:
                    break
                position += 1
                continue
            self._apply(match)
            position = match.end()
        self.pending = text[position:]

    def _apply(self, match: re.Match) -> None:
        """执行一个记号：光标定位、换行、回车，或把一个字符写在光标处。"""
        token = match.group(0)
        if match.group(2) is not None:
            params = match.group(1)
            if match.group(2) in "Hf" and not params.startswith("?"):
                row, _, column = params.partition(";")
                self.y, self.x = int(row or 1) - 1, int(column or 1) - 1
            return
        if token.startswith("\x1b"):
            return
        if token == "\n":
            self.y, self.x = self.y + 1, 0
        elif token == "\r":
            self.x = 0
        else:
            width = get_character_cell_size(token)
            if width and 0 <= self.y < self.height and 0 <= self.x < self.width:
                self.cells[self.y][self.x] = token
                if width == 2 and self.x + 1 < self.width:
                    self.cells[self.y][self.x + 1] = ""
            self.x += width

    def lines(self) -> list[str]:
        """屏幕上每一行的文字（行尾空格去掉）。"""
        return ["".join(row).rstrip() for row in self.cells]
