#!/usr/bin/env python3
"""A local stand-in for Stripe's API, for tether's tests and benchmarks.

Serves the list endpoints tether reads (/v1/customers, /v1/subscriptions,
/v1/payment_intents, /v1/products, /v1/prices, /v1/invoices, ..., /v1/events) with Stripe's pagination (limit,
starting_after, has_more), objects built from the repository's fixture
events, POST with idempotency keys, and misbehaviour on request
(429 with or without Retry-After, 500, hanging, a list whose pages do not
move on) through /_control.

Any other list path serves the objects a test posts for it to /_control
(`{"lists": {"/v1/payment_methods": [...]}}`) and is empty until then, so a
new kind's backfill is tested without a line here.

Stripe Connect: a test posts connected accounts to /_control
(`{"accounts": {"acct_1": {"object": {...}, "lists": {...}, "events": [...]}}}`).
`/v1/accounts` lists their objects to the platform; a request with a
`Stripe-Account` header sees only that account's lists and events, and an
account the platform does not have is refused with 403, as Stripe does.

    python3 tests/fake_stripe/server.py --customers 300 --subscriptions 120 --payment-intents 200

prints "listening on 127.0.0.1:PORT" once it accepts connections.
"""

import argparse
import copy
import json
import pathlib
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

EVENTS = pathlib.Path(__file__).resolve().parents[2] / "fixtures" / "stripe" / "events"
STATUSES = ["active", "canceled", "past_due", "trialing", "active"]


def template(event_type):
    return json.loads((EVENTS / f"{event_type}.json").read_text())["data"]["object"]


def make_objects(customers, subscriptions, payment_intents, products=0, prices=0, invoices=0, charges=0):
    objects = {"customers": [], "subscriptions": [], "payment_intents": [], "products": [], "prices": [],
               "checkout_sessions": [], "invoices": [], "charges": [], "refunds": [], "disputes": []}
    base = template("product.created")
    for i in range(products):
        p = copy.deepcopy(base)
        p.update(id=f"prod_fake{i:07d}", name=f"Product {i}", default_price=None)
        objects["products"].append(p)
    base = template("price.created")
    for i in range(prices):
        p = copy.deepcopy(base)
        p.update(id=f"price_fake{i:07d}", product=f"prod_fake{i % max(products, 1):07d}", unit_amount=100 * (i + 1))
        objects["prices"].append(p)
    base = template("customer.updated")
    for i in range(customers):
        c = copy.deepcopy(base)
        c.update(id=f"cus_fake{i:07d}", name=f"Customer {i}", email=f"customer{i}@example.com",
                 metadata={"n": str(i)})
        objects["customers"].append(c)
    base = template("customer.subscription.updated")
    for i in range(subscriptions):
        s = copy.deepcopy(base)
        s.update(id=f"sub_fake{i:07d}", customer=f"cus_fake{i % max(customers, 1):07d}",
                 status=STATUSES[i % len(STATUSES)])
        s["items"]["data"][0]["quantity"] = i + 1
        objects["subscriptions"].append(s)
    base = template("payment_intent.succeeded")
    for i in range(payment_intents):
        p = copy.deepcopy(base)
        p.update(id=f"pi_fake{i:07d}", customer=f"cus_fake{i % max(customers, 1):07d}", amount=100 + i)
        objects["payment_intents"].append(p)
    base = template("invoice.paid")
    for i in range(invoices):
        v = copy.deepcopy(base)
        v.update(id=f"in_fake{i:07d}", customer=f"cus_fake{i % max(customers, 1):07d}", amount_due=100 + i)
        objects["invoices"].append(v)
    base = template("charge.refunded")
    for i in range(charges):
        c = copy.deepcopy(base)
        # Charge i pays payment intent i and has i cents refunded.
        c.update(id=f"ch_fake{i:07d}", customer=f"cus_fake{i % max(customers, 1):07d}",
                 payment_intent=f"pi_fake{i:07d}", amount=100 + i, amount_refunded=i, refunded=i > 0)
        objects["charges"].append(c)
    return objects


