"""手动订单的交易所规则检查：与交易所的过滤器相同——价格在价格档位上（PRICE_FILTER）、数量在步长上且不低于
最小数量（LOT_SIZE）、名义金额不低于最小名义金额（NOTIONAL）。规则来自交易所的市场信息（MarketRules）。

预览（dry run）与真正下单调用同一个函数，所以预览说“可以”的订单交易所也会接受，预览说“不行”的也不会发出。
数量的步长与最小值复用共享成交模型（tradeterm/execution/fills.py）的 `order_reject_reason`，与机器人的订单同一份规则。
"""

from __future__ import annotations

from tradeterm.execution.fills import REJECT_REASONS, MarketRules, order_reject_reason, round_price

# 判断价格“在档位上”时容忍的浮点误差（档位的倍数），如 27000.1 / 0.01 的浮点余数
TICK_TOLERANCE = 1e-6
# 检查不通过时 RiskDecision 的规则名
EXCHANGE_RULES = "exchange_rules"


def exchange_rule_problems(symbol: str, rules: MarketRules, amount: float, price: float | None,
                           reference: float) -> list[str]:
    """一张手动订单违反的交易所规则，每条一句英文（空列表表示交易所会接受）。

    amount 须已按步长向下取整（基础货币）；price 为限价（市价单为 None）；reference 为估算名义金额用的价格
    （限价，或市价单的最新价；0 表示还没有价格）。"""
    problems = []
    if price is not None and rules.price_tick > 0:
        on_tick = round_price(price, rules.price_tick)
        if on_tick <= 0:
            problems.append(f"price {price:.12g} is below the market's price tick {rules.price_tick:.12g} "
                            f"(price filter); give at least {rules.price_tick:.12g}")
        elif abs(price - on_tick) > rules.price_tick * TICK_TOLERANCE:
            problems.append(f"price {price:.12g} is not a multiple of the market's price tick {rules.price_tick:.12g} "
                            f"(price filter); use {on_tick:.12g}")
    if not reference > 0:
        problems.append(f"no price for {symbol} yet to check the minimum notional; wait for the first candle "
                        f"or give a limit price")
        return problems
    code = order_reject_reason(amount, reference, rules.min_amount, rules.min_notional)
    if code:
        problems.append(f"{REJECT_REASONS[code]} (lot size / notional filter): amount {amount:.12g} x price "
                        f"{reference:.12g} = notional {amount * reference:.6g}; the market needs an amount of at least "
                        f"{max(rules.min_amount, rules.amount_step):.12g} and a notional of at least "
                        f"{rules.min_notional:.12g}")
    return problems
