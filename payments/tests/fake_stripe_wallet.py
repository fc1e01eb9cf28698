"""What FakeStripe (payments/tests/fake_stripe.py) does not answer yet and the payment
methods of a customer need: `GET /v1/payment_methods?customer=&type=card` (the cards
attached to a customer) and Checkout Sessions in `mode=setup` (a hosted page that saves a
card and charges nothing), with `complete_setup`, Stripe's side of a customer saving a
card there. `with_wallet(fake)` adds them to a running fake and returns it.

Kept beside the fake rather than in it while the fake's module is another change's; the
shapes are Stripe's (a list object; a setup-mode session: `payment_status`
`no_payment_required`, `setup_intent`, `customer`, `url`)."""

from __future__ import annotations

import copy
import re

from payments.tests.fake_stripe import ApiError, FakeStripe, _Ctx, _now, _rand

SETUP_PARAMS = {"mode", "customer", "payment_method_types", "metadata", "success_url", "cancel_url", "expand"}


def with_wallet(fake: FakeStripe) -> FakeStripe:
    routes = {(method, pattern.pattern): handler for method, pattern, handler in fake._routes}
    payment_create = routes[("POST", "/v1/checkout/sessions")]

    def session_create(ctx: _Ctx) -> dict:
        if ctx.params.get("mode") != "setup":
            return payment_create(ctx)
        for name in ctx.params:
            if name not in SETUP_PARAMS:
                fake.unhandled.append((ctx.method, f"{ctx.path} {name}="))
                raise ApiError(400, f"Received unknown parameter: {name}", code="parameter_unknown", param=name)
        customer = fake._require(ctx.params.get("customer"), "customer", param="customer")
        if not ctx.params.get("success_url"):
            raise ApiError(400, "Missing required param: success_url.", code="parameter_missing", param="success_url")
        session_id = "cs_test_c1" + _rand(56)
        session = {
            "id": session_id,
            "object": "checkout.session",
            "cancel_url": ctx.params.get("cancel_url") or None,
            "created": _now(),
            "currency": None,
            "customer": customer["id"],
            "livemode": ctx.livemode,
            "metadata": fake._metadata({}, ctx.params.get("metadata")),
            "mode": "setup",
            "payment_intent": None,
            "payment_method_types": ctx.params.get("payment_method_types") or ["card"],
            "payment_status": "no_payment_required",
            "setup_intent": None,
            "status": "open",
            "success_url": ctx.params["success_url"],
            "url": f"https://checkout.stripe.com/c/pay/{session_id}",
        }
        fake._store(session, line_items=[], payment_intent_data={})
        return fake._render(session, ctx)

    def payment_methods_list(ctx: _Ctx) -> dict:
        customer = ctx.params.get("customer")
        kind = ctx.params.get("type")
        cards = [
            fake._render(method)
            for method in fake._of_type("payment_method")
            if method["customer"] == customer and (not kind or method["type"] == kind)
        ]
        return {"object": "list", "data": cards, "has_more": False, "url": "/v1/payment_methods"}

    def complete_setup(session_id: str, payment_method: str = "pm_card_visa") -> list[dict]:
        """The customer saves `payment_method` on the setup page: it is attached to the
        session's customer. Returns the events: payment_method.attached, then
        checkout.session.completed."""
        with fake._lock:
            session = fake._require(session_id, "checkout.session")
            if session["mode"] != "setup" or session["status"] != "open":
                raise ValueError(f"Checkout Session {session_id} is not an open setup session")
            ctx = _Ctx("POST", "/checkout/setup", {}, livemode=session["livemode"])
            card = fake._materialize_pm(payment_method, ctx)
            fake._attach(ctx, card, session["customer"])
            session["status"] = "complete"
            session["setup_intent"] = "seti_" + _rand(24)
            fake._emit(ctx, "checkout.session.completed", session)
            return [copy.deepcopy(event) for event in ctx.events]

    others = [route for route in fake._routes if (route[0], route[1].pattern) != ("POST", "/v1/checkout/sessions")]
    fake._routes = [
        ("GET", re.compile("/v1/payment_methods"), payment_methods_list),
        ("POST", re.compile("/v1/checkout/sessions"), session_create),
        *others,
    ]
    fake.complete_setup = complete_setup
    return fake
