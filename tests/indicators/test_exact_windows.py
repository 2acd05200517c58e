"""滚动均值/标准差/z 分数的精确性：常数窗口恰好零方差（z 为 NaN），平局恰好落在阈值上，结果只取决于窗口内容。

期望值都在文档字符串里手算；真实行情用来证明“每个价位”都成立，以及实盘的滑动窗口与回测的整段历史逐位相同。
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradeterm import indicators as ta
from tradeterm.indicators._kernels import rolling_moments_kernel, rolling_std_kernel


def naive_std(window: np.ndarray) -> float:
    """修复前的算法：均值 = 逐个相加 / n，再两遍求离差平方和（常数窗口会留下 1-3 ulp）。"""
    mean = 0.0
    for value in window:
        mean += value
    mean /= len(window)
    return float(np.sqrt(sum((v - mean) ** 2 for v in window) / len(window)))


@pytest.mark.parametrize("price", [22358.18, 22326.37, 0.07123, 1.2345, 27944.05])
def test_constant_window_has_exactly_zero_std_and_nan_z(price):
    """20 根收盘都是同一价：标准差恰好 0.0，z 为 NaN，布林带三线都恰好等于该价。
    （修复前 22358.18 的标准差是 3.64e-12，z = 0 / 3.64e-12 = 0，离场信号随价格时有时无。）"""
    closes = np.full(20, price)
    assert rolling_std_kernel(closes, 20)[-1] == 0.0
    assert np.isnan(ta.zscore(closes, 20)[-1])
    band = ta.bollinger(closes, 20).iloc[-1]
    assert band["middle"] == band["upper"] == band["lower"] == price


def test_the_old_mean_left_ulps_on_the_issue_price():
    """问题单的两个价：旧算法在 22358.18 上给 3.637978807091713e-12，在 22326.37 上给 0（这就是时有时无的原因）。"""
    assert naive_std(np.full(20, 22358.18)) == 3.637978807091713e-12
    assert naive_std(np.full(20, 22326.37)) == 0.0


def test_every_real_price_level_gives_a_zero_std_constant_window(btc_bars):
    """真实 BTC/USDT 的前 2,000 个不同收盘价，每个价连放 20 根：每个常数窗口的标准差与偏离都恰好是 0、z 都是 NaN；
    旧算法在其中相当一部分价位上不是 0。"""
    levels = np.unique(btc_bars["close"].to_numpy())[:2000]
    closes = np.repeat(levels, 20)
    mean, std, deviation = rolling_moments_kernel(closes, 20)
    ends = np.arange(19, len(closes), 20)
    assert np.all(std[ends] == 0.0) and np.all(deviation[ends] == 0.0)
    assert np.isnan(ta.zscore(closes, 20)[ends]).all()
    np.testing.assert_array_equal(mean[ends], levels)
    assert sum(naive_std(closes[e - 19:e + 1]) != 0.0 for e in ends) > 100


def test_z_of_exactly_minus_two_is_a_tie_on_the_price_scale():
    """窗口 16 根 100、4 根 99.7（收盘 99.7）：均值 = 100 - 0.2 * 0.3 = 99.94，标准差 = 0.4 * 0.3 = 0.12，
    偏离 = 99.7 - 99.94 = -0.24 = -2 * 0.12，z 恰为 -2。浮点的 z 是 -2.0000000000000004；
    价格尺度的比较 (偏离 - (-2) * 标准差) / 收盘价 落定（11 位小数）后恰为 0.0，即平局。"""
    closes = np.array([100.0] * 16 + [99.7] * 4)
    moments = ta.rolling_moments(closes, 20).iloc[-1]
    assert moments["zscore"] != -2.0 and abs(moments["zscore"] + 2.0) < 1e-12
    gap = ta.relative_gap(np.array([moments["deviation"]]), np.array([-2.0 * moments["std"]]), closes[-1:])
    assert gap[0] == 0.0


def test_z_of_exactly_zero_is_a_tie_on_the_price_scale():
    """9 根 7634.16、9 根 7605.30、2 根 7619.73（= 7619.73 ± 14.43）：十进制下窗口和恰为 20 * 7619.73，z 恰为 0。
    旧的 pandas 均值算出 z = +6.6e-14（exit_short 的 z <= 0 不成立）；新算法的偏离落定后恰为 0.0。"""
    closes = np.array([7619.73 + 14.43] * 9 + [7619.73 - 14.43] * 9 + [7619.73] * 2)
    mean = pd.Series(closes).rolling(20).mean().to_numpy()[-1]
    assert (closes[-1] - mean) / naive_std(closes) > 0
    deviation = ta.rolling_moments(pd.Series(closes), 20)["deviation"]
    assert ta.relative_gap(deviation, 0.0 * deviation, pd.Series(closes)).iloc[-1] == 0.0


def test_settle_and_relative_gap_follow_the_rule():
    """落定 = 四舍五入到 11 位小数：-2.000000000000056 -> -2.0，2.96e-14 -> 0.0，1.000000000004 -> 1.0，
    1.000000000006 -> 1.00000000001；NaN 不变；Series 保留索引与列名。相对差 = (a - b) / scale 再落定：
    318.33000000000004 对 318.33 是平局（0.0），101 对 100（收盘 100）是 0.01；scale 为 0 时为 NaN。"""
    values = np.array([-2.000000000000056, 2.96e-14, 1.000000000004, 1.000000000006, np.nan])
    settled = ta.settle(values)
    assert settled[:4].tolist() == [-2.0, 0.0, 1.0, 1.00000000001] and np.isnan(settled[4])
    series = ta.settle(pd.Series(values, index=list("abcde"), name="z"))
    assert list(series.index) == list("abcde") and series.name == "z" and series["a"] == -2.0
    gap = ta.relative_gap(np.array([318.33000000000004, 101.0, 1.0]), np.array([318.33, 100.0, 1.0]),
                          np.array([318.33, 100.0, 0.0]))
    assert gap[0] == 0.0 and gap[1] == 0.01 and np.isnan(gap[2])
    assert ta.TIE_DECIMALS == 11


def test_a_window_one_tick_wide_is_still_judged_exactly():
    """标准差只有一两个最小价位时 z 的浮点噪声可达 1e-9（把 z 本身舍入到 9 位会判错），价格尺度的比较仍然精确：
    收盘 107123.17、107123.15、107123.16（十进制和恰为 3 * 107123.16），z 恰为 0，偏离落定后恰为 0.0；
    浮点的 z 不是 0（噪声约 1e-9）。"""
    closes = np.array([107123.17, 107123.15, 107123.16])
    moments = ta.rolling_moments(closes, 3).iloc[-1]
    assert moments["zscore"] != 0.0
    assert ta.relative_gap(np.array([moments["deviation"]]), np.zeros(1), closes[-1:])[0] == 0.0


def test_values_depend_only_on_the_window_so_live_windows_match_the_full_history(btc_bars):
    """实盘每根 K 线在最近若干根的滑动窗口上重新计算；回测在整段历史上算一次。z 分数与布林带只取决于窗口内容，
    所以任一根上两者逐位相同（抽查 200 根，滑动窗口长 40）。"""
    closes = btc_bars["close"].to_numpy()
    full_z = ta.zscore(closes, 20)
    full_band = ta.bollinger(closes, 20)
    rows = np.random.default_rng(7).choice(np.arange(40, len(closes)), 200, replace=False)
    for row in rows:
        window = closes[row - 39:row + 1]
        np.testing.assert_array_equal(ta.zscore(window, 20)[-1:], full_z[row:row + 1])
        assert ta.bollinger(window, 20).iloc[-1].tolist() == full_band.iloc[row].tolist()


def test_non_finite_values_make_the_window_nan():
    """窗口里有 NaN 或 inf：均值、标准差、偏离、z 都是 NaN（与 pandas 把 inf 当作缺失一致）；窗口移出后恢复：
    [4, 5, 6] 的均值 5、标准差 sqrt(2/3)、偏离 1、z = 1 / sqrt(2/3)。"""
    closes = np.array([1.0, 2.0, np.inf, 4.0, 5.0, 6.0])
    moments = ta.rolling_moments(closes, 3)
    assert moments.iloc[2:5].isna().all().all()
    assert moments.iloc[5].tolist() == [5.0, np.sqrt(2.0 / 3.0), 1.0, 1.0 / np.sqrt(2.0 / 3.0)]
