"""tradeterm/supervisor/backoff.py：重启退避的序列（纯逻辑，运行时长由测试给出）。"""

from __future__ import annotations

from tradeterm.supervisor import Backoff, RestartPlan


def test_delay_doubles_up_to_the_cap_and_resets_after_a_stable_run():
    """restart_delay 1、上限 10、稳定 600 秒：接连崩溃等 1、2、4、8、10、10 秒；一次跑满 600 秒后的崩溃重新从 1 秒、
    第 1 次算起，之后又翻倍。"""
    backoff = Backoff(restart_delay=1, restart_delay_max=10, stable_after=600)
    plans = [backoff.after_crash(ran_for) for ran_for in (5, 5, 5, 5, 5, 599.9)]
    assert plans == [RestartPlan(1, 1), RestartPlan(2, 2), RestartPlan(3, 4), RestartPlan(4, 8), RestartPlan(5, 10),
                     RestartPlan(6, 10)]
    assert backoff.after_crash(600) == RestartPlan(1, 1)
    assert backoff.after_crash(3) == RestartPlan(2, 2)


def test_a_cap_below_the_first_delay_keeps_the_first_delay():
    """restart_delay_max 小于 restart_delay：每次都等 restart_delay（上限不会让等待变得比起点还短）。"""
    backoff = Backoff(restart_delay=5, restart_delay_max=2, stable_after=60)
    assert [backoff.after_crash(0).delay for _ in range(3)] == [5, 5, 5]
