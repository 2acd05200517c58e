"""config.yml 的结构与校验规则（pydantic）。每个块一个类；未知键一律拒绝，以便报出拼写错误。

金额单位：starting_cash 与各类名义金额为计价货币（quote_currency，如 USDT）；费率为小数（0.001 = 0.1%）；
滑点为基点（1 bp = 0.01%）；比例类风控参数为小数（0.2 = 20%）。

取值规则（全部在基类 Block 里统一执行，不逐个键写）：数字必须有限（.inf、"inf"、Infinity、1e400、.nan 都拒绝），
布尔不当数字用（starting_cash: true 不是 1），数字也不当布尔用（sandbox: 1 不是 true）；每个数字键都有上下界；
路径不能含 NUL 或过长。
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from tradeterm.config.block import Block, checked_path_text, value_problem
from tradeterm.config.markets import SYMBOL_FORMS, TIMEFRAME_MS, normalize_symbol, symbol_problem
from tradeterm.config.notify import NotifyConfig, SupervisorConfig
from tradeterm.config.values import show, url_problem
from tradeterm.models import MarketType, Mode
from tradeterm.strategy.params import closest

# 金额类键（starting_cash、sizing.notional）的上限，计价货币：再大的数在换算成数量、步长时会溢出 64 位整数
MAX_CASH = 1_000_000_000_000
# 风控金额限制（max_position 等）的上限，计价货币；比它大的限制等于不设
MAX_LIMIT = 1_000_000_000_000_000
# K 线根数类键（atr_period）的上限，与策略窗口的上限相同
MAX_BARS = 100_000


class ExchangeConfig(Block):
    """交易所：ccxt 的交易所 id、市场类型，以及是否用内置的本地沙盒交易所。"""

    # ccxt 交易所 id，如 binance
    id: str = "binance"
    # 市场类型：spot（现货，只做多）或 futures（USD-M 合约，可多可空）
    market_type: MarketType = MarketType.SPOT
    # true：连接内置的本地沙盒交易所（离线可用，默认）；false：连接真实交易所
    sandbox: bool = True
    # 进程内沙盒的回放倍速：60 表示 1 分钟 K 线每墙上秒走一根（离线默认时让策略很快开始交易）
    sandbox_speed: float = Field(60.0, gt=0, le=100_000)
    # 连接一个已在运行的沙盒（`tradeterm sandbox`）的地址，如 http://127.0.0.1:8765；None 时在进程内启动沙盒
    sandbox_url: str | None = None
    # 进程内沙盒的状态文件（SQLite：账户、订单、成交、模拟时钟），使它像真实交易所一样跨重启保留账户；
    # 相对路径相对于配置文件所在目录；None 时为日志库旁的同名 .sandbox.db（tradeterm.db -> tradeterm.sandbox.db）
    sandbox_state: Path | None = None
    # 连接真实交易所时，API 密钥所在的环境变量前缀（读取 PREFIX_API_KEY 与 PREFIX_SECRET）
    key_env_prefix: str = "TRADETERM"
    # 可选：0600 权限的密钥文件路径（YAML，含 api_key 与 secret）；密钥永远不写在 config.yml 里
    key_file: Path | None = None

    @field_validator("sandbox_state", mode="before")
    @classmethod
    def _state_is_a_file(cls, value: Any) -> Any:
        """状态文件须是文件路径：空串、'.'、'..'、以 / 结尾的目录、NUL、过长都不行（在转成 Path 之前检查，末尾的 / 还在）。
        文件系统上的检查（是目录、是设备、不是 SQLite 库）在加载器里按配置目录解析之后做。"""
        return checked_path_text(value, "tradeterm.sandbox.db")

    @field_validator("key_env_prefix")
    @classmethod
    def _env_prefix(cls, value: str) -> str:
        """环境变量名的前缀：字母、数字与下划线，不以数字开头，1..64 个字符（读 PREFIX_API_KEY 与 PREFIX_SECRET）。"""
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", value):
            raise value_problem(f"{show(value)} is not an environment variable prefix; use 1-64 letters, digits or _ "
                                f"(not starting with a digit), e.g. TRADETERM")
        return value

    @field_validator("sandbox_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        """外部沙盒地址：http(s)://主机[:端口][/]，端口 1..65535，不带路径、查询或用户名。"""
        if value is None:
            return value
        problem = url_problem(value)
        if problem:
            raise value_problem(f"{show(value)} {problem}; use a form like http://127.0.0.1:8765")
        return value

    @field_validator("id")
    @classmethod
    def _known_exchange(cls, value: str) -> str:
        """交易所 id 必须是 ccxt 支持的。"""
        import ccxt

        if value not in ccxt.exchanges:
            hint = closest(value, set(ccxt.exchanges))
            raise ValueError(f"'{value}' is not an exchange id known to ccxt{hint}; e.g. binance, okx, bybit")
        return value


