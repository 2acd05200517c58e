"""`tradeterm config`：校验配置文件并打印摘要（不连接任何交易所）。"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """注册 config 子命令。"""
    parser = subparsers.add_parser("config", help="validate config.yml and print a summary",
                                   description="Validate a config file; every problem is listed with its key path.")
    parser.add_argument("--config", default="config.yml", help="config file (default: ./config.yml)")
    parser.set_defaults(handler=run_config)


def run_config(args: argparse.Namespace) -> int:
    """校验并打印摘要；配置有误时由 main 打印问题列表并返回 2。"""
    # 按需导入：配置校验要加载 pydantic 与 pandas，--help 不需要它们
    from tradeterm.config import load_config

    config = load_config(args.config)
    print(describe_config(config, args.config))
    return 0


def describe_config(config, source: str) -> str:
    """配置摘要：模式、交易所、账户、实例列表，多行文本。"""
    exchange = config.exchange
    venue = "built-in sandbox exchange (offline)" if exchange.sandbox else f"{exchange.id} (real exchange)"
    lines = [
        f"config: {source} OK",
        f"mode: {config.mode.value}   exchange: {venue}   market: {exchange.market_type.value}",
        f"account: {config.account.starting_cash:,.2f} {config.account.quote_currency}   "
        f"fees: maker {config.fees.maker:.4%} taker {config.fees.taker:.4%} slippage {config.fees.slippage_bps} bps",
        f"journal: {config.journal_path()}",
    ]
    if exchange.sandbox and not exchange.sandbox_url:
        from tradeterm.engine.factory import sandbox_state_path

        lines.append(f"sandbox state: {sandbox_state_path(config)} (reset: tradeterm sandbox --reset --config {source})")
    lines.append(f"notify: {notify_summary(config.notify)}")
    lines.append(f"strategies ({len(config.strategies)}):")
    for instance in config.strategies:
        params = ", ".join(f"{k}={v}" for k, v in instance.params.items())
        state = "" if instance.enabled else "  [disabled]"
        lines.append(f"  {instance.name:<24} {instance.symbol:<12} {instance.interval:<4} "
                     f"{instance.class_name}({params}){state}")
    return "\n".join(lines)


def notify_summary(notify) -> str:
    """通知渠道一行：哪些渠道、Telegram 的聊天数、每日汇总的时间；没有渠道时说明怎么加。"""
    parts = []
    if notify.telegram is not None:
        commands = "commands on" if notify.telegram.commands else "alerts only"
        parts.append(f"telegram ({len(notify.telegram.chat_ids)} chat(s), {commands})")
    if notify.lark is not None:
        parts.append("lark")
    parts += [f"webhook ({hook.format})" for hook in notify.webhooks]
    if not parts:
        return "none (add a notify: block for Telegram, Lark or webhooks)"
    daily = f"; daily summary at {notify.daily_summary} UTC" if notify.daily_summary else ""
    return ", ".join(parts) + daily + "; check with 'tradeterm notify test'"
