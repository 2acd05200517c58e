"""模拟盘经纪商：手算的成交价、手续费与余额；余额不足拒单；限价单穿价成交；引擎在它上面交易、重启后由日志库重建账户。"""

from __future__ import annotations

import pytest

from tests.engine.conftest import engine_config, flip, wait_for
from tradeterm.broker.ccxt_broker import OrderRejected
from tradeterm.broker.paper import PaperBroker
from tradeterm.data.market_data import MarketData
from tradeterm.engine.trader import TraderEngine
from tradeterm.exchange.client import make_client
from tradeterm.journal.store import TradeJournal
from tradeterm.models import Order, OrderStatus, OrderType, Side


def paper(cash: float = 1_000.0) -> PaperBroker:
    """不连网的模拟盘经纪商：maker 0.1%、taker 0.2%、滑点 10 bp。"""
    return PaperBroker(None, cash=cash, quote="USDT", maker_fee=0.001, taker_fee=0.002, slippage_bps=10)


async def test_market_buy_fills_at_last_price_plus_slippage_with_taker_fee():
    """最新价 100：买 2 个 -> 成交价 100 * (1 + 10/10000) = 100.1，名义 200.2，手续费 0.2% = 0.4004；
    现金 1000 - 200.2 - 0.4004 = 799.3996，持有 2 个。"""
    broker = paper()
    broker.observe("X/USDT", 100.0)
    update, trades = await broker.create_order(Order("X/USDT", Side.BUY, OrderType.MARKET, 2.0))
    assert update.status is OrderStatus.FILLED and update.filled == 2.0
    assert trades[0].price == pytest.approx(100.1) and trades[0].fee == pytest.approx(0.4004)
    assert await broker.balances() == pytest.approx({"USDT": 799.3996, "X": 2.0})


async def test_sell_more_than_held_and_buy_beyond_cash_are_rejected():
    """现货：卖出超过持有量、买入超过现金（含手续费）都被拒，余额不变。"""
    broker = paper(cash=100.0)
    broker.observe("X/USDT", 100.0)
    with pytest.raises(OrderRejected, match="InsufficientFunds"):
        await broker.create_order(Order("X/USDT", Side.BUY, OrderType.MARKET, 1.0))  # 需要 100.1 + 0.2002
    with pytest.raises(OrderRejected, match="InsufficientFunds"):
        await broker.create_order(Order("X/USDT", Side.SELL, OrderType.MARKET, 0.5))
    assert await broker.balances() == {"USDT": 100.0}


async def test_limit_buy_rests_then_fills_at_the_limit_with_maker_fee():
    """最新价 100，限价 95 买 1 个：挂着；价格到 96 不成交；跌到 94 时成交，价格取限价与当前价中更优的 94，
    maker 手续费 0.1% = 0.094；推送队列里有这张单的成交回报。"""
    broker = paper()
    broker.observe("X/USDT", 100.0)
    order = Order("X/USDT", Side.BUY, OrderType.LIMIT, 1.0, price=95.0)
    update, trades = await broker.create_order(order)
    assert update.status is OrderStatus.OPEN and trades == []
    broker.observe("X/USDT", 96.0)
    assert (await broker.find_order(order))[0].status is OrderStatus.OPEN
    broker.observe("X/USDT", 94.0)
    update, trades = await broker.find_order(order)
    assert update.status is OrderStatus.FILLED
    assert trades[0].price == 94.0 and trades[0].fee == pytest.approx(0.094) and trades[0].is_maker
    pushed = broker._updates.get_nowait()
    assert pushed["clientOrderId"] == order.client_order_id and pushed["status"] == "closed"


async def paper_engine(config, url: str) -> TraderEngine:
    """用不带密钥的客户端（指向 url 的沙盒，只用公开接口）与模拟盘经纪商启动一个引擎。"""
    exchange = make_client(url, pro=True)
    broker = PaperBroker(exchange, cash=config.account.starting_cash, quote="USDT", maker_fee=0.001,
                         taker_fee=0.001, slippage_bps=2)
    engine = TraderEngine(config, broker, MarketData(exchange), await TradeJournal.open(config.journal_path()),
                          mode="paper", exchange_label="sandbox (paper)")
    await engine.start()
    return engine


async def test_engine_paper_trades_on_public_data_and_rebuilds_the_account_after_restart(tmp_path, sandbox):
    """引擎用 PaperBroker：只用交易所的公开接口（不下任何真实订单），成交记进日志库；重启后账户由日志库重建，对账无问题。"""
    config = engine_config(tmp_path, sandbox.url, [flip()])

    async def start() -> TraderEngine:
        """用不带密钥的客户端与模拟盘经纪商启动引擎。"""
        return await paper_engine(config, sandbox.url)

    async def stop(engine: TraderEngine) -> None:
        """停止引擎并关闭连接。"""
        await engine.stop()
        await engine.broker.close()
        await engine.journal.close()

    engine = await start()
    await wait_for(lambda: len(engine.broker.trades) >= 5, 20, "paper fills")
    await engine.command("pause", instance="flip_btc")
    await wait_for(lambda: not engine.orders.open_orders(), 10, "no open orders")
    balances = await engine.broker.balances()
    assert balances.get("BTC", 0.0) == pytest.approx(engine.bots["flip_btc"].position.amount, abs=1e-12)
    assert sandbox.requests_to("/api/v3/order") == [] and sandbox.account().trades == []  # 交易所上没有真实订单
    await stop(engine)
    again = await start()
    try:
        assert await again.broker.balances() == pytest.approx(balances)
        assert again.problems == []
        assert again.bots["flip_btc"].position.amount == pytest.approx(balances.get("BTC", 0.0), abs=1e-12)
    finally:
        await stop(again)


async def test_kill_switch_on_the_paper_broker_closes_everything_and_verifies(tmp_path, sandbox):
    """模拟盘经纪商上的一键停止：挂着的模拟限价单被撤、持仓平掉、核对（open_orders、余额）没有剩余。"""
    config = engine_config(tmp_path, sandbox.url, [flip("flip_btc", "BTC/USDT", 40)])
    engine = await paper_engine(config, sandbox.url)
    broker = engine.broker
    try:
        await wait_for(lambda: engine.bots["flip_btc"].position.amount > 0, 30, "a paper position")
        price = round(engine.mark_price("BTC/USDT") * 0.9, 2)
        await engine.command("manual_order", symbol="BTC/USDT", side="buy", amount=0.001, type="limit", price=price)
        assert len(await broker.open_orders("BTC/USDT")) == 1
        report = await engine.command("kill_switch")
        assert report["remaining"] == [] and report["cancelled"] == 1, report
        assert await broker.open_orders("BTC/USDT") == []
        assert (await broker.balances()).get("BTC", 0.0) == pytest.approx(0.0, abs=1e-12)
    finally:
        await engine.stop()
        await broker.close()
        await engine.journal.close()