class AccountConfig(Block):
    """账户：初始资金与计价货币。"""

    # 初始资金，计价货币（回测与模拟盘的起始权益）
    starting_cash: float = Field(10_000.0, gt=0, le=MAX_CASH)
    # 计价货币，如 USDT；策略实例的交易对须以它计价
    quote_currency: str = "USDT"

    @field_validator("quote_currency")
    @classmethod
    def _upper(cls, value: str) -> str:
        """统一大写；须是 2..10 个字母或数字（与交易对里的货币代码相同）。"""
        code = value.strip().upper()
        if not re.fullmatch(r"[A-Z0-9]{2,10}", code):
            raise value_problem(f"{show(value)} is not a currency code; use 2-10 letters or digits, e.g. USDT")
        return code


class FeesConfig(Block):
    """手续费与滑点（回测和模拟盘使用；实盘以交易所实际扣费为准）。"""

    # 挂单（maker）费率，小数：0.001 = 0.1%
    maker: float = Field(0.001, ge=0, lt=0.1)
    # 吃单（taker）费率，小数；市价单按它收费
    taker: float = Field(0.001, ge=0, lt=0.1)
    # 市价成交的滑点，基点（1 bp = 0.01%），对交易者不利的方向
    slippage_bps: float = Field(0.0, ge=0, le=1000)


class RiskConfig(Block):
    """风控限制（由风控层执行）。None 表示不启用该项。比例为小数，金额为计价货币。"""

    # 组合最大回撤（相对历史最高权益的比例），触发后停止新开仓
    max_drawdown: float | None = Field(None, gt=0, lt=1)
    # 单日最大亏损（相对当日起始权益的比例），触发后当日停止新开仓
    daily_loss: float | None = Field(None, gt=0, lt=1)
    # 单个交易对的最大持仓名义金额，计价货币
    max_position: float | None = Field(None, gt=0, le=MAX_LIMIT)
    # 全部持仓的最大总名义金额（总敞口），计价货币
    max_exposure: float | None = Field(None, gt=0, le=MAX_LIMIT)
    # 单笔订单的最大名义金额，计价货币
    max_order_notional: float | None = Field(None, gt=0, le=MAX_LIMIT)
    # 限价单价格偏离最新价的最大比例，小数：0.05 = 5%
    price_band: float | None = Field(None, gt=0, lt=1)
    # 每分钟最多下单数（全部实例合计）
    max_orders_per_minute: int | None = Field(None, gt=0, le=1_000_000)
    # 行情超过这么多秒没有更新就视为陈旧，拒绝下单（上限一年）
    stale_after: float | None = Field(None, gt=0, le=31_536_000)
    # 行情订阅落后交易所超过这么多根已收盘 K 线即为陈旧：报警（横幅、通知），并拒绝该交易对上的新开仓
    stale_feed_bars: int = Field(2, ge=1, le=10_000)

    def active_limits(self) -> dict:
        """启用了的限制（值不为 None 的键）；stale_feed_bars 是引擎行情看门狗的界限、总有默认值，不算一条限制
        （回测的行情从不陈旧）。"""
        return {k: v for k, v in self.model_dump(exclude_none=True).items() if k != "stale_feed_bars"}


