"""配置块的公共基类与取值检查：每个配置块（tradeterm/config/schema.py、tradeterm/config/notify.py）都从 Block 派生。

取值规则在 Block 里统一执行，不逐个键写：数字必须有限（.inf、"inf"、Infinity、1e400、.nan 都拒绝），布尔不当数字用，
数字也不当布尔用；路径不能含 NUL 或过长。
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from tradeterm.config.values import is_bool_field, numeric_kind, show
from tradeterm.journal.paths import MAX_PATH_BYTES, path_text_problem


class Block(BaseModel):
    """所有配置块的基类：禁止未知键，赋值时也校验；数字只收有限的数（不收布尔），布尔只收布尔，路径不含 NUL。"""

    # 未知键报错（拼写错误不会被悄悄忽略）；赋值时重新校验；浮点数拒绝 inf 与 nan（含 "inf"、1e400 这样的文字）
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _strict_scalars(cls, value: Any, info: ValidationInfo) -> Any:
        """按字段类型统一检查：数字键不收 true/false，布尔键只收 true/false，路径键不收 NUL 与过长的文字。"""
        field = cls.model_fields.get(info.field_name) if info.field_name else None
        if field is None:
            return value
        annotation = field.annotation
        if isinstance(value, bool) and numeric_kind(annotation) is not None:
            raise PydanticCustomError("bool_not_number", "{value} is a boolean, not a number", {"value": show(value)})
        if is_bool_field(annotation) and value is not None and not isinstance(value, bool):
            raise PydanticCustomError("strict_bool", "{value} is not true or false", {"value": show(value)})
        if is_path_field(annotation):
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, str) and ("\0" in item or len(item.encode("utf-8", "replace")) > MAX_PATH_BYTES):
                    raise value_problem(path_text_problem(item) or f"{show(item)} is not a usable path")
        return value


def checked_path_text(value: Any, example: str) -> Any:
    """文件路径键（转成 Path 之前）：文字本身有问题（空、NUL、过长、以 / 结尾）时抛出说明，否则原样返回。
    example 为修正建议里的示例文件名。"""
    problem = path_text_problem(value, example=example) if isinstance(value, str) else None
    if problem:
        raise value_problem(problem)
    return value


def value_problem(text: str) -> PydanticCustomError:
    """一条已经写明取值与修正方法的说明，加载器原样接在键路径后面（不再加 "got ..."）。"""
    return PydanticCustomError("value_problem", "{problem}", {"problem": text})


def is_path_field(annotation: Any) -> bool:
    """字段注解里有没有 Path（Path、Path | None、list[Path]）。"""
    return annotation is Path or any(is_path_field(arg) for arg in typing.get_args(annotation))
