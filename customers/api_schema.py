"""OpenAPI post-processing: the answers every POS operation can give, written once.

drf-spectacular describes what each view declares. What DRF and our views answer on
every route is added here so the schema tells a till the whole truth (schemathesis
checks every answer against it, tests/crm/test_api_schemathesis.py):

- 401 for a missing, malformed or revoked token, 403 for a session without a role
  (or without its CSRF token);
- 400 for a malformed body, 415 for a body DRF cannot parse, 404 for a path naming a card or code outside the caller's
  stores, 422 for an ``Idempotency-Key`` reused with another body;
- the tickets endpoint takes one ticket, ``{"tickets": [...]}`` or a bare list.
"""

ERROR = "Error"
ERROR_SCHEMA = {
    "type": "object",
    "description": "A refusal: `detail` says why; field-level messages may follow, keyed by field.",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
GENERIC = {
    "400": "The request is malformed or refused; nothing was saved.",
    "401": "No valid token: missing, malformed or revoked (`Authorization: Token rg_…`).",
    "403": "A session without a role in any store, or without its CSRF token.",
    "415": "The body is not JSON, a form or multipart (or its Content-Type cannot be read).",
    "404": "No such card, voucher or reward in the caller's stores.",
    "422": "The `Idempotency-Key` was already used with another request body.",
}
TICKETS_PATH = "/api/v1/tickets/"
MAX_BATCH = 1000


def _error(description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR}"}}},
    }


def postprocess(result, generator, request, public):
    """Add the shared refusals to every operation and the batch forms to the tickets body."""
    result.setdefault("components", {}).setdefault("schemas", {})[ERROR] = ERROR_SCHEMA
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            codes = ["401", "403"]
            if method in ("post", "put", "patch"):
                codes += ["400", "415"]
            if "{" in path:
                codes.append("404")
            if any(p.get("name") == "Idempotency-Key" for p in operation.get("parameters", [])):
                codes.append("422")
            for code in codes:
                responses.setdefault(code, _error(GENERIC[code]))
    tickets = result.get("paths", {}).get(TICKETS_PATH, {}).get("post")
    if tickets:
        content = tickets["requestBody"]["content"]["application/json"]
        one = content["schema"]
        many = {"type": "array", "items": one, "minItems": 1, "maxItems": MAX_BATCH}
        content["schema"] = {
            "anyOf": [
                one,
                {"type": "object", "properties": {"tickets": many}, "required": ["tickets"]},
                many,
            ]
        }
    return result
