"""用户的注释规则（以测试强制执行）：每个模块、类、函数、方法都有文档字符串；每个属性都有注释。

“属性”指：类体里的赋值（含 dataclass 字段与类属性）、`__init__` 里对 self.x 的赋值、模块级的大写常量。
注释可以写在同一行末尾，也可以写在紧挨着的上一行；多行语句的任一行带注释即可。
注释用 tokenize 识别，字符串里的 # 不算。检查范围：tradeterm/、strategies/、tests/、bench/。
"""

from __future__ import annotations

import ast
import io
import sys
import tokenize
from pathlib import Path

# 仓库根目录
ROOT = Path(__file__).resolve().parents[1]
# 受规则约束的目录
CHECKED_DIRS = ("tradeterm", "strategies", "tests", "bench")


def comment_lines(source: str) -> set[int]:
    """源码中带注释的行号集合（只算真正的 # 注释 token）。"""
    lines: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            lines.add(token.start[0])
    return lines


def has_comment(stmt: ast.stmt, comments: set[int], lines: list[str]) -> bool:
    """语句的任一行、或紧挨的上一行（整行注释）带注释。"""
    end = getattr(stmt, "end_lineno", stmt.lineno) or stmt.lineno
    if any(n in comments for n in range(stmt.lineno, end + 1)):
        return True
    above = stmt.lineno - 1
    return above >= 1 and above in comments and lines[above - 1].strip().startswith("#")


def self_targets(stmt: ast.stmt) -> list[str]:
    """赋值语句里形如 self.x 的目标名。"""
    if isinstance(stmt, ast.Assign):
        targets = stmt.targets
    elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
        targets = [stmt.target]
    else:
        return []
    return [t.attr for t in targets
            if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self"]


def module_constant(stmt: ast.stmt) -> str | None:
    """模块级大写常量的名字（如 DEFAULT_BARS = 100）；其他返回 None。"""
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target] if isinstance(stmt, ast.AnnAssign) else []
    for target in targets:
        if isinstance(target, ast.Name) and target.id.isupper() and target.id != "__ALL__":
            return target.id
    return None


def findings(path: Path) -> list[str]:
    """一个文件里违反规则的地方，每条一行：路径:行号: 说明。"""
    source = path.read_text(encoding="utf-8")
    if not source.strip():
        return []
    tree = ast.parse(source)
    comments, lines = comment_lines(source), source.splitlines()
    rel = path.relative_to(ROOT)
    out = []
    if not ast.get_docstring(tree):
        out.append(f"{rel}:1: module has no docstring")
    for stmt in tree.body:
        name = module_constant(stmt)
        if name and not has_comment(stmt, comments, lines):
            out.append(f"{rel}:{stmt.lineno}: module constant {name} has no comment")
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and not ast.get_docstring(node):
            out.append(f"{rel}:{node.lineno}: {node.name} has no docstring")
        if isinstance(node, ast.ClassDef):
            for stmt in node.body:
                if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and not has_comment(stmt, comments, lines):
                    out.append(f"{rel}:{stmt.lineno}: class attribute in {node.name} has no comment")
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "__init__":
            for stmt in ast.walk(node):
                for attr in self_targets(stmt):
                    if not has_comment(stmt, comments, lines):
                        out.append(f"{rel}:{stmt.lineno}: attribute self.{attr} has no comment")
    return out


def python_files() -> list[Path]:
    """受检目录下的全部 .py 文件。"""
    return sorted(p for d in CHECKED_DIRS if (ROOT / d).is_dir() for p in (ROOT / d).rglob("*.py"))


def test_every_definition_has_a_docstring_and_every_attribute_a_comment():
    """全仓库检查：任何缺失都列出来（文件:行号: 什么缺了）。"""
    files = python_files()
    assert len(files) > 10, "the checker found too few files; is ROOT right?"
    problems = [line for path in files for line in findings(path)]
    assert not problems, "comment rule broken:\n" + "\n".join(problems)


def test_checker_catches_missing_docstring_and_uncommented_attribute(tmp_path, monkeypatch):
    """规则检查器本身要能抓到问题：无文档字符串的函数、无注释的 self 属性与类属性、字符串里的 # 不算注释。"""
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    bad = tmp_path / "bad.py"
    bad.write_text('"""模块。"""\n\nLIMIT = 3\n\n\nclass A:\n    """类。"""\n\n    size = 1\n\n'
                   '    def __init__(self):\n        """构造。"""\n        self.x = "# not a comment"\n\n'
                   '    def f(self):\n        return 1\n', encoding="utf-8")
    found = "\n".join(findings(bad))
    assert "module constant LIMIT has no comment" in found
    assert "class attribute in A has no comment" in found
    assert "attribute self.x has no comment" in found
    assert "f has no docstring" in found
