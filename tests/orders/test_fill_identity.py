"""成交的身份是 (交易所账户, 交易所订单号, 成交编号)，不只是成交编号。

订单管理器用真实的日志库文件（tmp_path）与真实的经纪商类：PaperBroker（不联网，账户 paper:local），以及
指向本机一个不存在地址的 ccxt 客户端上的 CcxtBroker（只用来算账户标识，不发请求）。成交回报是手写的 TradeReport。
"""

from __future__ import annotations

from tests.journal.test_schema import build_v4_journal
from tests.journal.test_writer import journal  # noqa: F401  夹具：一个新日志库，已开始一次 paper 运行
from tradeterm.broker.ccxt_broker import CcxtBroker, TradeReport
from tradeterm.broker.paper import PaperBroker
from tradeterm.exchange.client import make_client
from tradeterm.journal.store import TradeJournal
from tradeterm.models import Fill, Order, OrderStatus, OrderType, Position, Side
from tradeterm.orders.manager import OrderManager
from tradeterm.orders.state_machine import OrderUpdate

# 测试成交的时间，UTC 毫秒
TS = 1_700_000_000_000
# 不会被连接的本机地址（ccxt 客户端只用来算账户标识）
NOWHERE = "http://127.0.0.1:9"


class Desk:
    """一个订单管理器 + 它的日志库；on_fill 像引擎一样在同一事务里记成交与持仓，并记下收到的成交。"""

    def __init__(self, journal: TradeJournal, broker):
        """broker 决定账户标识。"""
        # 日志库
        self.journal = journal
        # 收到的新成交（已去重），按到达顺序
        self.fills: list[Fill] = []
        # 订单管理器
        self.manager = OrderManager(broker, journal, self._on_fill, lambda order: None)

    async def _on_fill(self, order: Order, fill: Fill) -> None:
        """记账（与引擎相同：成交、订单、持仓一个事务）。"""
        self.fills.append(fill)
        await self.journal.record_fill(fill, order, Position(order.symbol, fill.amount, fill.price), "bot")

    async def place(self, client_order_id: str, exchange_order_id: str, symbol: str = "BTC/USDT") -> Order:
        """一张交易所已确认（有交易所订单号）的 1 个基础币市价买单，已写进日志库。"""
        order = Order(symbol, Side.BUY, OrderType.MARKET, 1.0, client_order_id=client_order_id, instance="bot",
                      created_ts=1)
        self.manager._index(order)
        await self.journal.record_order(order)
        await self.manager.apply(order, OrderUpdate(OrderStatus.OPEN, 0.0, exchange_order_id=exchange_order_id), [])
        return order


def report(exchange_order_id: str, trade_id: str, symbol: str = "BTC/USDT") -> TradeReport:
    """交易所报告的一笔成交：100 USDT 成交 1 个，手续费 0.1 USDT。"""
    return TradeReport(trade_id, exchange_order_id, symbol, Side.BUY, 100.0, 1.0, 0.1, "USDT", TS, False)


def paper() -> PaperBroker:
    """不联网的模拟盘经纪商（账户 paper:local）。"""
    return PaperBroker(None, cash=10_000.0, quote="USDT", maker_fee=0.001, taker_fee=0.001)


async def test_same_trade_id_on_two_exchange_orders_is_two_fills(journal):
    """新账户的成交编号从 1 开始：两张订单各有一笔编号为 1 的成交，两笔都记账（以前第二笔被当作重复丢掉）。"""
    desk = Desk(journal, paper())
    first, second = await desk.place("c1", "1001"), await desk.place("c2", "1002")
    await desk.manager.book(first, report("1001", "1"))
    await desk.manager.book(second, report("1002", "1"))
    assert [(f.client_order_id, f.exchange_order_id, f.trade_id) for f in desk.fills] == [("c1", "1001", "1"),
                                                                                       ("c2", "1002", "1")]
    assert await journal.fill_keys() == {("paper:local", "1001", "1"), ("paper:local", "1002", "1")}
    assert [f.exchange_order_id for f in await journal.fills()] == ["1001", "1002"]


