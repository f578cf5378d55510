"""An OpenAPI 3 description of the HTTP API, generated from the route table so it
cannot drift from what is served."""

from __future__ import annotations

from typing import Any

from amqpish import __version__
from management_ui.app import Context

_PARAM_DOC = {
    "vhost": "Virtual host name, percent-encoded (%2F for the default vhost /)",
    "name": "Object name, percent-encoded; the default exchange is amq.default",
    "source": "Source exchange (amq.default for the default exchange)",
    "destination": "Destination queue or exchange",
    "props": "Binding properties key (routing key, plus ~hash when the binding has arguments)",
    "user": "User name",
    "node": "Node name",
    "port": "TCP port",
    "protocol": "Protocol name (amqp, http)",
}

_ERROR = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "reason": {"type": "string"}},
    "required": ["error", "reason"],
}

_LIST_PARAMS = [
    {"name": n, "in": "query", "required": False, "schema": {"type": t}, "description": d}
    for n, t, d in (
        ("page", "integer", "Page number (enables pagination)"),
        ("page_size", "integer", "Items per page, at most 500"),
        ("name", "string", "Filter by name (substring, case-insensitive)"),
        ("use_regex", "boolean", "Treat name as a regular expression"),
        ("sort", "string", "Dotted field to sort by"),
        ("sort_reverse", "boolean", "Reverse the sort"),
        ("columns", "string", "Comma-separated dotted fields to return"),
    )
]


def describe(ctx: Context) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    routes = ctx.router.routes if ctx.router is not None else []
    for route in routes:
        if not route.pattern.startswith("/api") and not route.pattern.startswith("/metrics"):
            continue
        ops: dict[str, Any] = {}
        params = [
            {
                "name": part[1:-1],
                "in": "path",
                "required": True,
                "schema": {"type": "string"},
                "description": _PARAM_DOC.get(part[1:-1], ""),
            }
            for part in route.parts
            if part.startswith("{")
        ]
        for method, ep in sorted(route.methods.items()):
            op: dict[str, Any] = {
                "summary": ep.summary or ep.handler.__name__,
                "operationId": f"{method.lower()}_{ep.handler.__name__}_{len(paths)}",
                "responses": {
                    "200": {"description": "OK"},
                    "400": {
                        "description": "Bad request",
                        "content": {"application/json": {"schema": _ERROR}},
                    },
                    "401": {
                        "description": "Not authorised",
                        "content": {"application/json": {"schema": _ERROR}},
                    },
                    "404": {
                        "description": "Not found",
                        "content": {"application/json": {"schema": _ERROR}},
                    },
                },
            }
            if (
                method == "GET"
                and route.pattern.count("{") <= 1
                and route.pattern.startswith("/api/")
            ):
                op["parameters"] = list(_LIST_PARAMS)
            if method in ("PUT", "POST") and ep.body:
                op["requestBody"] = {
                    "required": False,
                    "description": ep.body,
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            if method in ("PUT", "DELETE", "POST"):
                op["responses"]["201"] = {"description": "Created"}
                op["responses"]["204"] = {"description": "No content"}
            op["security"] = [] if ep.access == "none" else [{"basic": []}]
            op["x-access"] = ep.access
            ops[method.lower()] = op
        if params:
            ops["parameters"] = params
        paths[route.pattern] = ops
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "amqpish management API",
            "version": __version__,
            "description": "RabbitMQ-compatible management HTTP API of amqpish. Errors are "
            'JSON objects {"error": ..., "reason": ...}.',
        },
        "components": {"securitySchemes": {"basic": {"type": "http", "scheme": "basic"}}},
        "paths": paths,
    }
