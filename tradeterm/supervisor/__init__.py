"""守护进程（`tradeterm run --headless --supervise`）：把引擎当子进程运行，崩溃后按退避重启，心跳检查，
并经 config.yml 的 `notify:` 渠道通知每次崩溃、重启与心跳丢失（类别 supervisor）。

- tradeterm/supervisor/runner.py：Supervisor（主循环）与 supervise()（命令行入口）；
- tradeterm/supervisor/child.py：一个引擎子进程（输出回显与最后几行）；
- tradeterm/supervisor/heartbeat.py：经控制套接字的心跳；
- tradeterm/supervisor/backoff.py：重启退避（纯逻辑）；
- tradeterm/supervisor/notices.py：通知的措辞。
"""

from tradeterm.supervisor.backoff import Backoff, RestartPlan
from tradeterm.supervisor.runner import Supervisor, supervise

# 本包对外的名字
__all__ = ["Backoff", "RestartPlan", "Supervisor", "supervise"]