class State:
    def __init__(self, objects, key):
        self.objects = objects
        self.key = key
        self.events = []
        self.lists = {}             # list path -> objects a test posted, by id
        self.failures = []          # [{"status": 429, "retry_after": 1}], consumed in order
        self.hang_after_pages = None
        self.stuck_lists = {}       # list path -> "repeat" | "empty", for pages after the first
        self.pages_served = 0
        self.requests = []
        self.posts = {}             # idempotency key -> response
        self.webhook_endpoints = [] # as Stripe keeps them; the secret is shown at creation only
        self.accounts = {}          # acct id -> {"object", "lists", "events"}, for Stripe-Account
        self.lock = threading.Lock()


def page(items, query, path):
    limit = min(int(query.get("limit", ["10"])[0]), 100)
    after = query.get("starting_after", [None])[0]
    start = 0
    if after is not None:
        # Ids are generated in order, so a binary search finds the cursor.
        ids = [o["id"] for o in items] if len(items) < 1000 else None
        if ids is not None:
            start = ids.index(after) + 1 if after in ids else len(items)
        else:
            lo, hi = 0, len(items)
            while lo < hi:
                mid = (lo + hi) // 2
                if items[mid]["id"] <= after:
                    lo = mid + 1
                else:
                    hi = mid
            start = lo
    chunk = items[start:start + limit]
    return {"object": "list", "url": path, "has_more": start + limit < len(items), "data": chunk}


