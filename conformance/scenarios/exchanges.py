"""Exchanges: every type's routing, the default and amq.* exchanges, e2e bindings,
alternate and internal exchanges, declare/delete semantics.

Routing is observed by publishing on a confirm-mode channel (so each message has been routed
when the publish returns) and then draining every bound queue with basic.get.
"""

from __future__ import annotations

from typing import Any

from pika.adapters.blocking_connection import BlockingChannel

from conformance.core import Context, scenario
from conformance.helpers import attempt, confirmed_publish, get_all, publish, queue_counts, sync


def setup_routing(
    ctx: Context,
    ch: BlockingChannel,
    xtype: str,
    bindings: list[tuple[str, str, dict[str, Any] | None]],
    xargs: dict[str, Any] | None = None,
) -> tuple[str, dict[str, str]]:
    x = ctx.name("x")
    ch.exchange_declare(x, xtype, arguments=xargs)
    queues: dict[str, str] = {}
    for label, key, args in bindings:
        if label not in queues:
            queues[label] = ctx.name(label)
            ch.queue_declare(queues[label])
        ch.queue_bind(queues[label], x, key, arguments=args)
    return x, queues


def deliveries(ch: BlockingChannel, queues: dict[str, str]) -> dict[str, list[str]]:
    return {label: get_all(ch, q) for label, q in sorted(queues.items())}


def route_case(
    ctx: Context,
    xtype: str,
    bindings: list[tuple[str, str, dict[str, Any] | None]],
    messages: list[tuple[str, dict[str, Any] | None]],
) -> dict[str, Any]:
    """Bind queues, publish (mandatory) each message; which queue got what, which returned."""
    conn = ctx.connect()
    ch = conn.channel()
    x, queues = setup_routing(ctx, ch, xtype, bindings)
    ch.confirm_delivery()
    results = []
    for i, (key, headers) in enumerate(messages):
        props = {"headers": headers} if headers is not None else {}
        results.append(confirmed_publish(ch, key, f"m{i}", exchange=x, mandatory=True, **props))
    return {"publish": results, "queues": deliveries(ch, queues)}


# ------------------------------------------------------------------ topic


TOPIC_CASES = [
    # name, binding key, routing key, matches
    ("exact_match", "a.b.c", "a.b.c", True),
    ("exact_mismatch", "a.b.c", "a.b.d", False),
    ("star_matches_one_word", "a.*.c", "a.b.c", True),
    ("star_does_not_match_zero_words", "a.*.c", "a.c", False),
    ("star_does_not_match_two_words", "a.*.c", "a.b.x.c", False),
    ("star_matches_empty_word", "a.*.c", "a..c", True),
    ("trailing_star_one_word", "a.*", "a.b", True),
    ("trailing_star_not_zero_words", "a.*", "a", False),
    ("trailing_star_matches_empty_last_word", "a.*", "a.", True),
    ("lone_star_one_word", "*", "abc", True),
    ("lone_star_empty_key", "*", "", True),
    ("lone_star_not_two_words", "*", "a.b", False),
    ("hash_matches_zero_words", "a.#", "a", True),
    ("hash_matches_one_word", "a.#", "a.b", True),
    ("hash_matches_many_words", "a.#", "a.b.c.d", True),
    ("hash_prefix_mismatch", "a.#", "b.a", False),
    ("lone_hash_matches_everything", "#", "x.y.z", True),
    ("lone_hash_matches_empty_key", "#", "", True),
    ("leading_hash_zero_words", "#.a", "a", True),
    ("leading_hash_many_words", "#.a", "x.y.a", True),
    ("leading_hash_mismatch", "#.a", "a.x", False),
    ("middle_hash_zero_words", "a.#.b", "a.b", True),
    ("middle_hash_many_words", "a.#.b", "a.x.y.b", True),
    ("middle_hash_mismatch", "a.#.b", "a.x.y.c", False),
    ("double_hash", "#.#", "a.b", True),
    ("hash_then_star_needs_a_word", "#.*", "", True),
    ("hash_then_star_one_word", "#.*", "a", True),
    ("star_then_hash_needs_a_word", "*.#", "", True),
    ("star_then_hash_many", "*.#", "a.b.c", True),
    ("star_hash_star", "*.#.*", "a", False),
    ("star_hash_star_two_words", "*.#.*", "a.b", True),
    ("hash_word_hash", "#.b.#", "b", True),
    ("hash_word_hash_embedded", "#.b.#", "a.b.c", True),
    ("star_word_star_needs_three", "*.b.*", "b", False),
    ("two_stars_then_hash", "a.*.*.#", "a.b", False),
    ("two_stars_then_hash_three", "a.*.*.#", "a.b.c", True),
    ("empty_binding_empty_key", "", "", True),
    ("empty_binding_nonempty_key", "", "a", False),
    ("case_sensitive", "A.b", "a.b", False),
    ("trailing_dot_key_mismatch", "a.b", "a.b.", False),
    ("leading_dot_key", ".a", ".a", True),
    ("empty_words_binding", "a..b", "a..b", True),
    ("star_is_whole_word_only", "a*", "ab", False),
    ("star_literal_in_key", "a.*", "a.*", True),
    ("hash_literal_word_in_key", "a.b", "a.#", False),
    ("multiple_hashes_backtracking", "#.a.#.b.#", "x.a.y.b.z", True),
    ("multiple_hashes_order_matters", "#.a.#.b.#", "x.b.y.a.z", False),
    ("unicode_words", "\u00e9t\u00e9.*", "\u00e9t\u00e9.chaud", True),
]


