"""The administrative part of the HTTP API: vhosts, users, permissions, policies and
definitions (export and import in RabbitMQ's format)."""

from __future__ import annotations

from typing import Any

from management_ui import render
from management_ui.api import actor, as_bool, as_int, as_object, as_str, histories
from management_ui.app import Context, not_authorised
from management_ui.http import (
    Request,
    Response,
    bad_request,
    created,
    json_response,
    no_content,
    not_found,
)
from management_ui.routing import Router


def _tags(body: dict[str, Any]) -> list[str]:
    tags = body.get("tags", [])
    if tags is None:
        return []
    if isinstance(tags, str):
        return [t.strip() for t in tags.split(",") if t.strip()]
    if isinstance(tags, list) and all(isinstance(t, str) for t in tags):
        return [t.strip() for t in tags if t.strip()]
    raise bad_request(f"invalid tags: {tags!r}")


# --- vhosts ------------------------------------------------------------------------------


def list_vhosts(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    allowed = set(ctx.listable_vhosts(req))
    node = ctx.view.node_name()
    items = [v for v in ctx.view.vhosts() if v.name in allowed]
    return json_response(
        render.reply_list(req, items, lambda v: render.vhost_json(v, node), default_sort=("name",))
    )


def get_vhost(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    name = p["vhost"]
    v = ctx.view.vhost(name)
    if v is None:
        raise not_found()
    if name not in ctx.listable_vhosts(req):
        raise not_authorised("User not authorised to access virtual host")
    lengths, rates = histories(ctx, req, "vhost", (name,))
    body = render.vhost_json(v, ctx.view.node_name(), lengths=lengths, rates=rates)
    return json_response(render.prune(body, render.columns_of(req)))


def put_vhost(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    body = req.json()
    was_created = ctx.view.put_vhost(
        p["vhost"],
        description=as_str(body, "description", ""),
        tags=_tags(body),
        tracing=as_bool(body, "tracing", False),
    )
    if not was_created:
        return no_content()
    # As RabbitMQ: whoever creates a vhost gets full permissions in it.
    ctx.view.set_permissions(actor(req), p["vhost"], configure=".*", write=".*", read=".*")
    return created()


def delete_vhost(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    ctx.view.delete_vhost(p["vhost"])
    return no_content()


def vhost_permissions(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    if ctx.view.vhost(p["vhost"]) is None:
        raise not_found()
    return _permission_list(req, ctx.view.permissions(vhost=p["vhost"]))


def vhost_topic_permissions(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    if ctx.view.vhost(p["vhost"]) is None:
        raise not_found()
    return json_response([])  # topic permissions are not implemented: there are none


# --- users -----------------------------------------------------------------------------------


def list_users(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    return json_response(
        render.reply_list(req, ctx.view.users(), render.user_json, default_sort=("name",))
    )


def users_without_permissions(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    with_perms = {x.user for x in ctx.view.permissions()}
    items = [u for u in ctx.view.users() if u.name not in with_perms]
    return json_response(render.reply_list(req, items, render.user_json, default_sort=("name",)))


def get_user(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    u = ctx.view.user(p["user"])
    if u is None:
        raise not_found()
    return json_response(render.user_json(u))


def put_user(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    body = req.json()
    password = body.get("password")
    password_hash = body.get("password_hash")
    if password is not None and not isinstance(password, str):
        raise bad_request("invalid password: must be a string")
    if password_hash is not None and not isinstance(password_hash, str):
        raise bad_request("invalid password_hash: must be a string")
    algorithm = body.get("hashing_algorithm")
    if algorithm not in (None, "", "rabbit_password_hashing_sha256"):
        raise bad_request(f"unsupported hashing_algorithm '{algorithm}'")
    was_created = ctx.view.put_user(
        p["user"], password=password, password_hash=password_hash, tags=_tags(body)
    )
    return created() if was_created else no_content()


def delete_user(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    ctx.view.delete_user(p["user"])
    return no_content()


def bulk_delete_users(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    names = req.json().get("users")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise bad_request("'users' must be a list of user names")
    for n in names:
        if ctx.view.user(n) is not None:
            ctx.view.delete_user(n)
    return no_content()


def user_permissions(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    if ctx.view.user(p["user"]) is None:
        raise not_found()
    return _permission_list(req, ctx.view.permissions(user=p["user"]))


def user_topic_permissions(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    if ctx.view.user(p["user"]) is None:
        raise not_found()
    return json_response([])  # topic permissions are not implemented: there are none


# --- permissions ---------------------------------------------------------------------------------


def _permission_list(req: Request, items: list[Any]) -> Response:
    return json_response(
        render.reply_list(
            req,
            items,
            render.permission_json,
            name_of=lambda x: x.user,
            default_sort=("vhost", "user"),
        )
    )


def list_permissions(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    return _permission_list(req, ctx.view.permissions())


def get_permission(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    found = ctx.view.permissions(vhost=p["vhost"], user=p["user"])
    if not found:
        raise not_found()
    return json_response(render.permission_json(found[0]))


def put_permission(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    if ctx.view.vhost(p["vhost"]) is None:
        raise not_found()
    body = req.json()
    was_created = ctx.view.set_permissions(
        p["user"],
        p["vhost"],
        configure=as_str(body, "configure"),
        write=as_str(body, "write"),
        read=as_str(body, "read"),
    )
    return created() if was_created else no_content()


def delete_permission(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    ctx.view.clear_permissions(p["user"], p["vhost"])
    return no_content()


# --- policies ------------------------------------------------------------------------------------


def list_policies(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    visible = set(ctx.visible_vhosts(req))
    items = [x for x in ctx.view.policies() if x.vhost in visible]
    return json_response(render.reply_list(req, items, render.policy_json))


def list_vhost_policies(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    ctx.check_vhost(req, p["vhost"])
    return json_response(render.reply_list(req, ctx.view.policies(p["vhost"]), render.policy_json))


def get_policy(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    ctx.check_vhost(req, p["vhost"])
    for x in ctx.view.policies(p["vhost"]):
        if x.name == p["name"]:
            return json_response(render.policy_json(x))
    raise not_found()


def put_policy(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    ctx.check_vhost(req, p["vhost"])
    body = req.json()
    definition = as_object(body, "definition")
    was_created = ctx.view.put_policy(
        p["vhost"],
        p["name"],
        pattern=as_str(body, "pattern"),
        definition=definition,
        priority=as_int(body, "priority", 0),
        apply_to=as_str(body, "apply-to", "all"),
    )
    return created() if was_created else no_content()


def delete_policy(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    ctx.check_vhost(req, p["vhost"])
    ctx.view.delete_policy(p["vhost"], p["name"])
    return no_content()


# --- definitions ---------------------------------------------------------------------------------


def _download_headers(req: Request, name: str) -> list[tuple[str, str]]:
    if req.arg("download"):
        safe = "".join(c for c in req.arg("download", "") or name if c.isalnum() or c in "._-")
        return [("content-disposition", f'attachment; filename="{safe or name}"')]
    return []


def get_definitions(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    return json_response(
        ctx.view.export_definitions(None), headers=_download_headers(req, "definitions.json")
    )


def get_vhost_definitions(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    if ctx.view.vhost(p["vhost"]) is None:
        raise not_found()
    return json_response(
        ctx.view.export_definitions(p["vhost"]), headers=_download_headers(req, "definitions.json")
    )


def _definitions_body(req: Request) -> dict[str, Any]:
    ctype = req.headers.get("content-type", "")
    if "multipart/form-data" in ctype or "x-www-form-urlencoded" in ctype:
        raise bad_request("definitions must be posted as a JSON body")
    return req.json()


def post_definitions(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    ctx.view.import_definitions(_definitions_body(req), None)
    return no_content()


def post_vhost_definitions(ctx: Context, req: Request, p: dict[str, str]) -> Response:
    if ctx.view.vhost(p["vhost"]) is None:
        raise not_found()
    ctx.view.import_definitions(_definitions_body(req), p["vhost"])
    return no_content()


def register(r: Router) -> None:
    add = r.add
    add("GET", "/api/vhosts", list_vhosts, summary="Vhosts the user may see")
    add("GET", "/api/vhosts/{vhost}", get_vhost, summary="A vhost with totals and rates")
    add(
        "PUT",
        "/api/vhosts/{vhost}",
        put_vhost,
        access="admin",
        summary="Create a vhost",
        body="{description, tags, tracing}",
    )
    add("DELETE", "/api/vhosts/{vhost}", delete_vhost, access="admin", summary="Delete a vhost")
    add(
        "GET",
        "/api/vhosts/{vhost}/permissions",
        vhost_permissions,
        access="admin",
        summary="Permissions in a vhost",
    )
    add(
        "GET",
        "/api/vhosts/{vhost}/topic-permissions",
        vhost_topic_permissions,
        access="admin",
        summary="Topic permissions (none)",
    )
    add("GET", "/api/users", list_users, access="admin", summary="Users")
    add(
        "GET",
        "/api/users/without-permissions",
        users_without_permissions,
        access="admin",
        summary="Users with no permissions",
    )
    add(
        "POST",
        "/api/users/bulk-delete",
        bulk_delete_users,
        access="admin",
        summary="Delete users",
        body="{users: [...]}",
    )
    add("GET", "/api/users/{user}", get_user, access="admin", summary="A user")
    add(
        "PUT",
        "/api/users/{user}",
        put_user,
        access="admin",
        summary="Create or update a user",
        body="{password | password_hash, tags}",
    )
    add("DELETE", "/api/users/{user}", delete_user, access="admin", summary="Delete a user")
    add(
        "GET",
        "/api/users/{user}/permissions",
        user_permissions,
        access="admin",
        summary="A user's permissions",
    )
    add(
        "GET",
        "/api/users/{user}/topic-permissions",
        user_topic_permissions,
        access="admin",
        summary="Topic permissions (none)",
    )
    add("GET", "/api/permissions", list_permissions, access="admin", summary="All permissions")
    add(
        "GET",
        "/api/permissions/{vhost}/{user}",
        get_permission,
        access="admin",
        summary="One permission",
    )
    add(
        "PUT",
        "/api/permissions/{vhost}/{user}",
        put_permission,
        access="admin",
        summary="Grant permissions",
        body="{configure, write, read}",
    )
    add(
        "DELETE",
        "/api/permissions/{vhost}/{user}",
        delete_permission,
        access="admin",
        summary="Revoke permissions",
    )
    add(
        "GET",
        "/api/topic-permissions",
        lambda c, r, p: json_response([]),
        access="admin",
        summary="Topic permissions (none)",
    )
    add("GET", "/api/policies", list_policies, summary="Policies")
    add("GET", "/api/policies/{vhost}", list_vhost_policies, summary="Policies of a vhost")
    add("GET", "/api/policies/{vhost}/{name}", get_policy, summary="A policy")
    add(
        "PUT",
        "/api/policies/{vhost}/{name}",
        put_policy,
        access="policymaker",
        summary="Set a policy",
        body="{pattern, definition, priority, apply-to}",
    )
    add(
        "DELETE",
        "/api/policies/{vhost}/{name}",
        delete_policy,
        access="policymaker",
        summary="Delete a policy",
    )
    add(
        "GET", "/api/definitions", get_definitions, access="admin", summary="Export all definitions"
    )
    add(
        "POST",
        "/api/definitions",
        post_definitions,
        access="admin",
        summary="Import definitions (204)",
    )
    add(
        "GET",
        "/api/definitions/{vhost}",
        get_vhost_definitions,
        access="admin",
        summary="Export a vhost's definitions",
    )
    add(
        "POST",
        "/api/definitions/{vhost}",
        post_vhost_definitions,
        access="admin",
        summary="Import into a vhost (204)",
    )