def stuck_page(items, query, path, mode):
    """A list that does not move on, as /_control's `stuck_lists` asks: every
    page after the first is the first page again ("repeat") or empty
    ("empty"), and each claims more."""
    if "starting_after" not in query:
        return page(items, query, path)
    first = page(items, {"limit": query.get("limit", ["10"])}, path)
    return {**first, "has_more": True, "data": first["data"] if mode == "repeat" else []}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_json(self, status, body, headers=None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length).decode() if length else ""

    def control(self):
        state = self.server.state
        if self.command == "GET":
            with state.lock:
                return self.send_json(200, {"requests": state.requests, "created": len(state.posts)})
        body = json.loads(self.read_body() or "{}")
        with state.lock:
            state.failures = body.get("failures", state.failures)
            if "hang_after_pages" in body:
                state.hang_after_pages = body["hang_after_pages"]
                state.pages_served = 0
            if "events" in body:
                state.events = body["events"]
            state.stuck_lists.update(body.get("stuck_lists", {}))
            for path, items in body.get("lists", {}).items():
                state.lists[path] = sorted(items, key=lambda o: o["id"])
            for account, held in body.get("accounts", {}).items():
                state.accounts[account] = {
                    "object": held.get("object", {"id": account, "object": "account"}),
                    "lists": {path: sorted(items, key=lambda o: o["id"])
                              for path, items in held.get("lists", {}).items()},
                    "events": held.get("events", []),
                }
        self.send_json(200, {"ok": True})

    def handle_any(self):
        state = self.server.state
        url = urllib.parse.urlsplit(self.path)
        if url.path.startswith("/_control"):
            return self.control()
        query = urllib.parse.parse_qs(url.query)
        form = self.read_body() if self.command == "POST" else ""
        with state.lock:
            state.requests.append({"method": self.command, "path": url.path, "query": url.query,
                                   "idempotency_key": self.headers.get("idempotency-key"),
                                   "stripe_account": self.headers.get("stripe-account")})
            failure = state.failures.pop(0) if state.failures else None
            hang = state.hang_after_pages is not None and state.pages_served >= state.hang_after_pages
        if self.headers.get("authorization") != f"Bearer {state.key}":
            return self.send_json(401, {"error": {"type": "invalid_request_error",
                                                  "message": "Invalid API Key provided: sk_***"}})
        if failure and failure.get("lose_response") and self.command == "POST":
            # The request is carried out, but its answer never arrives.
            with state.lock:
                self.create(url.path, form)
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if failure:
            headers = {}
            if failure.get("retry_after") is not None:
                headers["retry-after"] = str(failure["retry_after"])
            if failure.get("should_retry") is not None:
                headers["stripe-should-retry"] = "true" if failure["should_retry"] else "false"
            return self.send_json(failure["status"], {"error": {"type": "api_error",
                                                                "message": "injected failure"}}, headers)
        if hang:
            time.sleep(3600)
            return
        account = self.headers.get("stripe-account")
        if account is not None:
            return self.in_account(account, url, query)
        if self.command == "GET" and url.path == "/v1/accounts":
            return self.send_list([a["object"] for a in sorted(state.accounts.values(),
                                                               key=lambda a: a["object"]["id"])],
                                  query, url.path)
        # A list a test posted wins over the built-in one of the same path;
        # one posted for a customer (`<path>?customer=cus_1`) wins over both.
        if self.command == "GET" and "customer" in query:
            keyed = f"{url.path}?customer={query['customer'][0]}"
            if keyed in state.lists:
                return self.send_list(state.lists[keyed], query, url.path)
        if self.command == "GET" and url.path in state.lists:
            return self.send_list(state.lists[url.path], query, url.path)
        kinds = {"/v1/customers": "customers", "/v1/subscriptions": "subscriptions",
                 "/v1/payment_intents": "payment_intents", "/v1/products": "products", "/v1/prices": "prices",
                 "/v1/checkout/sessions": "checkout_sessions", "/v1/invoices": "invoices",
                 "/v1/charges": "charges", "/v1/refunds": "refunds", "/v1/disputes": "disputes"}
        if self.command == "GET" and url.path in kinds:
            items = state.objects[kinds[url.path]]
            if url.path == "/v1/customers" and "email" in query:
                items = [c for c in items if c.get("email") == query["email"][0]]
            if url.path == "/v1/subscriptions" and query.get("status", [None])[0] != "all":
                items = [s for s in items if s["status"] != "canceled"]
            return self.send_list(items, query, url.path)
        if self.command == "GET" and url.path == "/v1/webhook_endpoints":
            return self.send_list(state.webhook_endpoints, query, url.path)
        if self.command == "GET" and url.path == "/v1/events":
            since = int(query.get("created[gte]", ["0"])[0])
            types = set(query.get("types[]", []))
            items = [e for e in state.events if e["created"] >= since and (not types or e["type"] in types)]
            # Stripe lists events newest first.
            items.sort(key=lambda e: e["created"], reverse=True)
            return self.send_list(items, query, url.path)
        if self.command == "POST":
            with state.lock:
                created = self.create(url.path, form)
            return self.send_json(200, created)
        # Any other list endpoint (a kind the fake holds none of, unless a
        # test posted a list for it): an account with nothing there.
        if self.command == "GET":
            return self.send_list([], query, url.path)
        self.send_json(404, {"error": {"type": "invalid_request_error", "message": "no such route"}})

    def in_account(self, account, url, query):
        """A request made in connected account `account`: its own lists and
        events only."""
        state = self.server.state
        held = state.accounts.get(account)
        if held is None:
            return self.send_json(403, {"error": {
                "type": "invalid_request_error",
                "message": f"The provided key does not have access to account '{account}' "
                           "(or that account does not exist)."}})
        if self.command != "GET" or url.path == "/v1/accounts":
            return self.send_json(400, {"error": {"type": "invalid_request_error",
                                                  "message": "not served in a connected account"}})
        if url.path == "/v1/events":
            since = int(query.get("created[gte]", ["0"])[0])
            types = set(query.get("types[]", []))
            items = [e for e in held["events"] if e["created"] >= since and (not types or e["type"] in types)]
            items.sort(key=lambda e: e["created"], reverse=True)
            return self.send_list(items, query, url.path)
        if "customer" in query:
            keyed = f"{url.path}?customer={query['customer'][0]}"
            if keyed in held["lists"]:
                return self.send_list(held["lists"][keyed], query, url.path)
        return self.send_list(held["lists"].get(url.path, []), query, url.path)

    def send_list(self, items, query, path):
        state = self.server.state
        with state.lock:
            state.pages_served += 1
            mode = state.stuck_lists.get(path)
        body = stuck_page(items, query, path, mode) if mode else page(items, query, path)
        self.send_json(200, body)

    def create(self, path, form):
        """What a POST makes, once per idempotency key (the caller holds the lock)."""
        state = self.server.state
        key = self.headers.get("idempotency-key")
        if key and key in state.posts:
            return state.posts[key]
        params = {k: v[0] for k, v in urllib.parse.parse_qs(form).items()}
        if path.startswith("/v1/webhook_endpoints"):
            created = self.write_endpoint(path, urllib.parse.parse_qs(form))
        elif path == "/v1/customers":
            created = copy.deepcopy(template("customer.created"))
            created.update(id=f"cus_created{len(state.posts):04d}", email=params.get("email"),
                           name=params.get("name"),
                           metadata={k[len("metadata["):-1]: v for k, v in params.items()
                                     if k.startswith("metadata[")})
            state.objects["customers"].append(created)
        else:
            created = {"id": f"obj_created{len(state.posts)}", "object": "posted", "params": params}
        state.posts[key or f"unkeyed-{len(state.posts)}"] = created
        return created

    def write_endpoint(self, path, form):
        """Creates (`/v1/webhook_endpoints`) or updates (`.../we_x`) an
        endpoint as Stripe does: `enabled_events[]` replaces the list,
        `disabled` switches its status, the secret is returned on creation."""
        state = self.server.state
        metadata = {k[len("metadata["):-1]: v[0] for k, v in form.items() if k.startswith("metadata[")}
        events = form.get("enabled_events[]")
        if path == "/v1/webhook_endpoints":
            endpoint = {"id": f"we_fake{len(state.webhook_endpoints):04d}", "object": "webhook_endpoint",
                        "url": form["url"][0], "enabled_events": events or [], "metadata": metadata,
                        "api_version": form.get("api_version", [None])[0], "status": "enabled",
                        "livemode": False,
                        # A creation parameter; kept so tests can see which endpoints take
                        # connected accounts' events.
                        "connect": form.get("connect", ["false"])[0] == "true"}
            state.webhook_endpoints.append(endpoint)
            return {**endpoint, "secret": f"whsec_fake_{uuid.uuid4().hex}"}
        endpoint = next((e for e in state.webhook_endpoints if path.endswith("/" + e["id"])), None)
        if endpoint is None:
            return {"error": "no such webhook endpoint"}
        if events is not None:
            endpoint["enabled_events"] = events
        if "url" in form:
            endpoint["url"] = form["url"][0]
        if "disabled" in form:
            endpoint["status"] = "disabled" if form["disabled"][0] == "true" else "enabled"
        endpoint["metadata"].update(metadata)
        return dict(endpoint)

    do_GET = handle_any
    do_POST = handle_any
    do_DELETE = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A connection closed on purpose (a lost answer) is not news.
        pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--key", default="sk_test_fake")
    parser.add_argument("--customers", type=int, default=0)
    parser.add_argument("--subscriptions", type=int, default=0)
    parser.add_argument("--payment-intents", type=int, default=0)
    parser.add_argument("--products", type=int, default=0)
    parser.add_argument("--prices", type=int, default=0)
    parser.add_argument("--invoices", type=int, default=0)
    parser.add_argument("--charges", type=int, default=0)
    args = parser.parse_args()
    server = Server(("127.0.0.1", args.port), Handler)
    server.state = State(make_objects(args.customers, args.subscriptions, args.payment_intents,
                                      args.products, args.prices, args.invoices, args.charges), args.key)
    print(f"listening on 127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
