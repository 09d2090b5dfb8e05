"""An AI agent's MCP client (the official `mcp` Python SDK) against the local run's POST /mcp.

Run by infra/api-test while the local gateway is up:

    .venv/mcp/bin/python tests/clients/mcp_client.py http://127.0.0.1:3000 http://127.0.0.1:3001

Connects the demo-us store (as a dashboard admin would), then, with a bearer token of the dev
identity provider: initializes, lists the tools (the read tools; the order actions are not
opened to MCP by default) and calls every read tool, checking that each answers the same JSON
as the direct invoke's shape (`ok`, `data`) and that order details need the order's own email.
Tokens the identity provider did not issue as the route requires (none, expired, another
audience, without the org claim, forged) are refused with 401 and the resource-metadata
challenge, and another organization's token never reaches demo-org's stores. Exits non-zero on
the first difference.
"""

import asyncio
import json
import sys
import urllib.error
import urllib.request

import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

BASE, ISSUER = sys.argv[1].rstrip("/"), sys.argv[2].rstrip("/")
READ_TOOLS = ["get_order_details", "search_products", "get_shop_details"]
ORDER = {"order_number": "#1001", "email": "jane@example.com"}


def token(**headers: str) -> str:
    request = urllib.request.Request(f"{ISSUER}/dev/token", method="POST", headers=headers)
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.read().decode()


def dashboard(method: str, path: str, body: dict | None, bearer: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{BASE}{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def check(condition: bool, what: str) -> None:
    if not condition:
        sys.exit(f"FAIL: {what}")
    print(f"ok: {what}")


async def session_calls(bearer: str) -> dict:
    """Initializes, lists and calls every read tool with `bearer`; what each answered."""
    client = httpx2.AsyncClient(headers={"Authorization": f"Bearer {bearer}"}, timeout=30)
    async with client, streamable_http_client(f"{BASE}/mcp", http_client=client) as (read, write, *_):
        async with ClientSession(read, write) as session:
            initialized = await session.initialize()
            tools = await session.list_tools()
            answers = {
                "server": initialized.server_info.name,
                "protocol": initialized.protocol_version,
                "tools": {tool.name: tool for tool in tools.tools},
                "order": await session.call_tool("get_order_details", ORDER),
                "wrong_email": await session.call_tool(
                    "get_order_details", {**ORDER, "email": "someone.else@example.com"}
                ),
                "products": await session.call_tool("search_products", {"query": "trail"}),
                "shop": await session.call_tool("get_shop_details", {}),
            }
            return answers


def post_mcp(bearer: str | None) -> urllib.request.Request:
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
    }
    if bearer is not None:
        headers["Authorization"] = f"Bearer {bearer}"
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    return urllib.request.Request(f"{BASE}/mcp", method="POST", data=json.dumps(body).encode(), headers=headers)


def main() -> None:
    admin = token()
    status, body = dashboard(
        "POST",
        "/shopify/stores",
        {"shop_domain": "demo-us", "access_token": "shpat_demo_us_0000000000000000000000"},
        admin,
    )
    check(status in (200, 201), f"demo-us is connected ({status} {body.get('error', '')})")

    answers = asyncio.run(session_calls(token(**{"X-Dev-Role": "agent"})))
    check(answers["server"] == "shopify-connector", "initialize names the server")
    check(answers["protocol"] in ("2025-11-25", "2026-07-28"), f"a served revision was agreed ({answers['protocol']})")
    check(sorted(answers["tools"]) == sorted(READ_TOOLS), f"the read tools are listed, no action ({sorted(answers['tools'])})")
    email = answers["tools"]["get_order_details"].input_schema
    check("email" in email.get("required", []), "order details ask for the order's email")
    for name in ("order", "products", "shop"):
        result = answers[name]
        check(not result.is_error and result.structured_content["ok"] is True, f"{name}: answered ok")
        text = json.loads(result.content[0].text)
        check(text == result.structured_content, f"{name}: the text item carries the same JSON")
    order = answers["order"].structured_content["data"]
    check(order["name"] == "#1001", "the order is found by its number and its email")
    wrong = answers["wrong_email"]
    check(wrong.is_error and wrong.structured_content["error"]["code"] == "order_not_found",
          "another email finds no order")
    check(answers["products"].structured_content["data"]["products"] != [], "products are found")

    other = token(**{"X-Dev-Org-Id": "other-org", "X-Dev-Role": "agent"})
    foreign = asyncio.run(session_calls(other))
    check(foreign["order"].structured_content["error"]["code"] == "no_store_connected",
          "another organization reaches none of demo-org's stores")

    # An admin opens order cancellation to MCP: the action tools are listed from then on.
    status, settings = dashboard("GET", "/shopify/settings", None, admin)
    check(status == 200, "the settings are read")
    settings["order_actions"]["cancel_order"]["enabled"] = True
    settings["mcp"]["order_actions"] = True
    status, _ = dashboard("PUT", "/shopify/settings", settings, admin)
    check(status == 200, "order cancellation is opened to MCP")
    opened = asyncio.run(session_calls(token(**{"X-Dev-Role": "agent"})))
    check(sorted(opened["tools"]) == sorted(READ_TOOLS + ["cancel_order", "confirm_action", "get_action"]),
          f"the enabled action is listed once opened to MCP ({sorted(opened['tools'])})")
    check(opened["tools"]["cancel_order"].annotations.destructive_hint is True, "cancel_order is marked destructive")
    settings["mcp"]["order_actions"] = False
    status, _ = dashboard("PUT", "/shopify/settings", settings, admin)
    check(status == 200, "order actions are closed to MCP again")

    refused = {
        "no token": None,
        "expired": token(**{"X-Dev-Expires-In": "-120"}),
        "without the org claim": token(**{"X-Dev-Org-Id": "none"}),
        "not a JWT": "not-a-jwt",
        "forged": admin[: admin.rfind(".") + 1] + "AAAA",
    }
    for what, bearer in refused.items():
        try:
            urllib.request.urlopen(post_mcp(bearer), timeout=10)
            sys.exit(f"FAIL: {what}: served")
        except urllib.error.HTTPError as error:
            challenge = error.headers.get("WWW-Authenticate", "")
            check(error.code == 401 and challenge.startswith('Bearer resource_metadata="')
                  and challenge.endswith('/.well-known/oauth-protected-resource/mcp"'),
                  f"{what}: 401 with the resource-metadata challenge")
    with urllib.request.urlopen(f"{BASE}/.well-known/oauth-protected-resource/mcp", timeout=10) as answer:
        document = json.loads(answer.read())
    check(document == {"resource": f"{BASE}/mcp", "authorization_servers": [ISSUER], "bearer_methods_supported": ["header"]},
          "the protected-resource document names the route and the identity provider")
    print("the MCP client checks passed")


if __name__ == "__main__":
    main()
