"""OpenAPI 3.1 description of the JSON API (served at /api/openapi.json).

The answers mirror the CLI's ``--json`` output (FORMATS.md), so the schemas below name
the keys the contract fixes and allow extra ones.
"""

from __future__ import annotations

from typing import Any

from purgewatch.model import TOOL_VERSION

_TIME = {"type": "string", "format": "date-time", "description": "ISO 8601 with a zone (e.g. 2026-03-05T14:00:00Z)"}
_ERR = {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _q(name: str, schema: dict[str, Any], desc: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": desc}


def _p(name: str, desc: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}, "description": desc}


def _ok(ref: str, desc: str) -> dict[str, Any]:
    return {"description": desc, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}


def openapi_document(*, writable: bool) -> dict[str, Any]:
    window = [_q("from", _TIME, "window start"), _q("to", _TIME, "window end")]
    paths: dict[str, Any] = {
        "/api/watchlist": {
            "get": {"summary": "The accounts watched now (`purgewatch watchlist list --json`)",
                    "responses": {"200": _ok("Watchlist", "watched accounts")}},
        },
        "/api/accounts": {
            "get": {"summary": "Latest status and counts per observed account (`purgewatch accounts --json`)",
                    "parameters": [_q("platform", {"type": "string"}, "only this platform"),
                                   _q("group", {"type": "string"}, "only this watchlist group")],
                    "responses": {"200": _ok("Accounts", "accounts")}},
        },
        "/api/history/{account}": {
            "get": {"summary": "Every observation of one account (`purgewatch history ACCOUNT --json`)",
                    "parameters": [_p("account", "account id or handle"),
                                   _q("platform", {"type": "string"}, "platform when ambiguous"), *window],
                    "responses": {"200": _ok("History", "observations"), "400": _ERR}},
        },
        "/api/events": {
            "get": {"summary": "Detected events (`purgewatch detect --json`)",
                    "responses": {"200": _ok("Events", "events"), "503": _ERR}},
        },
        "/api/explain/{account}": {
            "get": {"summary": "Who left and what became of them (`purgewatch explain ACCOUNT --json`)",
                    "parameters": [_p("account", "account id or handle"),
                                   _q("platform", {"type": "string"}, "platform when ambiguous"), *window],
                    "responses": {"200": _ok("Explain", "explanation"), "400": _ERR, "422": _ERR}},
        },
        "/api/compare": {
            "get": {"summary": "Groups compared (`purgewatch compare --by group --json`)",
                    "parameters": [
                        _q("by", {"type": "string", "enum": ["group", "label"], "default": "group"}, "grouping"),
                        _q("outcome", {"type": "string", "enum": ["suspended", "gone", "deleted", "deactivated", "drop"],
                                       "default": "suspended"}, "outcome"),
                        *window],
                    "responses": {"200": _ok("Compare", "comparison"), "400": _ERR, "422": _ERR}},
        },
        "/api/findings": {
            "get": {"summary": "Every finding, as in the report's JSON bundle",
                    "responses": {"200": {"description": "findings (format purgewatch-findings v1)",
                                          "content": {"application/json": {"schema": {"type": "object"}}}}}},
        },
        "/api/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1"}}}},
    }
    write_note = "" if writable else " Disabled: this server runs read-only (403)."
    paths["/api/watchlist"]["post"] = {
        "summary": "Watch an account (needs the write token)." + write_note,
        "security": [{"bearer": []}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WatchlistEntry"}}}},
        "responses": {"201": {"description": "added"}, "200": {"description": "changed or unchanged"},
                      "400": _ERR, "401": _ERR, "403": _ERR, "415": _ERR, "503": _ERR},
    }
    paths["/api/watchlist/{platform}/{account}"] = {
        "delete": {"summary": "Stop watching an account (needs the write token)." + write_note,
                   "security": [{"bearer": []}],
                   "parameters": [_p("platform", "platform"), _p("account", "account as written in the watchlist")],
                   "responses": {"200": {"description": "removed"}, "400": _ERR, "401": _ERR, "403": _ERR}},
    }
    obj = {"type": "object", "additionalProperties": True}
    schemas: dict[str, Any] = {
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
        "WatchlistEntry": {"type": "object", "required": ["platform", "account", "group"],
                           "properties": {"platform": {"type": "string"}, "account": {"type": "string"},
                                          "group": {"type": "string"}, "label": {"type": ["string", "null"]}}},
        "Watchlist": {"type": "object", "required": ["watchlist"], "properties": {"watchlist": {"type": "array", "items": obj}}},
        "Accounts": {"type": "object", "required": ["accounts"], "properties": {"accounts": {"type": "array", "items": obj}}},
        "History": {"type": "object", "required": ["platform", "account_id", "observations"],
                    "properties": {"platform": {"type": "string"}, "account_id": {"type": "string"},
                                   "observations": {"type": "array", "items": obj}}},
        "Event": {"type": "object", "required": ["kind", "platform", "account_id", "group", "start", "end", "magnitude", "relative", "score", "evidence"],
                  "properties": {
                      "kind": {"type": "string", "enum": ["follower_drop", "follower_surge", "suspension_wave", "reinstatement_wave", "purge"]},
                      "platform": {"type": ["string", "null"]}, "account_id": {"type": ["string", "null"]},
                      "group": {"type": ["string", "null"]}, "start": _TIME, "end": _TIME,
                      "magnitude": {"type": "number"}, "relative": {"type": ["number", "null"]},
                      "score": {"type": ["number", "null"]}, "evidence": obj}},
        "Events": {"type": "object", "required": ["events"], "properties": {"events": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}}}},
        "Explain": {"type": "object", "required": ["lost", "gained", "lost_breakdown", "overlap", "verdict"],
                    "properties": {"lost": {"type": "integer"}, "gained": {"type": "integer"},
                                   "lost_breakdown": {"type": "object", "properties": {k: {"type": "integer"} for k in
                                                      ("suspended", "takendown", "deleted", "deactivated", "unfollowed",
                                                       "suspended_or_deleted", "not_found", "unknown")}},
                                   "overlap": {"type": "array", "items": obj},
                                   "verdict": {"type": "string", "enum": ["platform_enforcement", "mass_unfollow", "mixed", "insufficient_data"]}}},
        "Compare": {"type": "object", "required": ["groups", "tests"],
                    "properties": {"groups": {"type": "array", "items": obj}, "tests": {"type": "array", "items": obj}}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "PurgeWatch local API", "version": TOOL_VERSION,
                 "description": "Read-only JSON over the evidence store, mirroring the CLI's --json answers."
                                + ("" if writable else " This server runs read-only.")},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {"schemas": schemas,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                                      "description": "the token given with `purgewatch serve --write-token`"}}},
    }
