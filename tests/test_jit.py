"""编译内核（tradeterm/jit.py、tradeterm/aot.py）：同一份源码的三种执行——预编译模块、njit、纯 Python——逐位相同；
预编译实现只接收与签名完全相符的参数（其余交给 njit，结果照样相同）；用预编译模块时控制台与回测的路径上不加载 numba；
任何一个内核源文件改了，指纹就变（旧的预编译模块与 njit 缓存都不再被用）。

预编译模块：包目录里有与当前源码相符的就用它（make 会生成），否则编译一份到临时目录（十几秒，只在改了源码而没有
重新 make 时）。“加载了什么”在新的子进程里检查：本测试进程早已导入了 numba。这里不断言任何耗时。
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import BTC_USDT_1M
from tradeterm import aot, jit
from tradeterm.backtest.fast import simulate
from tradeterm.indicators import _kernels  # noqa: F401  （登记指标内核与它们的 jitable 辅助函数）

# 每个内核的参数个数以外的整数参数取值：周期（K 线根数）
PERIODS = (1, 2, 5, 14, 30)
# jitable 标量函数里按参数名取固定集合的参数：方向只取 ±1，仓位方法只取三种内置方法
DISCRETE_PARAMETERS = {"side": st.sampled_from([-1, 1]), "method": st.sampled_from([0, 1, 2])}
# 任意 64 位浮点数（含 NaN、±inf、极大极小值）
ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True, width=64)


def closes(bars) -> np.ndarray:
    """真实收盘价（连续 float64）。"""
    return np.ascontiguousarray(bars["close"].to_numpy(dtype=np.float64))


def with_gaps(values: np.ndarray) -> np.ndarray:
    """插入 NaN、inf 与负值的副本（指标内核的缺失值与符号保护路径）。"""
    out = values.copy()
    out[:5] = np.nan
    out[100:103] = np.inf
    out[200] = np.nan
    out[300:340] = -out[300:340]
    return out


def simulate_cases(bars) -> list[tuple]:
    """快速路径内核的参数组：稀疏的随机信号、有/无止损止盈列、现货/合约、滑点、交易所规则与移动止损。"""
    o, h, lo, c = (np.ascontiguousarray(bars[k].to_numpy(dtype=np.float64)) for k in ("open", "high", "low", "close"))
    n = len(c)
    rng = np.random.default_rng(13)
    flags = [rng.random(n) < 0.01 for _ in range(4)]
    stops = np.where(rng.random(n) < 0.5, c * 0.995, np.nan)
    targets = np.where(rng.random(n) < 0.5, c * 1.01, np.inf)
    capacity = sum(int(f.sum()) for f in flags) + 1
    empty = np.empty(0)
    return [
        (o, h, lo, c, *flags, empty, empty, 10_000.0, 0.001, 0.001, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 1.0, 0.0, False,
         capacity),
        (o, h, lo, c, *flags, stops, targets, 10_000.0, 0.001, 0.0005, 3.0, 0.01, 0.00001, 0.00001, 5.0, 1, 0.3,
         0.004, True, capacity),
        (o, h, lo, c, *flags, stops, empty, 2_000.0, 0.0, 0.0, 1.0, 0.01, 0.001, 0.001, 10.0, 2, 250.0, 0.01, True,
         capacity),
    ]


def pnl_cases(bars) -> list[tuple]:
    """权益曲线内核的参数组：快速路径内核在真实行情上的交易，外加一笔未平仓的交易。"""
    c = closes(bars)
    out = []
    for case in simulate_cases(bars)[:2]:
        ints, floats, count, *_ = simulate.dispatcher()(*case)
        is_open = np.zeros(count + 1, dtype=np.bool_)
        is_open[-1] = True
        last = (len(c) - 50, len(c) - 1, 1)
        columns = [np.append(ints[:count, j], last[j]).astype(np.int64) for j in range(3)]
        columns += [np.append(floats[:count, j], value) for j, value in ((0, c[-50]), (2, 0.5), (3, 1.0), (5, 0.0))]
        out.append((c, *columns, is_open))
    return out


def kernel_cases(bars) -> dict[str, list[tuple]]:
    """每个内核（按导出名）的参数组；test_every_kernel_has_cases 保证新加的内核也在这里。"""
    c = closes(bars)
    gappy = with_gaps(c)
    flat = np.repeat([5.0, 5.0, 7.0], 400)
    prefix = "tradeterm_indicators__kernels__"
    return {
        f"{prefix}first_valid": [(gappy,), (np.full(10, np.nan),), (c,)],
        f"{prefix}ema_kernel": [(c, p, 2.0 / (p + 1.0)) for p in PERIODS] + [(gappy, 14, 1.0 / 14), (c[:3], 5, 0.5)],
        f"{prefix}wilder_rsi_kernel": [(c, p) for p in PERIODS] + [(flat, 14), (c[:10], 14)],
        f"{prefix}rolling_moments_kernel": [(c, p) for p in PERIODS] + [(gappy, 20), (flat, 3)],
        f"{prefix}rolling_std_kernel": [(c, 20), (gappy, 5), (flat, 4)],
        f"{prefix}rolling_mean_kernel": [(c, p) for p in PERIODS] + [(gappy, 7), (flat, 3), (-c, 4)],
        "tradeterm_backtest_fast__simulate": simulate_cases(bars),
        "tradeterm_backtest_results__pnl_curve_kernel": pnl_cases(bars),
    }


def meaningful(kernel: jit.Kernel, result):
    """内核结果里有意义的部分：快速路径的交易与拒绝矩阵只取已写入的行（其余是未初始化的内存）。"""
    if kernel.py_func is simulate.py_func:
        ints, floats, count, rejects, rejected, state = result
        return ints[:count], floats[:count], count, rejects[:rejected], rejected, state
    return result


def bits(value):
    """可逐位比较的形式：浮点数看 64 位（-0.0 与 0.0 不同），其他数组与标量原样，元组逐项。

    NaN 一律换成同一个 NaN 再比：NaN 的符号与载荷 IEEE 754 不规定、LLVM 也不保证（inf - inf 得到的 NaN 经过不同的
    指令选择可能带不同的符号位），而 NaN 在任何比较与运算里都一样。"""
    if isinstance(value, tuple):
        return tuple(bits(v) for v in value)
    if isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        if array.dtype == np.float64:
            array = np.where(np.isnan(array), np.nan, array).view(np.uint64)
        return (value.dtype.str, array.shape, array.tobytes())
    if isinstance(value, float):
        return ("float", "nan" if value != value else np.float64(value).view(np.uint64).item())
    return (type(value).__name__, value)


@pytest.fixture(scope="session")
def aot_dir(tmp_path_factory):
    """与当前源码相符的预编译模块所在目录：包目录里有就用它，否则编译一份到临时目录。"""
    if jit.find_aot_file(jit.PACKAGE_DIR) is not None:
        return jit.PACKAGE_DIR
    if not any(shutil.which(name) for name in ("cc", "gcc", "clang")):
        pytest.skip("no C compiler on this machine: numba.pycc cannot precompile the kernels (njit is used instead)")
    output = tmp_path_factory.mktemp("aot")
    aot.build(output)
    return output


@pytest.fixture(scope="session")
def cases(btc_bars):
    """全部内核的参数组（真实的 BTC/USDT 1 分钟 K 线，30,240 根）。"""
    return kernel_cases(btc_bars)


@pytest.fixture(scope="session")
def short_cases(btc_bars):
    """同样的参数组，只用前 1,500 根 K 线（纯 Python 执行内核源码要慢上千倍）。"""
    return kernel_cases(btc_bars.iloc[:1_500].reset_index(drop=True))


def test_every_kernel_has_cases(cases):
    """每个登记的内核都有参数组（新加的内核必须在 kernel_cases 里给出，下面的逐位比较才覆盖它）。"""
    assert {k.export_name for k in jit.kernels()} == set(cases)


def test_precompiled_kernels_equal_njit_bit_for_bit(aot_dir, cases):
    """预编译模块里的每个内核与 njit 编译的同一份源码在真实行情上逐位相同。"""
    module = jit.load_aot_file(jit.find_aot_file(aot_dir))
    for kernel in jit.kernels():
        for args in cases[kernel.export_name]:
            precompiled = meaningful(kernel, getattr(module, kernel.export_name)(*args))
            assert bits(precompiled) == bits(meaningful(kernel, kernel.dispatcher()(*args))), kernel


def test_python_execution_of_the_kernels_equals_njit_bit_for_bit(short_cases):
    """纯 Python 执行内核源码（py_func，其中的 jitable 函数也按 Python 执行）与 njit 的结果逐位相同。"""
    for kernel in jit.kernels():
        for args in short_cases[kernel.export_name]:
            with np.errstate(invalid="ignore"):  # numpy 标量上的 inf - inf（编译后的代码不报告）
                python = meaningful(kernel, kernel.py_func(*args))
            assert bits(python) == bits(meaningful(kernel, kernel.dispatcher()(*args))), kernel


def scalar_jitables() -> list:
    """参数全是标量的 jitable 函数（成交规则、记账、仓位；写交易矩阵的辅助函数除外）。"""
    return [fn for fn in jit.jitables()
            if not {"ints", "floats", "rejects"} & set(inspect.signature(fn).parameters)]


@pytest.mark.fuzz
@pytest.mark.parametrize("function", scalar_jitables(), ids=lambda fn: f"{fn.__module__}.{fn.__name__}")
def test_jitable_functions_give_the_same_bits_in_python_and_compiled(function):
    """同一个 jitable 函数，Python 直接执行与 numba 编译后执行，对任意浮点输入（NaN、inf、极值）结果逐位相同，
    或者抛出同一种异常（除以 0）。"""
    import numba

    jit.prepare_numba()  # 函数里调用的其他 jitable 要先向 numba 注册
    compiled = numba.njit(function)
    names = list(inspect.signature(function).parameters)
    arguments = st.tuples(*(DISCRETE_PARAMETERS.get(name, ANY_FLOAT) for name in names))

    def outcome(fn, args):
        """结果的逐位形式，或异常的类型名。"""
        try:
            return bits(fn(*args))
        except ArithmeticError as exc:
            return ("raises", type(exc).__name__)

    @given(arguments)
    def check(args):
        """一组参数。"""
        assert outcome(function, args) == outcome(compiled, args), args

    check()


def run_child(code: str, **env: str) -> dict:
    """在新的 Python 进程里执行 code（最后一行打印 JSON），带上额外的环境变量，返回那个 JSON。"""
    child_env = {k: v for k, v in os.environ.items() if k not in (jit.MODE_VARIABLE, jit.DIR_VARIABLE)}
    child_env.update(env)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=child_env,
                          cwd=jit.PACKAGE_DIR.parent)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


# 子进程里跑一遍控制台与回测路径上用到内核的代码，报告 numba 是否被加载
NO_NUMBA_CHILD = f"""
import json, sys
import numpy as np
from tradeterm.sandbox.sources import load_synthetic_markets
from tradeterm.execution.fills import affordable_amount, order_reject_reason, round_amount
from tradeterm.sizing.sizers import Sizer
from tradeterm import indicators as ta
from tradeterm.data.csv import load_ohlcv_csv
from tradeterm.backtest.engine import BacktestSettings, InstanceSpec, run_backtest
from tradeterm.strategy.loader import build_strategy, load_strategy_class
from tradeterm.backtest.fast import simulate
from tradeterm.indicators._kernels import rolling_mean_kernel

