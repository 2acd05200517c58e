"""日志库（SQLite，WAL 模式）：带版本号的表结构与迁移，以及回测运行的记录。"""

from tradeterm.journal.runs import record_backtest
from tradeterm.journal.schema import MIGRATIONS, SCHEMA_VERSION, connect, migrate

__all__ = ["record_backtest", "MIGRATIONS", "SCHEMA_VERSION", "connect", "migrate"]