class SizingConfig(Block):
    """仓位计算：每个开仓信号下多少。可全局设置，也可在单个策略实例上覆盖。"""

    # 方法：all_in（全部权益，含手续费）、fixed_notional（固定金额）、fixed_fraction（权益固定比例）、
    # equal_weight（实例间等权）、kelly（分数凯利）、volatility_target（按 ATR 的波动率目标）
    method: Literal["all_in", "fixed_notional", "fixed_fraction", "equal_weight", "kelly",
                    "volatility_target"] = "all_in"
    # fixed_notional 的每笔名义金额，计价货币
    notional: float | None = Field(None, gt=0, le=MAX_CASH)
    # fixed_fraction 的权益比例，小数（0.1 = 10%）
    fraction: float | None = Field(None, gt=0, le=1)
    # kelly 的缩放系数（0.5 = 半凯利）
    kelly_fraction: float = Field(0.5, gt=0, le=1)
    # kelly 的仓位上限，权益比例
    kelly_cap: float = Field(0.25, gt=0, le=1)
    # kelly 开始生效所需的最少已平仓交易数；不足时用 fraction（或 0.1）
    kelly_min_trades: int = Field(20, ge=1, le=1_000_000)
    # volatility_target 的目标：每根 K 线按 ATR 计的风险占权益比例（0.01 = 1%）
    target_risk: float | None = Field(None, gt=0, le=1)
    # volatility_target 的 ATR 周期，K 线根数
    atr_period: int = Field(14, ge=1, le=MAX_BARS)

    @model_validator(mode="after")
    def _method_needs(self) -> "SizingConfig":
        """各方法所需的键必须给出。"""
        needs = {"fixed_notional": "notional", "fixed_fraction": "fraction", "volatility_target": "target_risk"}
        key = needs.get(self.method)
        if key and getattr(self, key) is None:
            raise ValueError(f"sizing method '{self.method}' needs '{key}' to be set")
        return self


class RiskFileConfig(Block):
    """`tradeterm backtest --risk-config FILE.yml` 的文件：只有 risk 与 sizing 两个块（结构与 config.yml 里的相同）。"""

    # 风控限制（同 config.yml 的 risk 块）
    risk: RiskConfig = Field(default_factory=RiskConfig)
    # 仓位计算（同 config.yml 的 sizing 块）；不写时沿用命令行的默认（全仓）
    sizing: SizingConfig | None = None


class StrategyInstanceConfig(Block):
    """一个策略实例：交易对 x 策略类 x 周期，以及它的参数。"""

    # 实例名，全局唯一，用于界面、日志与日志库
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    # 交易对，规范成 ccxt 形式（BTCUSDT -> BTC/USDT）
    symbol: str
    # K 线周期，如 1m、15m、1h
    interval: str = "1m"
    # 策略类名（strategies/ 里的类）或 package.module:Class
    class_name: str = Field(alias="class")
    # 策略参数，覆盖类默认值；由策略加载器按类校验
    params: dict[str, Any] = Field(default_factory=dict)
    # 是否启用；false 时引擎不启动该实例
    enabled: bool = True
    # 本实例的仓位计算，覆盖全局 sizing
    sizing: SizingConfig | None = None

    # 允许用 class_name 或别名 class 赋值
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @field_validator("symbol", mode="before")
    @classmethod
    def _normalize_symbol(cls, value: Any) -> str:
        """接受 BTCUSDT、btc-usdt 等写法，统一成 BTC/USDT。"""
        symbol = normalize_symbol(str(value)) if isinstance(value, str) else None
        if symbol is None:
            raise ValueError(f"{show(value)} is not a symbol; use a form like {SYMBOL_FORMS}")
        problem = symbol_problem(symbol)  # 与市场无关的检查；现货/合约的检查在加载器里（要看 exchange.market_type）
        if problem:
            raise value_problem(problem)
        return symbol

    @field_validator("interval")
    @classmethod
    def _known_interval(cls, value: str) -> str:
        """周期须是交易所支持的取值之一。"""
        if value not in TIMEFRAME_MS:
            raise ValueError(f"'{value}' is not an interval; allowed: {', '.join(TIMEFRAME_MS)}")
        return value


