"""预编译 tradeterm 的 numba 内核（ahead of time）：`python -m tradeterm.aot build [--if-needed] [--output DIR]`，
以及 `python -m tradeterm.aot status` 查看当前用的是哪种实现。

生成的扩展模块名为 `_aot_<源码指纹>`（见 tradeterm/jit.py 的 source_key），默认放在包目录，作为 tradeterm 的子模块导入；
导入它不需要 numba。`make install` / `make run` / `make test` 会执行 `build --if-needed`（源码没变时什么也不做）。
编译用 numba.pycc（需要 C 编译器，经 setuptools 调用）；numba 0.68 里它仍完整可用，只是提示将来会被新的机制取代。
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

from tradeterm import jit


def build(output_dir: Path | None = None) -> Path:
    """预编译全部内核：导入 jit.KERNEL_MODULES，用 numba.pycc 生成 `_aot_<指纹>` 扩展模块，放进 output_dir（默认包目录），
    并删掉那里旧指纹的预编译模块。返回生成的文件路径。需要 C 编译器（numba.pycc 用 setuptools 调用它）。"""
    output_dir = Path(output_dir) if output_dir is not None else jit.PACKAGE_DIR
    key = jit.source_key()
    for name in jit.KERNEL_MODULES:
        importlib.import_module(name)
    defined = {k.py_func.__module__ for k in jit.kernels()} | {fn.__module__ for fn in jit.jitables()}
    outside = sorted(defined - set(jit.KERNEL_MODULES))
    if outside:
        # 这些模块的源码不在指纹里：改了它们，旧的预编译模块会被误用
        raise RuntimeError(f"kernels or jitable functions in modules outside KERNEL_MODULES: {', '.join(outside)}; "
                           f"add them to tradeterm.jit.KERNEL_MODULES")
    jit.prepare_numba()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numba.pycc 导入时提示“将被取代”（numba 0.68 仍完整支持）
        from numba.pycc import CC
    name = jit.aot_module_name(key)
    with tempfile.TemporaryDirectory(prefix="tradeterm-aot-") as scratch:
        compiler = CC(name)
        compiler.output_dir = scratch
        compiler.verbose = False
        for item in jit.kernels():
            compiler.export(item.export_name, item.signature)(item.py_func)
        compiler.compile()
        (built,) = Path(scratch).glob(f"{name}.*")
        output_dir.mkdir(parents=True, exist_ok=True)
        target = output_dir / built.name
        # 先复制到同目录的临时名再改名：正在运行的进程不会读到写了一半的模块
        partial = output_dir / f".{built.name}.{os.getpid()}.tmp"
        shutil.copyfile(built, partial)
        os.replace(partial, target)
    for old in output_dir.glob(f"{jit.AOT_PREFIX}*"):
        if old.name != target.name and not old.name.startswith(f"{name}."):
            old.unlink(missing_ok=True)
    return target


def status() -> dict[str, Any]:
    """当前的内核实现情况：选择模式、源码指纹、预编译模块是否可用及其文件。"""
    module = jit.aot_module() if jit.kernel_mode() != "jit" else None
    return {"mode": jit.kernel_mode(), "source_key": jit.source_key(), "aot": module is not None,
            "aot_file": getattr(module, "__file__", None)}


def main(argv: list[str] | None = None) -> int:
    """命令行：`python -m tradeterm.aot build [--output DIR]` 预编译；`python -m tradeterm.aot status` 查看状态。"""
    parser = argparse.ArgumentParser(prog="python -m tradeterm.aot",
                                     description="Precompile tradeterm's numba kernels (ahead of time) or show "
                                                 "which implementation is in use.")
    commands = parser.add_subparsers(dest="command", required=True)
    builder = commands.add_parser("build", help="compile every kernel into tradeterm/_aot_<key>.so (needs a C "
                                                "compiler); without it the kernels are compiled by numba on first use")
    builder.add_argument("--output", type=Path, default=None, help="directory for the module (default: the package)")
    builder.add_argument("--if-needed", action="store_true",
                         help="do nothing when an up-to-date module is already there (what 'make' runs)")
    commands.add_parser("status", help="print the kernel mode, the source key and whether the precompiled module "
                                       "is usable (JSON)")
    args = parser.parse_args(argv)
    if args.command == "build":
        existing = jit.find_aot_file(args.output or jit.PACKAGE_DIR) if args.if_needed else None
        if existing is not None:
            print(f"precompiled kernels are up to date: {existing}")
        else:
            print(f"precompiled kernels: {build(args.output)}")
    else:
        print(json.dumps(status()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
