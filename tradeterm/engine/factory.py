"""按 config.yml 组装引擎：交易所客户端（进程内沙盒、外部沙盒或真实交易所）、经纪商、行情、日志库。

- `exchange.sandbox: true`（默认）：不需要网络与密钥。没有 `sandbox_url` 时在本进程里启动沙盒交易所
  （配置里全部交易对，按 `sandbox_speed` 倍速回放）；有则连接那个已在运行的沙盒（`tradeterm sandbox`）。
- `exchange.sandbox: false` + `mode: paper`：真实交易所的公开行情（不需要密钥），成交由 PaperBroker 在本地模拟。
- `exchange.sandbox: false` + `mode: live`：真实交易所，密钥只从环境变量或 0600 密钥文件读取，并给日志装上密钥过滤器。
  实盘的 --live 与确认由命令行在此之前完成。
同一个日志库同时只能有一个引擎：打开时对 `<日志库>.lock` 加排他锁（进程死亡时操作系统自动释放）。
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tradeterm.broker.ccxt_broker import CcxtBroker
from tradeterm.broker.paper import PaperBroker
from tradeterm.config.schema import AppConfig
from tradeterm.data.market_data import MarketData
from tradeterm.engine.trader import TraderEngine
from tradeterm.errors import UserError
from tradeterm.files import lock_private
from tradeterm.journal.store import TradeJournal
from tradeterm.models import MarketType, Mode


@dataclass
class EngineHandle:
    """组装好的引擎及其需要关闭的资源。"""

    engine: TraderEngine                         # 引擎
    sandbox: Any = None                          # 进程内沙盒（SandboxExchange）；没有时为 None
    lock_fd: int | None = None                   # 日志库锁文件的描述符
    closers: list[Any] = field(default_factory=list)  # 退出时要 await close() 的对象
    notify: Any = None                           # 通知服务（tradeterm/notify/service.py 的 NotifyService）

    async def close(self) -> None:
        """停止引擎、关闭客户端、日志库与沙盒，释放锁（重复调用无害）。"""
        if self.lock_fd is None:
            return
        await self.engine.stop()
        if self.notify is not None:
            await self.notify.close()
        for closer in self.closers:
            await closer.close()
        await self.engine.journal.close()
        if self.sandbox is not None:
            await self.sandbox.stop()
        os.close(self.lock_fd)
        self.lock_fd = None


def lock_journal(journal_path: Path) -> int:
    """对日志库加排他锁；已被另一个引擎持有时抛 UserError。返回锁文件描述符。"""
    lock_path = journal_path.with_name(journal_path.name + ".lock")
    fd = lock_private(lock_path, f"another tradeterm engine is already running on the journal {journal_path}; "
                                 f"attach to it instead, or set journal.path to another file")
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd


def sandbox_state_path(config: AppConfig) -> Path:
    """进程内沙盒状态文件的绝对路径：exchange.sandbox_state（相对路径按配置文件目录解析，同 journal.path），
    没有设置时为日志库旁的同名 .sandbox.db（tradeterm.db -> tradeterm.sandbox.db）。与日志库是同一个文件时抛 UserError。"""
    path = config.exchange.sandbox_state
    if path is None:
        return config.journal_path().with_suffix(".sandbox.db")
    path = path if path.is_absolute() else (config.base_dir / path).resolve()
    if path == config.journal_path():
        raise UserError(f"exchange.sandbox_state '{config.exchange.sandbox_state}': is the journal file "
                        f"(journal.path); give the sandbox its own file, e.g. tradeterm.sandbox.db")
    return path


def config_symbols(config: AppConfig) -> tuple[str, ...]:
    """配置里启用的实例用到的交易对（去重、保持顺序）。"""
    return tuple(dict.fromkeys(s.symbol for s in config.strategies if s.enabled))


async def open_engine(config: AppConfig) -> EngineHandle:
    """按配置组装并启动引擎；返回的 handle 用完要 await close()。通知渠道先建（缺秘密时在动交易所之前就报错）。"""
    from tradeterm.notify.service import NotifyService, build_channels

    channels = build_channels(config)
    fd = lock_journal(config.journal_path())
    handle = EngineHandle(engine=None, lock_fd=fd)  # type: ignore[arg-type]
    try:
        exchange, label = await _exchange_client(config, handle)
        handle.closers.append(exchange)
        journal = await TradeJournal.open(config.journal_path())
        broker = paper_broker(config, exchange) if _local_fills(config) else CcxtBroker(exchange)
        market = MarketData(exchange, None, exchange_id="sandbox" if config.exchange.sandbox else config.exchange.id)
        mode = "live" if config.mode is Mode.LIVE else "paper"
        handle.engine = TraderEngine(config, broker, market, journal, mode=mode, exchange_label=label)
        handle.notify = NotifyService(config, channels)
        handle.notify.attach(handle.engine)
        await handle.engine.start()
        await handle.notify.start()
        return handle
    except BaseException as exc:
        await _abort(handle)
        problem = exchange_problem(config, exc)
        if problem is not None:
            raise problem from None
        raise


def exchange_problem(config: AppConfig, exc: BaseException) -> UserError | None:
    """连接配置里的交易所时的失败 -> 一行用户错误（写明交易所地址、原因与修正方法）；不是这类失败时返回 None。

    连不上（ccxt.NetworkError：连接被拒、DNS、超时、交易所维护）与凭证被拒（AuthenticationError、PermissionDenied）
    是用户能修的环境问题，不是程序缺陷，所以不打印 traceback。"""
    import ccxt

    from tradeterm.exchange.client import failed_url, network_failure

    url = config.exchange.sandbox_url
    if config.exchange.sandbox and url:
        where = f"exchange.sandbox_url {url}"
        fix = (f"start the sandbox there ('tradeterm sandbox --port {_port(url)}'), or remove exchange.sandbox_url "
               f"to run a sandbox inside the engine")
    elif config.exchange.sandbox:
        where = "the in-process sandbox exchange"
        fix = "restart tradeterm; if it happens again, report it with the log"
    else:
        address = failed_url(exc)
        where = f"exchange {config.exchange.id}" + (f" ({address})" if address else "")
        fix = ("check the network connection, DNS, proxy and firewall, and the exchange's status page; or set "
               "exchange.sandbox: true to trade offline on the built-in sandbox")
    if isinstance(exc, ccxt.NetworkError):
        return UserError(f"{where}: cannot reach the exchange ({network_failure(exc)}); {fix}")
    if isinstance(exc, (ccxt.AuthenticationError, ccxt.PermissionDenied)):
        keys = f"{config.exchange.key_env_prefix}_API_KEY/{config.exchange.key_env_prefix}_SECRET"
        return UserError(f"{where}: the exchange refused the API credentials ({type(exc).__name__}: {exc}); "
                         f"check {keys} (or exchange.key_file), the key's permissions and its IP whitelist")
    return None


def _port(url: str) -> int:
    """URL 里的端口（没写时按协议取 80/443）。"""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        return parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return 8765


async def _abort(handle: EngineHandle) -> None:
    """启动失败时释放已打开的资源。"""
    if handle.notify is not None:
        await handle.notify.channels.close(0)
    for closer in handle.closers:
        await closer.close()
    if handle.engine is not None:
        await handle.engine.journal.close()
    if handle.sandbox is not None:
        await handle.sandbox.stop()
    if handle.lock_fd is not None:
        os.close(handle.lock_fd)


def _local_fills(config: AppConfig) -> bool:
    """真实交易所上的模拟盘：行情来自交易所，成交在本地模拟（PaperBroker）。"""
    return not config.exchange.sandbox and config.mode is not Mode.LIVE


def public_client(exchange_id: str, market_types: tuple[str, ...]) -> Any:
    """不带密钥的 ccxt.pro 客户端（只用公开接口：市场信息、K 线、ticker）。"""
    import ccxt.pro as ccxt_pro

    from tradeterm.exchange.client import make_client

    if exchange_id == "binance":
        return make_client(None, pro=True, market_types=market_types)
    if not hasattr(ccxt_pro, exchange_id):
        raise UserError(f"exchange.id '{exchange_id}': ccxt has no websocket (ccxt.pro) support for it; "
                        f"use an exchange with websocket support, e.g. binance, okx, bybit")
    return getattr(ccxt_pro, exchange_id)({"enableRateLimit": True})


def paper_broker(config: AppConfig, exchange: Any) -> PaperBroker:
    """按配置的账户与费率创建模拟盘经纪商。"""
    return PaperBroker(exchange, cash=config.account.starting_cash, quote=config.account.quote_currency,
                       maker_fee=config.fees.maker, taker_fee=config.fees.taker,
                       slippage_bps=config.fees.slippage_bps)


async def _exchange_client(config: AppConfig, handle: EngineHandle) -> tuple[Any, str]:
    """创建 ccxt.pro 客户端：进程内沙盒、外部沙盒或真实交易所。返回 (客户端, 界面显示的交易所说明)。"""
    from tradeterm.exchange.client import make_client

    market_types = ("spot", "linear") if config.exchange.market_type is MarketType.FUTURES else ("spot",)
    if config.exchange.sandbox:
        from tradeterm.sandbox.defaults import DEFAULT_API_KEY, DEFAULT_SECRET

        url = config.exchange.sandbox_url
        if url is None:
            from tradeterm.sandbox.server import SandboxExchange

            # 进程内沙盒是持久的：引擎重启后接着原来的账户、订单与行情，与日志库里的持仓一致
            handle.sandbox = await SandboxExchange(port=0, symbols=config_symbols(config) or ("BTC/USDT",),
                                                   speed=config.exchange.sandbox_speed,
                                                   state_path=sandbox_state_path(config)).start()
            url = handle.sandbox.url
        label = "sandbox (in-process)" if handle.sandbox is not None else f"sandbox {url}"
        # 进程内沙盒不限请求权重（429 只来自故障注入）：客户端限流在这里只是排队——启动时的市场信息、余额、挂单与
        # 各周期历史 K 线按 Binance 的权重一个个等，首批报价因此晚约一秒上屏（bench/startup.py 测得）。
        # 独立运行的沙盒（exchange.sandbox_url）照真实交易所对待，保留限流
        return make_client(url, api_key=DEFAULT_API_KEY, secret=DEFAULT_SECRET, pro=True, market_types=market_types,
                           rate_limit=handle.sandbox is None), label
    if _local_fills(config):
        # 模拟盘：真实交易所的公开行情，不需要也不读取密钥
        return public_client(config.exchange.id, market_types), f"{config.exchange.id} (paper, simulated fills)"
    if config.exchange.id != "binance":
        raise UserError(f"exchange.id '{config.exchange.id}': live trading is only wired for binance so far")
    from tradeterm.config.credentials import install_redactor, load_credentials

    credentials = load_credentials(config.exchange.key_env_prefix, config.exchange.key_file)
    install_redactor(credentials)
    return make_client(None, api_key=credentials.api_key, secret=credentials.secret, pro=True,
                       market_types=market_types), config.exchange.id
