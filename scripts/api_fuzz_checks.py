"""Checks schemathesis runs on every answer of `scripts/api-fuzz`, beyond its own.

Loaded through SCHEMATHESIS_HOOKS; named in the script's --checks list.
"""

import json

import schemathesis


def _header(response, name):
    for key, value in response.headers.items():
        if key.lower() == name:
            return value[0] if isinstance(value, list) else value
    return None


@schemathesis.check
def error_shape(ctx, response, case):
    """Every 4xx and 5xx, from any layer, is {"error": {"code", "message", "requestId"}}
    with the same id in the x-request-id header."""
    if response.status_code < 400:
        return
    request_id = _header(response, "x-request-id")
    assert request_id, f"{response.status_code} without x-request-id"
    try:
        body = json.loads(response.content)
    except ValueError as e:
        raise AssertionError(
            f"{response.status_code} body is not JSON: {response.content[:200]!r}"
        ) from e
    error = body.get("error") if isinstance(body, dict) else None
    assert isinstance(error, dict), f"{response.status_code} body has no error object: {body}"
    for key in ("code", "message", "requestId"):
        assert isinstance(error.get(key), str) and error[key], f"error.{key} missing: {body}"
    assert error["code"] == error["code"].upper(), f"code is not upper-case: {body}"
    assert error["requestId"] == request_id, f"requestId {error['requestId']} != header {request_id}"
