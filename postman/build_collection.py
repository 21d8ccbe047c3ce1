"""Writes OrderSaga.postman_collection.json and local.postman_environment.json.

The collection is SPEC.md's acceptance scenarios plus Lotus's own (cancel, double-submitted
top-up). Each step checks its status code; each notification check polls GET /notification
with a bounded retry. Run `python postman/build_collection.py` after editing this file.
"""

import json
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent


def u():
    return str(uuid.uuid4())


def script(lines):
    return {"type": "text/javascript", "exec": lines}


def req(name, method, path, *, token=None, body=None, tests=(), prerequest=()):
    item = {"name": name, "request": {"method": method, "header": [], "url": "{{lotus}}" + path}}
    if token:
        item["request"]["auth"] = {
            "type": "bearer",
            "bearer": [{"key": "token", "value": f"{{{{{token}}}}}", "type": "string"}],
        }
    if body is not None:
        item["request"]["header"].append({"key": "Content-Type", "value": "application/json"})
        item["request"]["body"] = {"mode": "raw", "raw": json.dumps(body, indent=2)}
    events = []
    if prerequest:
        events.append({"listen": "prerequest", "script": script(list(prerequest))})
    if tests:
        events.append({"listen": "test", "script": script(list(tests))})
    if events:
        item["event"] = events
    return item


def status(code):
    return [f'pm.test("status code is {code}", () => pm.response.to.have.status({code}));']


def register(prefix):
    return req(
        f"{prefix} register",
        "POST",
        "/profile/register",
        body={
            "email": f"{{{{{prefix}_email}}}}",
            "password": "{{customerPassword}}",
            "firstName": "Saga",
            "lastName": prefix.upper(),
        },
        prerequest=[
            f'pm.collectionVariables.set("{prefix}_email", `{prefix}-${{Date.now()}}-${{Math.floor(Math.random() * 1e9)}}@lotus.test`);'
        ],
        tests=[
            *status(201),
            "const body = pm.response.json();",
            f'pm.test("the account has the email", () => pm.expect(body.email).to.eql(pm.collectionVariables.get("{prefix}_email")));',
        ],
    )


def login(prefix):
    return req(
        f"{prefix} login",
        "POST",
        "/profile/login",
        body={"email": f"{{{{{prefix}_email}}}}", "password": "{{customerPassword}}"},
        tests=[
            *status(200),
            "const body = pm.response.json();",
            'pm.test("an access token is returned", () => pm.expect(body.access).to.be.a("string"));',
            f'pm.collectionVariables.set("{prefix}_access", body.access);',
        ],
    )


def operator_login(prefix):
    return req(
        f"{prefix} operator login",
        "POST",
        "/profile/login",
        body={"email": "{{operatorEmail}}", "password": "{{operatorPassword}}"},
        tests=[*status(200), 'pm.collectionVariables.set("operator_access", pm.response.json().access);'],
    )


def add_money(prefix, amount):
    return req(
        f"{prefix} add money {amount}",
        "POST",
        f"/billing/add-money?money={amount}",
        token=f"{prefix}_access",
        tests=[
            *status(200),
            'pm.test("the balance is a number", () => pm.expect(pm.response.json().balance).to.be.a("number"));',
        ],
    )


def place(prefix, product):
    return req(
        f"{prefix} place idSubscription={product}",
        "POST",
        f"/order/place?idSubscription={product}",
        token=f"{prefix}_access",
        tests=[
            *status(202),
            "const body = pm.response.json();",
            'pm.test("the order waits for billing", () => pm.expect(body.status).to.eql("ValidatingBilling"));',
            f'pm.collectionVariables.set("{prefix}_orderId", body.orderId);',
        ],
    )