async def test_one_fill_from_stream_poll_and_reconcile_is_booked_once(journal):
    """同一 (订单, 成交) 先从推送、再从轮询、再从对账（包括重启之后）到达：只记一次。"""
    desk = Desk(journal, paper())
    order = await desk.place("c1", "1001")
    raw = {"id": "1001", "clientOrderId": "c1", "status": "closed", "filled": 1.0, "average": 100.0,
           "timestamp": TS, "trades": [{"id": "1", "order": "1001", "price": 100.0, "amount": 1.0, "timestamp": TS,
                                        "fee": {"cost": 0.1, "currency": "USDT"}}]}
    await desk.manager.on_stream_order(raw)
    await desk.manager.apply(order, OrderUpdate.from_ccxt(raw), [report("1001", "1")])
    assert desk.manager.is_booked(report("1001", "1"))
    assert await desk.manager.adopt(report("1001", "1"))
    restarted = Desk(journal, paper())
    await restarted.manager.load()
    assert restarted.manager.is_booked(report("1001", "1"))
    assert await restarted.manager.adopt(report("1001", "1"))
    assert len(desk.fills) == 1 and restarted.fills == []
    assert len(await journal.fills()) == 1


async def test_a_fill_of_an_unknown_exchange_order_is_not_swallowed(journal):
    """成交编号与已记账的一笔相同、交易所订单号却不是本引擎的：不算已记账，adopt 返回 False（对账会报告它）。"""
    desk = Desk(journal, paper())
    order = await desk.place("c1", "1001")
    await desk.manager.book(order, report("1001", "1"))
    stranger = report("9999", "1")
    assert not desk.manager.is_booked(stranger)
    assert not await desk.manager.adopt(stranger)


async def test_a_v4_journal_migrates_and_keeps_its_fills_deduplicated(tmp_path):
    """第 4 版的库（成交按交易对 + 编号）升级到第 5 版：旧成交在任何账户下都算已记账，不会被对账再记一次；
    同一编号在新订单上的成交照常记账。"""
    path = tmp_path / "journal.db"
    build_v4_journal(path, [("BTC/USDT", "1", "c1", "1001"), ("ETH/USDT", "1", "c2", "2001")])
    journal = await TradeJournal.open(path)
    exchange = make_client(NOWHERE, api_key="sandbox-key", secret="sandbox-secret", pro=True)
    try:
        await journal.start_run("live", 10_000.0, {})
        desk = Desk(journal, CcxtBroker(exchange))
        await desk.manager.load()
        assert await journal.fill_keys() == {("", "1001", "1"), ("", "2001", "1")}
        assert desk.manager.is_booked(report("1001", "1")) and desk.manager.is_booked(report("2001", "1", "ETH/USDT"))
        assert await desk.manager.adopt(report("1001", "1")) and desk.fills == []
        old = desk.manager.orders["c1"]
        assert not await journal.record_fill(Fill("c1", "BTC/USDT", Side.BUY, 100.0, 1.0, 0.1, "USDT", TS, "1",
                                                  exchange_order_id="1001", account=desk.manager.account),
                                             old, Position("BTC/USDT", 1.0, 100.0), "bot"), "legacy row matches"
        fresh = await desk.place("c3", "1002")
        await desk.manager.book(fresh, report("1002", "1"))
        assert [f.client_order_id for f in desk.fills] == ["c3"]
        assert len(await journal.fills()) == 3
    finally:
        await exchange.close()
        await journal.close()


async def test_account_id_is_stable_and_contains_no_secret():
    """账户标识：交易所 + 市场类型 + API key 摘要；同一 key 两次相同，换 key 就不同；不含 key 与 secret。"""
    key, secret = "k3yK3yk3yK3yk3yK3y", "s3cr3ts3cr3ts3cr3t"
    clients = [make_client(NOWHERE, api_key=k, secret=secret, pro=True) for k in (key, key, "another-key")]
    try:
        ids = [CcxtBroker(c).account_id for c in clients]
    finally:
        for client in clients:
            await client.close()
    assert ids[0] == ids[1] != ids[2]
    assert ids[0].startswith("binance:spot:") and len(ids[0].rsplit(":", 1)[1]) == 12
    assert all(key not in i and secret not in i and key[:6] not in i for i in ids)
    assert paper().account_id == "paper:local"
