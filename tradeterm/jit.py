"""编译内核的唯一入口：哪些函数由 numba 编译、怎样编译、什么时候才加载 numba。

两种函数：
- `@jitable`：纯 Python 的标量函数（成交规则、记账、仓位）。Python 调用方（逐事件回测、模拟盘、沙盒、引擎）直接执行它，
  不加载 numba、也没有编译缓存要读；被编译内核引用时，由 numba 把同一份源码编进内核（`numba.extending.register_jitable`）。
- `@kernel(签名)`：数组内核（快速路径、权益曲线、指标递推），第一次调用时选定实现：
  1. 预编译模块（AOT，`python -m tradeterm.aot build` 生成 `tradeterm/_aot_<源码指纹>.so`，见 tradeterm/aot.py）：导入只要几毫秒，不加载 numba；
  2. 没有（或源码已改、指纹不符）时用 `numba.njit(cache=True)`：第一次编译，之后从 `__pycache__` 的磁盘缓存加载。

为什么：numba 在一个进程里第一次被用到时要导入自己（约 0.2 秒）并初始化类型与代码生成的注册表（约 0.3 秒，装了 scipy 时
再加约 0.2 秒：numba 借 scipy.linalg 检查 BLAS），每加载一个缓存的入口函数再要 1-3 毫秒。控制台启动、30k 根 K 线的回测
这类几百毫秒的任务，这就是最大的一块。标量规则改成纯 Python 后，只有真正处理整段数组的内核还需要编译代码；
预编译模块把这最后一块也从启动路径上拿掉。

njit 的磁盘缓存按“源码戳”判断是否过期，numba 默认只看内核自己所在的文件；内核里编进了别的文件的 jitable 函数，
只改那个文件时缓存不会失效（快速路径会用旧的成交规则）。所以这里给 tradeterm 的内核换上自己的缓存定位器
（`KernelCacheLocator`）：位置同 numba 默认（源文件旁的 __pycache__），源码戳换成全部内核源码的指纹。

同一份源码两种执行方式，结果逐位相同：numba 默认不开 fastmath（不重排、不合并浮点运算），每一步都是同样的
IEEE 754 双精度运算；tests/test_jit.py 在真实行情与随机数据上逐位比较预编译、njit 与纯 Python 三种执行。
预编译模块的签名固定（float64 数组等）：参数的 dtype 或维数不符时这次调用改走 njit（按实际类型编译），
所以对调用方来说行为与 njit 完全相同。

环境变量 TRADETERM_KERNELS：auto（默认，有预编译模块就用）、jit（只用 njit）、aot（必须用预编译模块，缺失时报错）；
TRADETERM_KERNELS_DIR：到这个目录找预编译模块（`build --output DIR` 的输出），而不是包目录。
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

# 包目录（预编译模块放在这里，作为 tradeterm 的子模块导入）
PACKAGE_DIR = Path(__file__).resolve().parent
# 含内核或 jitable 函数的模块（预编译时全部导入；它们的源码决定指纹）
KERNEL_MODULES = ("tradeterm.execution.fills", "tradeterm.backtest.accounting", "tradeterm.sizing.sizers",
                  "tradeterm.backtest.fast", "tradeterm.backtest.results", "tradeterm.indicators._kernels")
# 预编译模块名的前缀（完整名字为 前缀 + 源码指纹）
AOT_PREFIX = "_aot_"
# 源码指纹的长度，十六进制位数
KEY_DIGITS = 16
# 选择实现的环境变量及其取值
MODE_VARIABLE = "TRADETERM_KERNELS"
# 预编译模块所在目录的环境变量（不设时在包目录里找）
DIR_VARIABLE = "TRADETERM_KERNELS_DIR"
# 可用的实现选择：auto（有预编译模块就用）、jit（只用 njit）、aot（必须用预编译模块）
MODES = ("auto", "jit", "aot")
# 签名里的标量/数组元素类型 -> numpy dtype 名
DTYPES = {"f8": "float64", "i8": "int64", "b1": "bool"}

# 已登记的 jitable 函数：(函数, numba 的 inline 选项)
_JITABLES: list[tuple[Callable, str]] = []
# 已登记的内核（预编译时逐个导出）
_KERNELS: list["Kernel"] = []
# numba 是否已就绪（jitable 已注册、内核的类型已登记）
_numba_ready = False
# 保护 numba 的一次性准备与预编译模块的加载（回测屏在后台线程里运行回测）
_lock = threading.RLock()
# 预编译模块的加载结果：None 表示还没找过；False 表示没有可用的
_aot_module: Any = None


def jitable(function: Callable | None = None, *, inline: str = "never") -> Callable:
    """把纯 Python 标量函数登记为“可被内核编译”：Python 调用时原样执行，被 `@kernel` 引用时编进内核。

    inline 为 numba 的内联选项（"always" 在编译器的中间表示层面内联，只影响编译，不影响结果）。
    可写成 `@jitable` 或 `@jitable(inline="always")`；返回函数本身（Python 调用没有任何额外开销）。
    """
    def register(fn: Callable) -> Callable:
        """登记 fn；numba 已就绪时立刻向它注册。"""
        with _lock:
            _JITABLES.append((fn, inline))
            if _numba_ready:
                _register_jitable(fn, inline)
        return fn

    return register(function) if function is not None else register


def kernel(signature: str) -> Callable[[Callable], "Kernel"]:
    """把数组函数声明为编译内核；signature 为 numba 签名字符串，如 "f8[:](f8[:], i8)"（预编译模块用它导出）。"""
    def wrap(fn: Callable) -> Kernel:
        """造出内核对象。"""
        return Kernel(fn, signature)

    return wrap


class Kernel:
    """一个编译内核：可像函数一样调用；第一次调用时选定预编译实现或 njit（见模块说明），之后直接转发。"""

    def __init__(self, function: Callable, signature: str):
        """function 为内核的 Python 源函数，signature 为它的 numba 签名字符串。"""
        # Python 源函数（与 numba 调度器的 py_func 同名同义：纯 Python 执行它即得同样的结果）
        self.py_func = function
        # numba 签名字符串（预编译导出用）
        self.signature = signature
        # 每个参数的 (dtype 名, 维数)：预编译实现只接受与之完全相符的参数
        self.arguments = parse_arguments(signature)
        # 预编译模块里的导出名：模块路径的点换成下划线，再接两个下划线与函数名
        self.export_name = f"{function.__module__.replace('.', '_')}__{function.__name__}"
        # njit 调度器；第一次需要时才创建（那时才导入 numba）
        self._dispatcher: Any = None
        # 当前实现：选定之前是 _resolve，之后是预编译的包装或 njit 调度器
        self._impl: Callable = self._resolve
        functools.update_wrapper(self, function)
        with _lock:
            _KERNELS.append(self)

    def __call__(self, *args: Any) -> Any:
        """调用内核（只接受位置参数，与预编译实现一致）。"""
        return self._impl(*args)

    def __repr__(self) -> str:
        """调试显示：函数名与当前实现。"""
        return f"<kernel {self.py_func.__module__}.{self.py_func.__name__} ({self.implementation})>"

    @property
    def implementation(self) -> str:
        """当前实现：unresolved（还没调用过）、aot（预编译）或 jit（njit）。"""
        if self._impl == self._resolve:
            return "unresolved"
        return "jit" if self._impl is self._dispatcher else "aot"

    def dispatcher(self) -> Any:
        """本内核的 njit 调度器（cache=True；第一次调用时导入并准备 numba）。"""
        if self._dispatcher is None:
            with _lock:
                if self._dispatcher is None:
                    prepare_numba()
                    import numba

                    self._dispatcher = numba.njit(cache=True)(self.py_func)
        return self._dispatcher

    def _resolve(self, *args: Any) -> Any:
        """第一次调用：按 TRADETERM_KERNELS 选定实现，记下它，再执行这次调用。"""
        mode = kernel_mode()
        compiled = None
        if mode != "jit":
            module = aot_module()
            compiled = getattr(module, self.export_name, None) if module else None
            if compiled is None and mode == "aot":
                raise RuntimeError(f"{MODE_VARIABLE}=aot but there is no up-to-date precompiled kernel "
                                   f"{self.export_name}; run 'python -m tradeterm.aot build' or unset {MODE_VARIABLE}")
        self._impl = self._checked(compiled) if compiled is not None else self.dispatcher()
        return self._impl(*args)

    def _checked(self, compiled: Callable) -> Callable:
        """预编译实现的包装：参数与签名完全相符时调用它，否则（其他 dtype、维数、列表……）交给 njit。

        为什么要检查：预编译的入口不核对数组的 dtype（整数数组会被当成浮点数读），列表之类甚至会让进程崩溃。"""
        arguments = self.arguments
        fits = argument_checker(arguments)

        def call(*args: Any) -> Any:
            """参数相符走预编译实现，否则走 njit。"""
            if len(args) == len(arguments) and fits(args):
                return compiled(*args)
            return self.dispatcher()(*args)

        return call


def kernels() -> list[Kernel]:
    """已登记的全部内核（按定义顺序；预编译时逐个导出）。"""
    with _lock:
        return list(_KERNELS)


def jitables() -> list[Callable]:
    """已登记的全部 jitable 函数（按定义顺序）。"""
    with _lock:
        return [fn for fn, _ in _JITABLES]


def argument_checker(arguments: list[tuple[str, int]]) -> Callable[[tuple], bool]:
    """按签名的参数表造一个检查函数：实参是否可以原样交给预编译实现（数组：ndarray、dtype 与维数相同；
    浮点：int/float 或 numpy 数值；整数：int 或 numpy 整数；布尔：bool 或 numpy.bool_；浮点与整数不接受布尔）。"""
    import numpy as np

    # 数组参数：(位置, dtype, 维数)
    arrays = [(i, np.dtype(dtype), ndim) for i, (dtype, ndim) in enumerate(arguments) if ndim]
    # 标量参数：(位置, 允许的类型, 是否为布尔参数)
    allowed = {"float64": (float, int, np.floating, np.integer), "int64": (int, np.integer), "bool": (bool, np.bool_)}
    scalars = [(i, allowed[dtype], dtype == "bool") for i, (dtype, ndim) in enumerate(arguments) if not ndim]

    def fits(args: tuple) -> bool:
        """逐个参数检查（调用方已保证个数相同）。"""
        for i, dtype, ndim in arrays:
            value = args[i]
            if type(value) is not np.ndarray or value.dtype != dtype or value.ndim != ndim:
                return False
        for i, types, boolean in scalars:
            value = args[i]
            if not isinstance(value, types) or (type(value) is bool and not boolean):
                return False
        return True

    return fits


def parse_arguments(signature: str) -> list[tuple[str, int]]:
    """从 numba 签名字符串取出参数表：[(dtype 名, 维数)]；如 "f8[:](f8[:], i8)" -> [("float64", 1), ("int64", 0)]。

    只支持内核用到的写法：f8 / i8 / b1 标量与它们的数组（f8[:]、i8[:, :]）；其他写法是内核声明的错误。"""
    if not signature.endswith(")"):
        raise ValueError(f"kernel signature {signature!r} must end with the argument list, e.g. 'f8[:](f8[:], i8)'")
    depth = 0
    for start in range(len(signature) - 1, -1, -1):
        depth += {")": 1, "(": -1}.get(signature[start], 0)
        if depth == 0:
            break
    body = signature[start + 1:-1]
    tokens, depth, current = [], 0, ""
    for char in body:
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            tokens.append(current.strip())
            current = ""
        else:
            current += char
    if current.strip():
        tokens.append(current.strip())
    out = []
    for token in tokens:
        base = token.split("[")[0].strip()
        if base not in DTYPES:
            raise ValueError(f"kernel signature {signature!r}: argument type {token!r} is not one of "
                             f"{', '.join(DTYPES)} (or an array of them)")
        out.append((DTYPES[base], token.count(":")))
    return out


def kernel_mode() -> str:
    """环境变量 TRADETERM_KERNELS 的取值（auto、jit、aot）；其他值是用户错误，报出可用的取值。"""
    mode = os.environ.get(MODE_VARIABLE, "auto").strip().lower() or "auto"
    if mode not in MODES:
        raise ValueError(f"{MODE_VARIABLE}={mode!r}: use one of {', '.join(MODES)}")
    return mode


def source_key() -> str:
    """内核源码的指纹：KERNEL_MODULES 与本模块的源文件内容的 SHA-256 前 KEY_DIGITS 位（十六进制）。

    直接读文件而不导入模块（导入会带进 pandas 等）；预编译模块的名字带着它，源码一改，旧的预编译模块就不会被用。"""
    digest = hashlib.sha256()
    for path in source_files():
        digest.update(path.relative_to(PACKAGE_DIR).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:KEY_DIGITS]


def source_files() -> list[Path]:
    """决定指纹的源文件：KERNEL_MODULES 的 .py 文件、本文件与预编译脚本 aot.py。"""
    files = [PACKAGE_DIR.joinpath(*name.split(".")[1:]).with_suffix(".py") for name in KERNEL_MODULES]
    return [*files, PACKAGE_DIR / "jit.py", PACKAGE_DIR / "aot.py"]


def aot_module_name(key: str | None = None) -> str:
    """预编译模块的名字（不含包名）：_aot_ + 源码指纹。"""
    return AOT_PREFIX + (key or source_key())


def aot_module() -> Any:
    """与当前源码相符的预编译模块；没有（没编译过、源码改过、导入失败）时返回 None。结果在进程里只找一次。

    设了 TRADETERM_KERNELS_DIR 时到那个目录里找，否则在包目录里（作为 tradeterm 的子模块导入）。"""
    global _aot_module
    if _aot_module is None:
        with _lock:
            if _aot_module is None:
                directory = os.environ.get(DIR_VARIABLE)
                try:
                    if directory:
                        _aot_module = load_aot_file(find_aot_file(Path(directory)))
                    else:
                        _aot_module = importlib.import_module(f"{__package__}.{aot_module_name()}")
                except ImportError:  # 没编译过，或与当前的 numpy/Python 不兼容：用 njit
                    _aot_module = False
    return _aot_module or None


def find_aot_file(directory: Path) -> Path | None:
    """directory 里与当前源码指纹、当前解释器（扩展模块后缀，如 .cpython-311-x86_64-linux-gnu.so）相符的预编译模块文件；
    没有时返回 None。"""
    from importlib.machinery import EXTENSION_SUFFIXES

    name = aot_module_name()
    return next((path for suffix in EXTENSION_SUFFIXES if (path := Path(directory) / f"{name}{suffix}").is_file()), None)


def load_aot_file(path: Path | None) -> Any:
    """按文件路径导入一个预编译模块（不经过包的导入路径）；path 为 None 或导入失败时抛 ImportError。"""
    import importlib.util

    if path is None:
        raise ImportError("no precompiled kernel module for the current sources")
    spec = importlib.util.spec_from_file_location(path.name.split(".")[0], path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path}: not an extension module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def prepare_numba() -> None:
    """导入 numba 并做一次性准备：注册全部 jitable 函数，登记内核对象的 numba 类型（内核里调用别的内核时要用）。"""
    global _numba_ready
    with _lock:
        if _numba_ready:
            return
        from numba.core import types
        from numba.extending import typeof_impl

        for fn, inline in _JITABLES:
            _register_jitable(fn, inline)
        _install_cache_locator()

        @typeof_impl.register(Kernel)
        def _typeof_kernel(value: Kernel, context: Any) -> Any:
            """内核里引用另一个内核：numba 把它当作那个内核的 njit 调度器（编进调用方）。"""
            return types.Dispatcher(value.dispatcher())

        _numba_ready = True


def _install_cache_locator() -> None:
    """让 tradeterm 内核的 njit 缓存以全部内核源码的指纹为源码戳（见模块说明）；用户设了 NUMBA_CACHE_DIR 时不接管。

    用的是 numba 0.68 公开的定位器类（numba.core.caching.InTreeCacheLocator、CacheImpl 的定位器列表，
    NUMBA_CACHE_LOCATOR_CLASSES 也是这套机制）；numba 的版本在 pyproject.toml 里锁在 0.68.x。"""
    from numba.core import caching, config

    key = source_key()

    class KernelCacheLocator(caching.InTreeCacheLocator):
        """tradeterm 内核的缓存定位器：缓存放在源文件旁的 __pycache__（同 numba 默认），源码戳为全部内核源码的指纹。"""

        def get_source_stamp(self) -> str:
            """源码戳：任何一个内核源文件改了，所有内核的缓存都失效（编进内核的 jitable 可能来自别的文件）。"""
            return key

        @classmethod
        def from_function(cls, py_func: Callable, py_file: str) -> Any:
            """只接管包目录里的函数；用户设了 NUMBA_CACHE_DIR 时交回 numba 的定位器。"""
            if config.CACHE_DIR or not Path(py_file).resolve().is_relative_to(PACKAGE_DIR):
                return None
            return super().from_function(py_func, py_file)

    caching.CacheImpl._locator_classes.insert(0, KernelCacheLocator)


def _register_jitable(fn: Callable, inline: str) -> None:
    """向 numba 注册一个 jitable 函数（之后编译的内核里可以调用它）。"""
    from numba.extending import register_jitable

    register_jitable(inline=inline)(fn)