def latest(prefix, event, step):
    name = f"{prefix} latest notification is {event} ({step})"
    return req(
        name,
        "GET",
        "/notification",
        token=f"{prefix}_access",
        prerequest=[
            'const attempt = Number(pm.collectionVariables.get("pollAttempt") || 0);',
            "// The saga is asynchronous: wait a little before each retry of this check.",
            'if (attempt > 0) { setTimeout(() => {}, Number(pm.environment.get("pollDelayMs") || 250)); }',
        ],
        tests=[
            *status(200),
            f'const expected = "{event}";',
            f'const orderId = pm.collectionVariables.get("{prefix}_orderId");',
            "const list = pm.response.json();",
            "const last = list.length ? list[list.length - 1] : {};",
            'const attempt = Number(pm.collectionVariables.get("pollAttempt") || 0);',
            'const attempts = Number(pm.environment.get("pollAttempts") || 40);',
            "if ((last.event !== expected || last.orderId !== orderId) && attempt + 1 < attempts) {",
            '    pm.collectionVariables.set("pollAttempt", attempt + 1);',
            "    pm.execution.setNextRequest(pm.info.requestName);",
            "} else {",
            '    pm.collectionVariables.set("pollAttempt", 0);',
            "    pm.test(`latest notification is ${expected} (after ${attempt + 1} polls)`, () => {",
            "        pm.expect(last.event).to.eql(expected);",
            "        pm.expect(last.orderId).to.eql(orderId);",
            "    });",
            "}",
        ],
    )


def order_status(prefix, expected, step):
    return req(
        f"{prefix} order is {expected} ({step})",
        "GET",
        f"/order/{{{{{prefix}_orderId}}}}",
        token=f"{prefix}_access",
        tests=[
            *status(200),
            f'pm.test("the order is {expected}", () => pm.expect(pm.response.json().status).to.eql("{expected}"));',
        ],
    )


def stock_add(prefix, product):
    return req(
        f"{prefix} operator adds stock of idSubscription={product}",
        "GET",
        f"/stock/add?idSubscription={product}&count=1",
        token="operator_access",
        tests=status(200),
    )


def accept(prefix):
    return req(
        f"{prefix} operator accepts the delivery",
        "PUT",
        f"/delivery/accept?idOrder={{{{{prefix}_orderId}}}}",
        token="operator_access",
        tests=status(200),
    )


s1 = [
    register("s1"),
    login("s1"),
    add_money("s1", 1000),
    place("s1", 1),
    latest("s1", "order_in_delivery", "end"),
    order_status("s1", "NotifyingSourceSystem", "end"),
]
s2 = [
    register("s2"),
    login("s2"),
    add_money("s2", 1000),
    place("s2", 2),
    latest("s2", "order_paid", "waits for stock"),
    order_status("s2", "ValidatingStock", "waits for stock"),
    operator_login("s2"),
    stock_add("s2", 2),
    latest("s2", "order_in_delivery", "end"),
    order_status("s2", "NotifyingSourceSystem", "end"),
]
s3 = [
    register("s3"),
    login("s3"),
    place("s3", 3),
    latest("s3", "payment_failed", "no money"),
    order_status("s3", "ValidatingBilling", "no money"),
    add_money("s3", 1500),
    latest("s3", "order_paid", "paid"),
    operator_login("s3"),
    stock_add("s3", 3),
    latest("s3", "order_reserved", "reserved"),
    order_status("s3", "ValidatingDelivery", "waits for delivery"),
    accept("s3"),
    latest("s3", "order_in_delivery", "end"),
    order_status("s3", "NotifyingSourceSystem", "end"),
]


def cancel(prefix):
    return req(
        f"{prefix} cancel the order",
        "POST",
        f"/order/{{{{{prefix}_orderId}}}}/cancel",
        token=f"{prefix}_access",
        tests=[
            *status(202),
            'pm.test("the order is cancelling", () => pm.expect(pm.response.json().status).to.be.oneOf(["Cancelling", "Cancelled"]));',
        ],
    )


def balance(prefix, expected, step):
    return req(
        f"{prefix} balance is {expected} ({step})",
        "GET",
        "/billing/balance",
        token=f"{prefix}_access",
        tests=[
            *status(200),
            f'pm.test("the balance is {expected}", () => pm.expect(pm.response.json().balance).to.eql({expected}));',
        ],
    )


def order_status_polled(prefix, expected, step):
    name = f"{prefix} order becomes {expected} ({step})"
    return req(
        name,
        "GET",
        f"/order/{{{{{prefix}_orderId}}}}",
        token=f"{prefix}_access",
        prerequest=[
            'const attempt = Number(pm.collectionVariables.get("pollAttempt") || 0);',
            'if (attempt > 0) { setTimeout(() => {}, Number(pm.environment.get("pollDelayMs") || 250)); }',
        ],
        tests=[
            *status(200),
            f'const expected = "{expected}";',
            "const current = pm.response.json().status;",
            'const attempt = Number(pm.collectionVariables.get("pollAttempt") || 0);',
            'if (current !== expected && attempt + 1 < Number(pm.environment.get("pollAttempts") || 40)) {',
            '    pm.collectionVariables.set("pollAttempt", attempt + 1);',
            "    pm.execution.setNextRequest(pm.info.requestName);",
            "} else {",
            '    pm.collectionVariables.set("pollAttempt", 0);',
            "    pm.test(`the order is ${expected} (after ${attempt + 1} polls)`, () => pm.expect(current).to.eql(expected));",
            "}",
        ],
    )