markets, start = load_synthetic_markets(("BTC/USDT", "ETH/USDT"), history_bars=500)
market = markets["BTCUSDT"]
market.ticker(start + 90_000)
round_amount(affordable_amount(1000.0, 100.0, 0.001, 0.00001), 0.00001)
order_reject_reason(0.01, 100.0, 0.00001, 5.0)
Sizer()(1000.0, 100.0, 0.001)
sandbox = "numba" in sys.modules
bars = load_ohlcv_csv({str(BTC_USDT_1M)!r})
ta.bollinger(bars["close"], 20); ta.rsi(bars["close"], 14); ta.macd(bars["close"]); ta.atr(bars["high"], bars["low"], bars["close"], 14)
strategy = build_strategy(load_strategy_class("MACross"), {{"fast": 10, "slow": 30}})
result = run_backtest([InstanceSpec(strategy, bars)], BacktestSettings(path="fast"))
backtest = "numba" in sys.modules
mean = rolling_mean_kernel(np.arange(50.0), 7)
float_call = "numba" in sys.modules
ints = rolling_mean_kernel(np.arange(50), 7)
print(json.dumps({{"sandbox": sandbox, "backtest": backtest, "float call": float_call,
                  "int call": "numba" in sys.modules, "same": bool(np.array_equal(mean, ints, equal_nan=True)),
                  "simulate": simulate.implementation, "trades": len(result.instances[0].trades)}}))