def _topic_case(name: str, binding: str, key: str) -> None:
    @scenario(f"exchange.topic.{name}")
    def run(ctx: Context) -> Any:
        return route_case(ctx, "topic", [("q", binding, None)], [(key, None)])


for _name, _binding, _key, _ in TOPIC_CASES:
    _topic_case(_name, _binding, _key)


@scenario("exchange.topic.several_bindings_one_queue_delivered_once")
def topic_dedup(ctx: Context) -> Any:
    return route_case(
        ctx, "topic", [("q", "a.*", None), ("q", "#", None), ("q", "a.b", None)], [("a.b", None)]
    )


@scenario("exchange.topic.fan_out_to_matching_queues")
def topic_fanout(ctx: Context) -> Any:
    return route_case(
        ctx,
        "topic",
        [
            ("q1", "stock.*.nyse", None),
            ("q2", "stock.#", None),
            ("q3", "*.usd.*", None),
            ("q4", "bond.#", None),
        ],
        [("stock.usd.nyse", None), ("stock.eur", None), ("bond.x.y", None), ("fx.usd.spot", None)],
    )


@scenario("exchange.topic.unbind_stops_routing")
def topic_unbind(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    x, queues = setup_routing(ctx, ch, "topic", [("q", "a.#", None)])
    ch.confirm_delivery()
    first = confirmed_publish(ch, "a.b", "before", exchange=x, mandatory=True)
    ch.queue_unbind(queues["q"], x, "a.#")
    second = confirmed_publish(ch, "a.b", "after", exchange=x, mandatory=True)
    return {"publish": [first, second], "queues": deliveries(ch, queues)}


@scenario("exchange.topic.unbind_unknown_binding_ok")
def topic_unbind_unknown(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    x, queues = setup_routing(ctx, ch, "topic", [("q", "a.#", None)])
    return attempt(lambda: ch.queue_unbind(queues["q"], x, "not.bound"), ch)


# ------------------------------------------------------------------ direct and fanout


@scenario("exchange.direct.exact_key")
def direct_exact(ctx: Context) -> Any:
    return route_case(
        ctx,
        "direct",
        [("q1", "k1", None), ("q2", "k2", None)],
        [("k1", None), ("k2", None), ("k3", None)],
    )


@scenario("exchange.direct.same_key_many_queues")
def direct_many(ctx: Context) -> Any:
    return route_case(
        ctx, "direct", [("q1", "k", None), ("q2", "k", None), ("q3", "other", None)], [("k", None)]
    )


@scenario("exchange.direct.queue_bound_with_two_keys")
def direct_two_keys(ctx: Context) -> Any:
    return route_case(
        ctx, "direct", [("q", "a", None), ("q", "b", None)], [("a", None), ("b", None), ("c", None)]
    )


@scenario("exchange.direct.empty_routing_key")
def direct_empty(ctx: Context) -> Any:
    return route_case(
        ctx, "direct", [("q1", "", None), ("q2", "k", None)], [("", None), ("k", None)]
    )


@scenario("exchange.direct.no_pattern_matching")
def direct_no_patterns(ctx: Context) -> Any:
    return route_case(
        ctx, "direct", [("q1", "a.*", None), ("q2", "#", None)], [("a.b", None), ("a.*", None)]
    )


@scenario("exchange.direct.key_is_case_sensitive")
def direct_case(ctx: Context) -> Any:
    return route_case(ctx, "direct", [("q", "Key", None)], [("key", None), ("Key", None)])


@scenario("exchange.direct.bind_twice_is_idempotent")
def direct_bind_twice(ctx: Context) -> Any:
    return route_case(ctx, "direct", [("q", "k", None), ("q", "k", None)], [("k", None)])


@scenario("exchange.direct.long_routing_key")
def direct_long_key(ctx: Context) -> Any:
    key = "k" * 255
    return route_case(ctx, "direct", [("q", key, None)], [(key, None)])


@scenario("exchange.direct.binding_arguments_distinguish_bindings")
def direct_binding_args(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    x, queues = setup_routing(ctx, ch, "direct", [("q", "k", {"a": 1}), ("q", "k", {"a": 2})])
    ch.queue_unbind(queues["q"], x, "k", arguments={"a": 1})
    ch.confirm_delivery()
    res = confirmed_publish(ch, "k", "m", exchange=x, mandatory=True)
    ch.queue_unbind(queues["q"], x, "k", arguments={"a": 2})
    res2 = confirmed_publish(ch, "k", "m2", exchange=x, mandatory=True)
    return {"publish": [res, res2], "queues": deliveries(ch, queues)}


@scenario("exchange.fanout.ignores_routing_key")
def fanout_basic(ctx: Context) -> Any:
    return route_case(
        ctx, "fanout", [("q1", "", None), ("q2", "whatever", None)], [("k", None), ("", None)]
    )


@scenario("exchange.fanout.no_bindings_unroutable")
def fanout_empty(ctx: Context) -> Any:
    return route_case(ctx, "fanout", [], [("k", None)])


@scenario("exchange.fanout.queue_bound_twice_gets_one_copy")
def fanout_dedup(ctx: Context) -> Any:
    return route_case(ctx, "fanout", [("q", "a", None), ("q", "b", None)], [("k", None)])


@scenario("exchange.fanout.unbind_with_key")
def fanout_unbind(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    x, queues = setup_routing(ctx, ch, "fanout", [("q", "a", None), ("q", "b", None)])
    ch.queue_unbind(queues["q"], x, "a")
    ch.confirm_delivery()
    first = confirmed_publish(ch, "zzz", "m1", exchange=x, mandatory=True)
    ch.queue_unbind(queues["q"], x, "b")
    second = confirmed_publish(ch, "zzz", "m2", exchange=x, mandatory=True)
    return {"publish": [first, second], "queues": deliveries(ch, queues)}


# ------------------------------------------------------------------ headers


HEADERS_CASES: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = [
    ("all_exact", {"x-match": "all", "a": "1", "b": "2"}, {"a": "1", "b": "2"}),
    ("all_extra_header_ok", {"x-match": "all", "a": "1"}, {"a": "1", "b": "2"}),
    ("all_missing_header", {"x-match": "all", "a": "1", "b": "2"}, {"a": "1"}),
    ("all_value_differs", {"x-match": "all", "a": "1"}, {"a": "2"}),
    ("any_one_matches", {"x-match": "any", "a": "1", "b": "2"}, {"b": "2"}),
    ("any_none_match", {"x-match": "any", "a": "1", "b": "2"}, {"a": "x", "c": "2"}),
    ("default_is_all", {"a": "1", "b": "2"}, {"a": "1"}),
    ("default_is_all_match", {"a": "1", "b": "2"}, {"a": "1", "b": "2"}),
    ("all_empty_binding_matches_any_message", {"x-match": "all"}, {"z": "1"}),
    ("all_empty_binding_matches_no_headers", {"x-match": "all"}, None),
    ("any_empty_binding_matches_nothing", {"x-match": "any"}, {"z": "1"}),
    ("no_headers_all", {"x-match": "all", "a": "1"}, None),
    ("no_headers_any", {"x-match": "any", "a": "1"}, None),
    ("int_vs_string_differ", {"x-match": "all", "a": 1}, {"a": "1"}),
    ("int_equal", {"x-match": "all", "a": 1}, {"a": 1}),
    ("bool_equal", {"x-match": "all", "a": True}, {"a": True}),
    ("void_binding_value_matches_presence", {"x-match": "all", "a": None}, {"a": "anything"}),
    ("void_binding_value_needs_presence", {"x-match": "all", "a": None}, {"b": "1"}),
    ("all_ignores_x_headers", {"x-match": "all", "x-foo": "1", "a": "1"}, {"a": "1"}),
    ("any_ignores_x_headers", {"x-match": "any", "x-foo": "1"}, {"x-foo": "1"}),
    (
        "all_with_x_considers_x_headers",
        {"x-match": "all-with-x", "x-foo": "1", "a": "1"},
        {"a": "1"},
    ),
    (
        "all_with_x_matches_x_headers",
        {"x-match": "all-with-x", "x-foo": "1", "a": "1"},
        {"a": "1", "x-foo": "1"},
    ),
    ("any_with_x_matches_x_header", {"x-match": "any-with-x", "x-foo": "1"}, {"x-foo": "1"}),
    ("any_with_x_no_match", {"x-match": "any-with-x", "x-foo": "1"}, {"x-foo": "2"}),
    ("nested_table_equal", {"x-match": "all", "t": {"k": "v"}}, {"t": {"k": "v"}}),
    ("header_names_case_sensitive", {"x-match": "all", "A": "1"}, {"a": "1"}),
]


def _headers_case(name: str, binding: dict[str, Any], headers: dict[str, Any] | None) -> None:
    @scenario(f"exchange.headers.{name}")
    def run(ctx: Context) -> Any:
        return route_case(ctx, "headers", [("q", "", binding)], [("ignored", headers)])


for _name, _binding, _headers in HEADERS_CASES:
    _headers_case(_name, _binding, _headers)


@scenario("exchange.headers.invalid_x_match_value")
def headers_invalid(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    x = ctx.name("x")
    ch.exchange_declare(x, "headers")
    q = ch.queue_declare("", exclusive=True).method.queue
    return attempt(lambda: ch.queue_bind(q, x, "", arguments={"x-match": "some"}), ch)


@scenario("exchange.headers.routing_key_ignored")
def headers_rk(ctx: Context) -> Any:
    return route_case(ctx, "headers", [("q", "bound-key", {"a": "1"})], [("other-key", {"a": "1"})])


@scenario("exchange.headers.amq_match_exists")
def amq_match(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    return {
        n: attempt(lambda n=n: ch.exchange_declare(n, "headers", passive=True), ch)
        for n in ("amq.match", "amq.headers")
    }


# ------------------------------------------------------------------ default and amq.* exchanges


@scenario("exchange.default.routes_to_queue_by_name")
def default_routes(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    q = ctx.name("q")
    ch.queue_declare(q)
    ch.confirm_delivery()
    res = [
        confirmed_publish(ch, q, "m", mandatory=True),
        confirmed_publish(ch, ctx.name("none"), "lost", mandatory=True),
    ]
    return {"publish": res, "queue": get_all(ch, q)}


@scenario("exchange.default.every_queue_implicitly_bound")
def default_implicit(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    q = ctx.name("q")
    ch.queue_declare(q)
    ch.queue_bind(q, "amq.direct", "other")
    ch.confirm_delivery()
    return {
        "by_name": confirmed_publish(ch, q, "a", mandatory=True),
        "by_binding_key_on_default": confirmed_publish(ch, "other", "b", mandatory=True),
        "queue": get_all(ch, q),
    }


@scenario("exchange.default.passive_declare_by_amq_default_name")
def default_amq_default(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    return attempt(lambda: ch.exchange_declare("amq.default", "direct", passive=True), ch)


@scenario("exchange.default.publish_to_amq_default_name")
def default_publish_amq_default(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    publish(ch, q, "m", exchange="amq.default")
    return {"sync": sync(ch)}


BUILTINS = [
    "amq.direct",
    "amq.fanout",
    "amq.topic",
    "amq.headers",
    "amq.match",
    "amq.rabbitmq.trace",
]


@scenario("exchange.builtin.predeclared")
def builtins_exist(ctx: Context) -> Any:
    conn = ctx.connect()
    out = {}
    for name in BUILTINS:
        ch = conn.channel()
        out[name] = attempt(lambda ch=ch, name=name: ch.exchange_declare(name, passive=True), ch)
    return out


@scenario("exchange.builtin.types")
def builtin_types(ctx: Context) -> Any:
    conn = ctx.connect()
    out = {}
    for name, typ in [
        ("amq.direct", "direct"),
        ("amq.fanout", "fanout"),
        ("amq.topic", "topic"),
        ("amq.headers", "headers"),
        ("amq.match", "headers"),
    ]:
        ch = conn.channel()
        out[name] = attempt(
            lambda ch=ch, name=name, typ=typ: ch.exchange_declare(name, typ, durable=True), ch
        )
    return out


@scenario("exchange.builtin.trace_exchange_is_internal")
def builtin_trace(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    publish(ch, "k", "m", exchange="amq.rabbitmq.trace")
    return sync(ch)


@scenario("exchange.builtin.amq_topic_routes")
def builtin_topic(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(q, "amq.topic", f"{ctx.suffix}.#")
    ch.confirm_delivery()
    confirmed_publish(ch, f"{ctx.suffix}.a.b", "m", exchange="amq.topic")
    return get_all(ch, q)


# ------------------------------------------------------------------ exchange-to-exchange


@scenario("exchange.e2e.direct_to_fanout")
def e2e_basic(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    src, dst = ctx.name("src"), ctx.name("dst")
    ch.exchange_declare(src, "direct")
    ch.exchange_declare(dst, "fanout")
    ch.exchange_bind(dst, src, "k")
    q = ctx.name("q")
    ch.queue_declare(q)
    ch.queue_bind(q, dst)
    ch.confirm_delivery()
    res = [
        confirmed_publish(ch, "k", "yes", exchange=src, mandatory=True),
        confirmed_publish(ch, "other", "no", exchange=src, mandatory=True),
    ]
    return {"publish": res, "queue": get_all(ch, q)}


@scenario("exchange.e2e.topic_chain_three_hops")
def e2e_chain(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    a, b, c = ctx.name("a"), ctx.name("b"), ctx.name("c")
    ch.exchange_declare(a, "topic")
    ch.exchange_declare(b, "topic")
    ch.exchange_declare(c, "direct")
    ch.exchange_bind(b, a, "x.#")
    ch.exchange_bind(c, b, "*.y")
    q = ctx.name("q")
    ch.queue_declare(q)
    ch.queue_bind(q, c, "x.y")
    ch.confirm_delivery()
    res = [
        confirmed_publish(ch, k, k, exchange=a, mandatory=True)
        for k in ("x.y", "x.z", "x.y.z", "w.y")
    ]
    return {"publish": res, "queue": get_all(ch, q)}


@scenario("exchange.e2e.cycle_delivers_once")
def e2e_cycle(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    a, b = ctx.name("a"), ctx.name("b")
    ch.exchange_declare(a, "fanout")
    ch.exchange_declare(b, "fanout")
    ch.exchange_bind(b, a)
    ch.exchange_bind(a, b)
    qa, qb = ctx.name("qa"), ctx.name("qb")
    ch.queue_declare(qa)
    ch.queue_declare(qb)
    ch.queue_bind(qa, a)
    ch.queue_bind(qb, b)
    ch.confirm_delivery()
    res = [
        confirmed_publish(ch, "k", "via-a", exchange=a),
        confirmed_publish(ch, "k", "via-b", exchange=b),
    ]
    return {"publish": res, "qa": get_all(ch, qa), "qb": get_all(ch, qb)}


@scenario("exchange.e2e.self_binding")
def e2e_self(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    a = ctx.name("a")
    ch.exchange_declare(a, "fanout")
    bind = attempt(lambda: ch.exchange_bind(a, a), ch)
    q = ctx.name("q")
    ch.queue_declare(q)
    ch.queue_bind(q, a)
    ch.confirm_delivery()
    return {
        "bind": bind,
        "publish": confirmed_publish(ch, "k", "m", exchange=a),
        "queue": get_all(ch, q),
    }


@scenario("exchange.e2e.two_paths_one_copy")
def e2e_diamond(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    src, left, r = ctx.name("src"), ctx.name("left"), ctx.name("right")
    for x in (src, left, r):
        ch.exchange_declare(x, "fanout")
    ch.exchange_bind(left, src)
    ch.exchange_bind(r, src)
    q = ctx.name("q")
    ch.queue_declare(q)
    ch.queue_bind(q, left)
    ch.queue_bind(q, r)
    ch.queue_bind(q, src)
    ch.confirm_delivery()
    confirmed_publish(ch, "k", "m", exchange=src)
    return get_all(ch, q)


@scenario("exchange.e2e.unbind")
def e2e_unbind(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    src, dst = ctx.name("src"), ctx.name("dst")
    ch.exchange_declare(src, "direct")
    ch.exchange_declare(dst, "fanout")
    ch.exchange_bind(dst, src, "k")
    q = ctx.name("q")
    ch.queue_declare(q)
    ch.queue_bind(q, dst)
    ch.exchange_unbind(dst, src, "k")
    ch.confirm_delivery()
    return {
        "publish": confirmed_publish(ch, "k", "m", exchange=src, mandatory=True),
        "queue": get_all(ch, q),
    }


@scenario("exchange.e2e.delete_destination_removes_binding")
def e2e_delete_dst(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    src, dst = ctx.name("src"), ctx.name("dst")
    ch.exchange_declare(src, "fanout")
    ch.exchange_declare(dst, "fanout")
    ch.exchange_bind(dst, src)
    ch.exchange_delete(dst)
    ch.exchange_declare(dst, "fanout")
    q = ctx.name("q")
    ch.queue_declare(q)
    ch.queue_bind(q, dst)
    ch.confirm_delivery()
    return {
        "publish": confirmed_publish(ch, "k", "m", exchange=src, mandatory=True),
        "queue": get_all(ch, q),
    }


@scenario("exchange.e2e.headers_source")
def e2e_headers(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    src, dst = ctx.name("src"), ctx.name("dst")
    ch.exchange_declare(src, "headers")
    ch.exchange_declare(dst, "direct")
    ch.exchange_bind(dst, src, "", arguments={"x-match": "any", "t": "yes"})
    q = ctx.name("q")
    ch.queue_declare(q)
    ch.queue_bind(q, dst, "rk")
    ch.confirm_delivery()
    res = [
        confirmed_publish(ch, "rk", "match", exchange=src, mandatory=True, headers={"t": "yes"}),
        confirmed_publish(ch, "rk", "nomatch", exchange=src, mandatory=True, headers={"t": "no"}),
        confirmed_publish(
            ch, "other", "wrong-key", exchange=src, mandatory=True, headers={"t": "yes"}
        ),
    ]
    return {"publish": res, "queue": get_all(ch, q)}


@scenario("exchange.e2e.auto_delete_ignores_bindings_as_destination")
def e2e_auto_delete(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    src, dst = ctx.name("src"), ctx.name("dst")
    ch.exchange_declare(src, "fanout")
    ch.exchange_declare(dst, "fanout", auto_delete=True)
    ch.exchange_bind(dst, src)
    q = ctx.name("q")
    ch.queue_declare(q)
    ch.queue_bind(q, dst)
    ch.queue_unbind(q, dst)
    after_queue_unbind = attempt(lambda: ch.exchange_declare(dst, passive=True), ch)
    ch2 = conn.channel()
    ch2.exchange_unbind(dst, src)
    after_all_unbound = attempt(lambda: ch2.exchange_declare(dst, passive=True), ch2)
    return {"after_queue_unbind": after_queue_unbind, "after_source_unbind": after_all_unbound}


# ------------------------------------------------------------------ alternate exchanges


def _ae_setup(
    ctx: Context, ch: BlockingChannel, xtype: str = "direct"
) -> tuple[str, str, str, str]:
    ae = ctx.name("ae")
    ch.exchange_declare(ae, "fanout")
    x = ctx.name("x")
    ch.exchange_declare(x, xtype, arguments={"alternate-exchange": ae})
    q, aq = ctx.name("q"), ctx.name("aq")
    ch.queue_declare(q)
    ch.queue_declare(aq)
    ch.queue_bind(q, x, "k")
    ch.queue_bind(aq, ae)
    return x, ae, q, aq


@scenario("exchange.alternate.unroutable_goes_to_ae")
def ae_basic(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    x, _ae, q, aq = _ae_setup(ctx, ch)
    ch.confirm_delivery()
    res = [
        confirmed_publish(ch, "k", "routed", exchange=x, mandatory=True),
        confirmed_publish(ch, "zzz", "unroutable", exchange=x, mandatory=True),
    ]
    return {"publish": res, "q": get_all(ch, q), "ae_q": get_all(ch, aq)}


@scenario("exchange.alternate.keeps_routing_key_and_exchange")
def ae_fields(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    x, _ae, _q, aq = _ae_setup(ctx, ch)
    ch.confirm_delivery()
    confirmed_publish(ch, "zzz", "m", exchange=x)
    return get_all(ch, aq, fields=("exchange", "routing_key"))


@scenario("exchange.alternate.missing_ae_drops_and_returns")
def ae_missing(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    x = ctx.name("x")
    ch.exchange_declare(x, "direct", arguments={"alternate-exchange": ctx.name("nope")})
    ch.confirm_delivery()
    return {
        "mandatory": confirmed_publish(ch, "zzz", "m", exchange=x, mandatory=True),
        "plain": confirmed_publish(ch, "zzz", "m", exchange=x),
    }


@scenario("exchange.alternate.ae_also_unroutable_returns")
def ae_unroutable(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    ae = ctx.name("ae")
    ch.exchange_declare(ae, "direct")
    x = ctx.name("x")
    ch.exchange_declare(x, "direct", arguments={"alternate-exchange": ae})
    ch.confirm_delivery()
    return confirmed_publish(ch, "zzz", "m", exchange=x, mandatory=True)


@scenario("exchange.alternate.chain_of_two")
def ae_chain(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    ae2 = ctx.name("ae2")
    ch.exchange_declare(ae2, "fanout")
    ae1 = ctx.name("ae1")
    ch.exchange_declare(ae1, "direct", arguments={"alternate-exchange": ae2})
    x = ctx.name("x")
    ch.exchange_declare(x, "direct", arguments={"alternate-exchange": ae1})
    q = ctx.name("q")
    ch.queue_declare(q)
    ch.queue_bind(q, ae2)
    ch.confirm_delivery()
    return {
        "publish": confirmed_publish(ch, "zzz", "m", exchange=x, mandatory=True),
        "q": get_all(ch, q),
    }


@scenario("exchange.alternate.cycle_terminates")
def ae_cycle(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    a, b = ctx.name("a"), ctx.name("b")
    ch.exchange_declare(a, "direct", arguments={"alternate-exchange": b})
    ch.exchange_declare(b, "direct", arguments={"alternate-exchange": a})
    ch.confirm_delivery()
    return confirmed_publish(ch, "zzz", "m", exchange=a, mandatory=True)


@scenario("exchange.alternate.self_reference")
def ae_self(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    a = ctx.name("a")
    ch.exchange_declare(a, "direct", arguments={"alternate-exchange": a})
    ch.confirm_delivery()
    return confirmed_publish(ch, "zzz", "m", exchange=a, mandatory=True)


@scenario("exchange.alternate.applies_to_fanout_without_bindings")
def ae_fanout(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    ae = ctx.name("ae")
    ch.exchange_declare(ae, "fanout")
    x = ctx.name("x")
    ch.exchange_declare(x, "fanout", arguments={"alternate-exchange": ae})
    aq = ctx.name("aq")
    ch.queue_declare(aq)
    ch.queue_bind(aq, ae)
    ch.confirm_delivery()
    return {
        "publish": confirmed_publish(ch, "k", "m", exchange=x, mandatory=True),
        "ae_q": get_all(ch, aq),
    }


@scenario("exchange.alternate.not_used_by_e2e_source")
def ae_e2e(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    x, _ae, q, aq = _ae_setup(ctx, ch)
    src = ctx.name("src")
    ch.exchange_declare(src, "fanout")
    ch.exchange_bind(x, src)
    ch.confirm_delivery()
    return {
        "publish": confirmed_publish(ch, "zzz", "m", exchange=src, mandatory=True),
        "q": get_all(ch, q),
        "ae_q": get_all(ch, aq),
    }


@scenario("exchange.alternate.internal_ae_allowed")
def ae_internal(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    ae = ctx.name("ae")
    ch.exchange_declare(ae, "fanout", internal=True)
    x = ctx.name("x")
    ch.exchange_declare(x, "direct", arguments={"alternate-exchange": ae})
    aq = ctx.name("aq")
    ch.queue_declare(aq)
    ch.queue_bind(aq, ae)
    ch.confirm_delivery()
    return {
        "publish": confirmed_publish(ch, "zzz", "m", exchange=x, mandatory=True),
        "ae_q": get_all(ch, aq),
    }


@scenario("exchange.alternate.via_policy", needs_mgmt=True)
def ae_policy(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    ae = ctx.name("ae")
    ch.exchange_declare(ae, "fanout")
    aq = ctx.name("aq")
    ch.queue_declare(aq)
    ch.queue_bind(aq, ae)
    x = ctx.name("x")
    ctx.policy(f"^{x.replace('.', '[.]')}$", {"alternate-exchange": ae}, apply_to="exchanges")
    ch.exchange_declare(x, "direct")
    ch.confirm_delivery()
    return {
        "publish": confirmed_publish(ch, "zzz", "m", exchange=x, mandatory=True),
        "ae_q": get_all(ch, aq),
    }


@scenario("exchange.alternate.argument_wins_over_policy", needs_mgmt=True)
def ae_arg_over_policy(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    ae_arg, ae_pol = ctx.name("aearg"), ctx.name("aepol")
    qa, qp = ctx.name("qa"), ctx.name("qp")
    for ae, q in ((ae_arg, qa), (ae_pol, qp)):
        ch.exchange_declare(ae, "fanout")
        ch.queue_declare(q)
        ch.queue_bind(q, ae)
    x = ctx.name("x")
    ctx.policy(f"^{x.replace('.', '[.]')}$", {"alternate-exchange": ae_pol}, apply_to="exchanges")
    ch.exchange_declare(x, "direct", arguments={"alternate-exchange": ae_arg})
    ch.confirm_delivery()
    confirmed_publish(ch, "zzz", "m", exchange=x)
    return {"arg_ae": get_all(ch, qa), "policy_ae": get_all(ch, qp)}


# ------------------------------------------------------------------ internal exchanges


@scenario("exchange.internal.reachable_through_e2e")
def internal_e2e(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    src, inner = ctx.name("src"), ctx.name("inner")
    ch.exchange_declare(src, "fanout")
    ch.exchange_declare(inner, "fanout", internal=True)
    ch.exchange_bind(inner, src)
    q = ctx.name("q")
    ch.queue_declare(q)
    ch.queue_bind(q, inner)
    ch.confirm_delivery()
    return {"publish": confirmed_publish(ch, "k", "m", exchange=src), "queue": get_all(ch, q)}


@scenario("exchange.internal.passive_declare_ok")
def internal_passive(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    x = ctx.name("x")
    ch.exchange_declare(x, "direct", internal=True)
    return attempt(lambda: ch.exchange_declare(x, passive=True), ch)


@scenario("exchange.internal.bind_queue_ok")
def internal_bind(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    x = ctx.name("x")
    ch.exchange_declare(x, "direct", internal=True)
    q = ch.queue_declare("", exclusive=True).method.queue
    return attempt(lambda: ch.queue_bind(q, x, "k"), ch)


# ------------------------------------------------------------------ declare / delete


@scenario("exchange.declare.redeclare_equivalent_ok")
def declare_redeclare(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    x = ctx.name("x")
    ch.exchange_declare(x, "topic", durable=True, arguments={"alternate-exchange": "ae"})
    return attempt(
        lambda: ch.exchange_declare(
            x, "topic", durable=True, arguments={"alternate-exchange": "ae"}
        ),
        ch,
    )


@scenario("exchange.declare.redeclare_with_unknown_argument_changed")
def declare_unknown_arg(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    x = ctx.name("x")
    ch.exchange_declare(x, "topic", arguments={"x-custom": 1})
    return attempt(lambda: ch.exchange_declare(x, "topic", arguments={"x-custom": 2}), ch)


@scenario("exchange.declare.nowait")
def declare_nowait(ctx: Context) -> Any:
    c = ctx.raw_open()
    c.open_channel(1)
    x = ctx.name("x")
    c.send_method(1, "exchange.declare", exchange=x, type="fanout", nowait=True)
    c.send_method(1, "exchange.declare", exchange=x, type="fanout", passive=True)
    m = c.read_method()
    return m[1] if m else None


@scenario("exchange.declare.type_names_case_sensitive")
def declare_case(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    return attempt(lambda: ch.exchange_declare(ctx.name("x"), "Direct"), ch)


@scenario("exchange.declare.special_characters_in_name")
def declare_special(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    x = ctx.name("x y/z#*\u00fc")
    ch.exchange_declare(x, "fanout")
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(q, x)
    ch.confirm_delivery()
    confirmed_publish(ch, "", "m", exchange=x)
    return get_all(ch, q)


@scenario("exchange.delete.removes_queue_bindings_not_queues")
def delete_bindings(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    x, queues = setup_routing(ctx, ch, "fanout", [("q", "", None)])
    ch.exchange_delete(x)
    ch.exchange_declare(x, "fanout")
    ch.confirm_delivery()
    return {
        "publish": confirmed_publish(ch, "k", "m", exchange=x, mandatory=True),
        "queue_exists": queue_counts(ch, queues["q"]),
    }


@scenario("exchange.delete.if_unused_without_bindings")
def delete_if_unused_ok(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    x = ctx.name("x")
    ch.exchange_declare(x, "direct")
    return {
        "delete": attempt(lambda: ch.exchange_delete(x, if_unused=True), ch),
        "exists": attempt(lambda: ch.exchange_declare(x, passive=True), ch),
    }


@scenario("exchange.delete.queue_deletion_removes_binding")
def delete_queue_binding(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    x, queues = setup_routing(ctx, ch, "direct", [("q", "k", None)])
    ch.queue_delete(queues["q"])
    return attempt(lambda: ch.exchange_delete(x, if_unused=True), ch)


@scenario("exchange.auto_delete.deleted_after_last_queue_unbound")
def auto_delete_unbind(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    x = ctx.name("x")
    ch.exchange_declare(x, "direct", auto_delete=True)
    before = attempt(lambda: ch.exchange_declare(x, passive=True), ch)
    q1, q2 = ctx.name("q1"), ctx.name("q2")
    ch.queue_declare(q1)
    ch.queue_declare(q2)
    ch.queue_bind(q1, x, "a")
    ch.queue_bind(q2, x, "b")
    ch.queue_unbind(q1, x, "a")
    one_left = attempt(lambda: ch.exchange_declare(x, passive=True), ch)
    ch.queue_unbind(q2, x, "b")
    ch2 = conn.channel()
    none_left = attempt(lambda: ch2.exchange_declare(x, passive=True), ch2)
    return {"never_bound": before, "one_binding_left": one_left, "no_bindings_left": none_left}


@scenario("exchange.auto_delete.deleted_when_bound_queue_deleted")
def auto_delete_queue_delete(ctx: Context) -> Any:
    conn = ctx.connect()
    ch = conn.channel()
    x = ctx.name("x")
    ch.exchange_declare(x, "fanout", auto_delete=True)
    q = ctx.name("q")
    ch.queue_declare(q)
    ch.queue_bind(q, x)
    ch.queue_delete(q)
    return attempt(lambda: ch.exchange_declare(x, passive=True), ch)