def top_up_once(prefix, amount, key_var, step, expected_balance, replayed):
    tests = [
        *status(200),
        f'pm.test("the balance is {expected_balance}", () => pm.expect(pm.response.json().balance).to.eql({expected_balance}));',
    ]
    if replayed:
        tests.append(
            'pm.test("the first response is replayed", () => pm.expect(pm.response.headers.get("Idempotent-Replayed")).to.eql("true"));'
        )
    item = req(
        f"{prefix} add money {amount} with Idempotency-Key ({step})",
        "POST",
        f"/billing/add-money?money={amount}",
        token=f"{prefix}_access",
        tests=tests,
    )
    item["request"]["header"].append({"key": "Idempotency-Key", "value": f"{{{{{key_var}}}}}"})
    return item


def top_up_conflict(prefix, key_var):
    item = req(
        f"{prefix} same Idempotency-Key, other amount",
        "POST",
        "/billing/add-money?money=999",
        token=f"{prefix}_access",
        tests=status(422),
    )
    item["request"]["header"].append({"key": "Idempotency-Key", "value": f"{{{{{key_var}}}}}"})
    return item


s4 = [
    register("s4"),
    login("s4"),
    add_money("s4", 1000),
    place("s4", 2),
    latest("s4", "order_paid", "waits for stock"),
    order_status("s4", "ValidatingStock", "waits for stock"),
    balance("s4", 300, "paid"),
    cancel("s4"),
    latest("s4", "order_cancelled", "cancelled"),
    order_status_polled("s4", "Cancelled", "cancelled"),
    balance("s4", 1000, "refunded"),
]
s5 = [
    register("s5"),
    login("s5"),
    req(
        "s5 new Idempotency-Key",
        "GET",
        "/healthz",
        prerequest=['pm.collectionVariables.set("s5_key", `top-up-${Date.now()}-${Math.floor(Math.random() * 1e9)}`);'],
        tests=status(200),
    ),
    top_up_once("s5", 500, "s5_key", "first", 500, False),
    top_up_once("s5", 500, "s5_key", "double submit", 500, True),
    balance("s5", 500, "once"),
    top_up_conflict("s5", "s5_key"),
]

collection = {
    "info": {
        "_postman_id": "6f1f6f0e-5b8e-4c55-9a43-3c1a0c0f1a01",
        "name": "Lotus OrderSaga",
        "description": "SPEC.md acceptance scenarios. Set `lotus` to the base URL (http://127.0.0.1:8000 or http://arch.homework) and the operator credentials. Notification checks poll with a bounded retry (pollAttempts x pollDelayMs).",
        "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json",
    },
    "item": [
        {"name": "1. Unobstructed", "item": s1},
        {"name": "2. Out of stock", "item": s2},
        {"name": "3. No money, no stock, delivery must accept", "item": s3},
        {"name": "4. Cancel a paid order waiting for stock", "item": s4},
        {"name": "5. Double-submitted top-up", "item": s5},
    ],
    "variable": [{"key": "pollAttempt", "value": "0"}],
}
env = {
    "id": "1d7a3b0e-2f4c-4b8e-9c1d-5e6f7a8b9c0d",
    "name": "Lotus local",
    "values": [
        {"key": "lotus", "value": "http://127.0.0.1:8000", "enabled": True},
        {"key": "operatorEmail", "value": "operator@lotus.local", "enabled": True},
        # No default: scripts/newman.sh passes the stack's (LOTUS_OPERATOR_PASSWORD, var/secrets).
        {"key": "operatorPassword", "value": "", "type": "secret", "enabled": True},
        {"key": "customerPassword", "value": "Saga-Customer-Pass-2026", "enabled": True},
        {"key": "pollAttempts", "value": "60", "enabled": True},
        {"key": "pollDelayMs", "value": "250", "enabled": True},
    ],
}
(HERE / "OrderSaga.postman_collection.json").write_text(json.dumps(collection, indent=2) + "\n")
(HERE / "local.postman_environment.json").write_text(json.dumps(env, indent=2) + "\n")
print(f"wrote {HERE}")