"""


def test_with_precompiled_kernels_the_console_and_backtest_paths_load_no_numba(aot_dir):
    """用预编译模块时：沙盒行情、成交规则、仓位、全部指标与快速路径回测都不加载 numba；参数不合签名（整数数组）的
    那一次调用才改走 njit（这时才加载 numba），结果与浮点数组相同。"""
    outcome = run_child(NO_NUMBA_CHILD, **{jit.MODE_VARIABLE: "aot", jit.DIR_VARIABLE: str(aot_dir)})
    assert outcome["trades"] > 0 and outcome["simulate"] == "aot"
    assert outcome == {**outcome, "sandbox": False, "backtest": False, "float call": False, "int call": True,
                       "same": True}


def test_without_a_precompiled_module_kernels_use_njit_and_aot_mode_refuses(tmp_path):
    """目录里没有与当前源码相符的预编译模块：auto 时内核用 njit；要求 aot 时第一次调用就报错并说明怎样编译。"""
    code = ("import json, numpy as np\nfrom tradeterm.indicators._kernels import ema_kernel\n"
            "try:\n    ema_kernel(np.arange(10.0), 3, 0.5); outcome = ema_kernel.implementation\n"
            "except RuntimeError as exc:\n    outcome = str(exc)\nprint(json.dumps({'outcome': outcome}))")
    assert run_child(code, **{jit.DIR_VARIABLE: str(tmp_path)}) == {"outcome": "jit"}
    refused = run_child(code, **{jit.MODE_VARIABLE: "aot", jit.DIR_VARIABLE: str(tmp_path)})["outcome"]
    assert "python -m tradeterm.aot build" in refused


def test_status_and_build_if_needed_report_the_up_to_date_module(aot_dir):
    """`python -m tradeterm.aot status` 报告指纹与可用的预编译模块；`build --if-needed` 在已有时不重新编译。"""
    env = {k: v for k, v in os.environ.items() if k not in (jit.MODE_VARIABLE, jit.DIR_VARIABLE)}
    env[jit.DIR_VARIABLE] = str(aot_dir)
    status = subprocess.run([sys.executable, "-m", "tradeterm.aot", "status"], capture_output=True, text=True,
                            env=env, check=True).stdout
    assert json.loads(status) == {"mode": "auto", "source_key": jit.source_key(), "aot": True,
                                  "aot_file": str(jit.find_aot_file(aot_dir))}
    built = subprocess.run([sys.executable, "-m", "tradeterm.aot", "build", "--if-needed", "--output", str(aot_dir)],
                           capture_output=True, text=True, env=env, check=True).stdout
    assert built.startswith("precompiled kernels are up to date")


def test_unknown_kernel_mode_is_refused(monkeypatch):
    """TRADETERM_KERNELS 只能是 auto、jit 或 aot。"""
    monkeypatch.setenv(jit.MODE_VARIABLE, "fast")
    with pytest.raises(ValueError, match="use one of auto, jit, aot"):
        jit.kernel_mode()


def test_signature_arguments_are_parsed_into_dtypes_and_dimensions():
    """签名字符串 -> 参数表；返回类型里的括号与逗号不影响；不支持的类型报错。"""
    assert jit.parse_arguments("UniTuple(f8[:], 3)(f8[:], i8)") == [("float64", 1), ("int64", 0)]
    assert jit.parse_arguments("Tuple((i8[:, :], f8))(b1[:], f8, i8[:, :], b1)") == [
        ("bool", 1), ("float64", 0), ("int64", 2), ("bool", 0)]
    with pytest.raises(ValueError, match="is not one of f8, i8, b1"):
        jit.parse_arguments("f8(f4[:])")


def test_precompiled_calls_need_arguments_that_match_the_signature_exactly():
    """只有 dtype、维数都对的 ndarray 与对应类型的标量才交给预编译实现；布尔不当数字，整数数组、列表、二维数组都不行。"""
    fits = jit.argument_checker(jit.parse_arguments("f8(f8[:], i8, f8, b1)"))
    good = np.arange(3.0)
    assert fits((good, 3, 0.5, True)) and fits((good, np.int64(3), np.float32(0.5), np.bool_(False)))
    assert fits((good[::2], 3, 2, False))  # 非连续的数组、整数给浮点参数都可以
    for bad in [(np.arange(3), 3, 0.5, True), ([1.0, 2.0], 3, 0.5, True), (good.reshape(1, 3), 3, 0.5, True),
                (good.astype(">f8"), 3, 0.5, True), (good, 3.0, 0.5, True), (good, True, 0.5, True),
                (good, 3, True, True), (good, 3, 0.5, 1)]:
        assert not fits(bad), bad


def test_source_key_changes_when_any_kernel_source_changes(tmp_path, monkeypatch):
    """指纹由全部内核源文件的内容决定：复制一份包目录里的这些文件，改其中一个（成交规则），指纹随之改变。"""
    for path in jit.source_files():
        target = tmp_path / path.relative_to(jit.PACKAGE_DIR)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    monkeypatch.setattr(jit, "PACKAGE_DIR", tmp_path)
    before = jit.source_key()
    fills = tmp_path / "execution" / "fills.py"
    fills.write_text(fills.read_text(encoding="utf-8") + "\n# changed\n", encoding="utf-8")
    assert jit.source_key() != before


def test_njit_cache_of_a_kernel_is_stamped_with_the_source_key():
    """njit 的磁盘缓存以全部内核源码的指纹为源码戳：只改编进内核的另一个文件（如成交规则）也会让缓存失效。

    查的是 numba 调度器的缓存对象（numba 0.68 的内部结构）：这是本仓库接到 numba 缓存机制上的那一点。"""
    locator = simulate.dispatcher()._cache._impl.locator
    assert type(locator).__name__ == "KernelCacheLocator"
    assert locator.get_source_stamp() == jit.source_key()