class JournalConfig(Block):
    """日志库（SQLite）：记录运行、订单、成交、持仓、权益与事件。"""

    # 日志库文件路径；相对路径相对于配置文件所在目录
    path: Path = Path("tradeterm.db")

    @field_validator("path", mode="before")
    @classmethod
    def _is_a_file_path(cls, value: Any) -> Any:
        """路径文字本身的检查（空、NUL、过长、以 / 结尾）；文件系统上的检查在加载器里按配置目录解析之后做。"""
        return checked_path_text(value, "tradeterm.db")


class AppConfig(Block):
    """整个 config.yml。"""

    # 运行模式：backtest、paper（默认，模拟撮合）、live（真实下单，需显式确认）
    mode: Mode = Mode.PAPER
    # 交易所设置
    exchange: ExchangeConfig = Field(default_factory=ExchangeConfig)
    # 账户设置
    account: AccountConfig = Field(default_factory=AccountConfig)
    # 手续费与滑点
    fees: FeesConfig = Field(default_factory=FeesConfig)
    # 风控限制
    risk: RiskConfig = Field(default_factory=RiskConfig)
    # 全局仓位计算（实例可覆盖）
    sizing: SizingConfig = Field(default_factory=SizingConfig)
    # 日志库设置
    journal: JournalConfig = Field(default_factory=JournalConfig)
    # 额外的策略插件目录；相对路径相对于配置文件所在目录（内置 strategies/ 总会被搜索）
    strategy_dirs: list[Path] = Field(default_factory=list)
    # 策略实例列表
    strategies: list[StrategyInstanceConfig] = Field(default_factory=list)
    # 通知渠道（Telegram、飞书/Lark、webhook）与每日汇总
    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    # `run --headless --supervise` 的守护进程设置
    supervisor: SupervisorConfig = Field(default_factory=SupervisorConfig)
    # 配置文件所在目录（加载时填入，不在 YAML 里写）
    base_dir: Path = Field(default=Path("."), exclude=True)

    def journal_path(self) -> Path:
        """日志库的绝对路径（相对路径按配置文件目录解析）。"""
        path = self.journal.path
        return path if path.is_absolute() else (self.base_dir / path).resolve()

    def sandbox_state_file(self) -> Path:
        """进程内沙盒状态文件的绝对路径：exchange.sandbox_state（相对路径按配置文件目录解析），
        没有设置时为日志库旁的同名 .sandbox.db（tradeterm.db -> tradeterm.sandbox.db）。"""
        path = self.exchange.sandbox_state
        if path is None:
            return self.journal_path().with_suffix(".sandbox.db")
        return path if path.is_absolute() else (self.base_dir / path).resolve()

    def notify_key_file(self) -> Path | None:
        """notify.key_file 的绝对路径（相对路径按配置文件目录解析）；没有设置时为 None。"""
        path = self.notify.key_file
        if path is None:
            return None
        return path if path.is_absolute() else (self.base_dir / path).resolve()

    def plugin_dirs(self) -> list[Path]:
        """策略插件目录：配置旁的 strategies/ 与 strategy_dirs（相对配置目录）。"""
        dirs = [self.base_dir / "strategies"]
        dirs += [d if d.is_absolute() else self.base_dir / d for d in self.strategy_dirs]
        return dirs

