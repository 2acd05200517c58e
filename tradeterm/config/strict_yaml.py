"""严格的 YAML 读取（config.yml、--risk-config、--param 的值）：在 PyYAML 的 SafeLoader 上再拒绝几类输入。

拒绝的输入（每种都给出行号与键路径，一行英文说明）：
- 同一映射里重复的键（任意深度）：YAML 会悄悄只留最后一个，第二个 `fees:` 块或 `strategies: []` 会覆盖第一个；
- 锚点与别名（&x / *x）：别名炸弹（x0..x8，每层十个对上一层的引用）展开后有 10^9 个元素，在组装阶段就拒绝，
  不做任何展开；
- 嵌套深于 MAX_DEPTH 层：配置从不需要那么深，而 PyYAML 的组装是递归的，5,000 层会撞上 Python 的递归上限；
- 不是文字的键（`1:`、`yes:`、`null:`、合并键 `<<:`）与显式标签（`!!binary`、`!!python/...`）；
- 含孤立代理字符（"\uDCFF"）的文字。

另外按 YAML 1.2 读指数写法的数：PyYAML（YAML 1.1）把 `1e15`、`1.0e15` 读成文字，这里读成浮点数。
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.events import AliasEvent, MappingStartEvent, ScalarEvent, SequenceStartEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

# 允许的最大嵌套层数（映射与列表各算一层，顶层映射是第 1 层）；config.yml 最深的值（strategies[0].sizing.method）在第 4 层
MAX_DEPTH = 64
# YAML 核心标签的前缀
TAG_PREFIX = "tag:yaml.org,2002:"
# 允许显式写出的标签（!!str 123 强制为文字等）；'!' 是非特定标签（引号文字）
ALLOWED_TAGS = frozenset({"!", *(TAG_PREFIX + t for t in ("str", "int", "float", "bool", "null", "seq", "map"))})
# 文字类型的键的标签
STR_TAG = TAG_PREFIX + "str"
# 键被 YAML 解读成的类型 -> 说明里的叫法
KEY_KINDS = {TAG_PREFIX + "int": "a number", TAG_PREFIX + "float": "a number", TAG_PREFIX + "bool": "a boolean",
             TAG_PREFIX + "null": "null", TAG_PREFIX + "merge": "a merge key (<<)",
             TAG_PREFIX + "timestamp": "a date"}
# YAML 1.2 的指数写法（1e15、-2.5E-3、.5e3）；YAML 1.1 要求指数带符号且有小数点，否则当作文字
EXPONENT_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$")


# 孤立的 UTF-16 代理字符（YAML 的 "\uDCFF" 转义能写出来）：不是合法的 Unicode 文字，pydantic 与文件系统都收不了
SURROGATE = re.compile("[\ud800-\udfff]")


class StrictYAMLError(yaml.YAMLError):
    """严格读取拒绝的输入；`problem` 是一行完整的说明（含行号、键路径与修正方法）。"""

    def __init__(self, problem: str):
        """problem 为一行英文说明。"""
        # 一行说明：行号、键路径、问题与修正方法
        self.problem = problem
        super().__init__(problem)


class StrictLoader(yaml.SafeLoader):
    """SafeLoader 加上：拒绝重复键、锚点与别名、过深的嵌套、非文字的键与显式标签；按 YAML 1.2 读指数数。"""

    def __init__(self, stream: Any):
        """stream 为 YAML 文本或文件对象。"""
        super().__init__(stream)
        # 正在组装的值的键路径：每层一个标签（映射里的键名，或列表里的下标）
        self._path: list[str | int] = []
        # 每个映射（按 id）里已见过的键：键文字 -> 第一次出现的行号（从 1 起）
        self._seen: dict[int, dict[str, int]] = {}

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        """组装一个节点；在交给 PyYAML 之前检查别名、锚点、标签、键与深度。"""
        event = self.peek_event()
        line = event.start_mark.line + 1
        is_key = isinstance(parent, MappingNode) and index is None
        label = None if is_key else self._label(parent, index)
        if label is not None:
            self._path.append(label)
        try:
            self._check_event(event, line)
            if is_key:
                return self._compose_key(parent, event)
            # 这个映射或列表是第 len(path)+1 层（顶层的映射是第 1 层）
            if len(self._path) + 1 > MAX_DEPTH and isinstance(event, (MappingStartEvent, SequenceStartEvent)):
                raise StrictYAMLError(f"line {line}: {self._where()}value is nested deeper than {MAX_DEPTH} levels; "
                                      f"config values are never nested that deep")
            return super().compose_node(parent, index)
        finally:
            if label is not None:
                self._path.pop()

    def _check_event(self, event: Any, line: int) -> None:
        """拒绝别名、锚点与不允许的显式标签。"""
        if isinstance(event, AliasEvent) or getattr(event, "anchor", None) is not None:
            sign = "*" if isinstance(event, AliasEvent) else "&"
            raise StrictYAMLError(f"line {line}: {self._where()}YAML {'alias' if sign == '*' else 'anchor'} "
                                  f"'{sign}{event.anchor}' is not allowed in a config file (aliases can expand into "
                                  f"huge values); write the value out in full")
        if isinstance(event, ScalarEvent) and SURROGATE.search(event.value):
            char = SURROGATE.search(event.value).group()
            raise StrictYAMLError(f"line {line}: {self._where()}the text contains \\u{ord(char):04X}, a lone "
                                  f"surrogate that is not a valid character; remove it")
        tag = getattr(event, "tag", None)
        if tag is not None and tag not in ALLOWED_TAGS:
            shown = tag.replace(TAG_PREFIX, "!!")
            raise StrictYAMLError(f"line {line}: {self._where()}YAML tag '{shown}' is not allowed in a config file; "
                                  f"write a plain value")

    def _compose_key(self, parent: MappingNode, event: Any) -> Node:
        """组装映射里的一个键：只许是文字（不是数字、布尔、null、合并键或嵌套的结构）。"""
        line = event.start_mark.line + 1
        if not isinstance(event, ScalarEvent):
            raise StrictYAMLError(f"line {line}: {self._where()}a key must be a plain name, not a list or mapping")
        node = super().compose_node(parent, None)
        if node.tag != STR_TAG:
            kind = KEY_KINDS.get(node.tag, f"type {node.tag.removeprefix(TAG_PREFIX)}")
            raise StrictYAMLError(f"line {line}: {self._where()}key {node.value!r} is read by YAML as {kind}; keys must "
                                  f"be names (quote it, e.g. '{node.value}':, if you mean the text)")
        return node

    def _label(self, parent: Node | None, index: Any) -> str | int | None:
        """当前值在键路径里的标签；是映射的值时顺便检查键是否重复。"""
        if isinstance(parent, SequenceNode):
            return int(index)
        if isinstance(parent, MappingNode) and isinstance(index, ScalarNode):
            seen = self._seen.setdefault(id(parent), {})
            line = index.start_mark.line + 1
            if index.value in seen:
                first = seen[index.value]
                self._path.append(index.value)
                where = self._where().removesuffix(": ")
                self._path.pop()
                raise StrictYAMLError(f"line {line}: duplicate key '{where}' (first at line {first}, again at line "
                                      f"{line}); YAML would silently keep only the last one, so merge them into one")
            seen[index.value] = line
            return index.value
        return None

    def _where(self) -> str:
        """当前键路径加冒号（如 'strategies[0].params: '）；在顶层时为空串。过长的路径只显示头尾。"""
        parts = self._path if len(self._path) <= 8 else [*self._path[:4], "...", *self._path[-3:]]
        out = ""
        for part in parts:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
        return f"{out}: " if out else ""

    def compose_document(self) -> Node:
        """组装整个文档，之后丢掉每个映射的已见键表。"""
        try:
            return super().compose_document()
        finally:
            self._seen.clear()


StrictLoader.add_implicit_resolver(TAG_PREFIX + "float", EXPONENT_FLOAT, list("-+0123456789."))


def load_yaml(text: str) -> Any:
    """严格地读一段 YAML 文本；被拒绝时抛 StrictYAMLError，语法错误抛 yaml.YAMLError。"""
    loader = StrictLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def describe_yaml_error(exc: yaml.YAMLError) -> str:
    """YAML 错误 -> 一行说明（含行号与列号）。"""
    if isinstance(exc, StrictYAMLError):
        return exc.problem
    if isinstance(exc, yaml.reader.ReaderError):
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        return (f"character {exc.position}: unacceptable character #x{code:04x} ({exc.reason}); remove it, or "
                f"write it as an escape inside double quotes (e.g. \"\\t\")")
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    if context:
        problem = f"{context}, {problem}"
    return " ".join(f"{where}YAML syntax error: {problem}; check indentation and quoting".split())
