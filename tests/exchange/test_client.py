"""make_client / point_urls_at：原版 ccxt 客户端的全部 URL 被改指到给定地址，路径保持不变。"""

from __future__ import annotations

from tradeterm.exchange import make_client, point_urls_at


def test_point_urls_at_replaces_scheme_and_host_recursively_and_keeps_paths():
    """嵌套字典里的 https/wss URL 都换成新的协议与主机，路径与非 URL 值不变。"""
    urls = {"public": "https://api.binance.com/api/v3", "ws": {"spot": "wss://stream.binance.com:9443/ws",
                                                               "ws-api": {"spot": "wss://ws-api.binance.com:443/ws-api/v3"}},
            "list": ["https://fapi.binance.com/fapi/v1"], "other": 3}
    out = point_urls_at(urls, "http://127.0.0.1:9", "ws://127.0.0.1:9")
    assert out == {"public": "http://127.0.0.1:9/api/v3",
                   "ws": {"spot": "ws://127.0.0.1:9/ws", "ws-api": {"spot": "ws://127.0.0.1:9/ws-api/v3"}},
                   "list": ["http://127.0.0.1:9/fapi/v1"], "other": 3}
    assert urls["public"] == "https://api.binance.com/api/v3"  # 原对象未被修改


async def test_make_client_points_every_api_url_at_the_sandbox_and_sets_spot_options():
    """make_client 给出的 pro 客户端：REST 与 websocket URL 全部指向本机，只加载现货、不拉币种。"""
    client = make_client("http://127.0.0.1:8765", api_key="k", secret="s", pro=True)
    try:
        flat = []

        def walk(value):
            """收集嵌套结构里的全部字符串。"""
            if isinstance(value, dict):
                for item in value.values():
                    walk(item)
            elif isinstance(value, str):
                flat.append(value)

        walk(client.urls["api"])
        assert flat and all(u.startswith(("http://127.0.0.1:8765/", "ws://127.0.0.1:8765/")) for u in flat)
        assert client.urls["api"]["ws"]["ws-api"]["spot"] == "ws://127.0.0.1:8765/ws-api/v3"
        assert client.options["fetchMarkets"]["types"] == ["spot"]
        assert client.options["fetchCurrencies"] is False
        assert client.apiKey == "k"
    finally:
        await client.close()
