"""The utilities' contract documents, enforced: every request a simulator receives and every reply it
sends is validated against the OpenAPI 3.1 document in ``contracts/`` (openapi-core), as a utility
whose gateway validates against its published specification does.

A request that does not validate is refused in the utility's own error format (the simulator builds it
from the problems listed here) and recorded in ``violations``; a reply that does not validate is a
simulator bug, recorded too (tests assert there are none). Nothing here comes from the gateway or the
connectors: the simulators are witnesses of the contract, not of the client's reading of it.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound, ServerNotFound
from openapi_core.validation.request.exceptions import SecurityValidationError
from werkzeug.datastructures import Headers, ImmutableMultiDict

from simulators.base import Request, Response

CONTRACTS = Path(__file__).resolve().parent.parent / "contracts"
# jsonschema keyword -> the error code the utilities put in their field lists
CODES = {"required": "missing", "enum": "unknown", "const": "unknown", "maxLength": "too_long",
         "maximum": "out_of_range", "minimum": "out_of_range", "additionalProperties": "unknown_field",
         "dependentRequired": "missing"}


@dataclass(frozen=True)
class Problem:
    """One way a request breaks the contract. ``where``: parameter, body, security or route."""

    where: str
    field: str
    code: str
    message: str


class _OpenApiRequest:
    """A simulator request as openapi-core reads one."""

    def __init__(self, request: Request) -> None:
        self.host_url = "http://127.0.0.1"
        self.path = request.path
        self.method = request.method.lower()
        query = [(name, value) for name, values in request.query.items() for value in values]
        self.parameters = RequestParameters(query=ImmutableMultiDict(query), header=Headers(request.headers),
                                            cookie=ImmutableMultiDict(), path={})
        self.body = request.body or None
        self.content_type = request.headers.get("content-type", "").lower()


class _OpenApiResponse:
    def __init__(self, response: Response) -> None:
        self.status_code = response.status
        self.headers = Headers(response.headers)
        self.content_type = response.headers.get("Content-Type", "").lower()
        self.data = response.body


@cache
def load_document(name: str, directory: Path = CONTRACTS) -> dict[str, Any]:
    """contracts/<name>.openapi.yaml (``directory``: another tree's contracts, for a scaffolded utility)."""
    with (directory / f"{name}.openapi.yaml").open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@cache
def _openapi(name: str, directory: Path = CONTRACTS) -> OpenAPI:
    """Built once per document (it checks the document itself against the OpenAPI 3.1 schema)."""
    problem_json = {"application/problem+json": lambda value, **_: json.loads(value)}  # RFC 7807 is JSON too
    return OpenAPI.from_dict(load_document(name, directory),
                             config=Config(extra_media_type_deserializers=problem_json))


def enum(name: str, schema: str) -> tuple[str, ...]:
    """The vocabulary a schema of the document lists (job types, statuses, categories)."""
    return tuple(load_document(name)["components"]["schemas"][schema]["enum"])


class OpenApiContract:
    """One utility's OpenAPI document, and what broke it."""

    def __init__(self, name: str, directory: Path = CONTRACTS) -> None:
        self.document = load_document(name, directory)
        self._api = _openapi(name, directory)
        self._lock = threading.Lock()
        self.violations: list[dict[str, Any]] = []

    def check_request(self, request: Request) -> list[Problem]:
        """The request's problems (none: it validates). An unknown route is left to the simulator's
        own routing (404 / 405), which the document describes by omission."""
        problems: list[Problem] = []
        for error in self._api.unmarshal_request(_OpenApiRequest(request)).errors:
            if isinstance(error, PathNotFound | OperationNotFound | ServerNotFound):
                return []
            problems += _problems(error)
        if problems:
            self._record("request", request, [f"{p.where} {p.field}: {p.message}" for p in problems])
        return problems

    def check_response(self, request: Request, response: Response) -> None:
        try:  # validation only: unmarshalling a 100-item page costs seconds, this a tenth of one
            self._api.validate_response(_OpenApiRequest(request), _OpenApiResponse(response))
        except (PathNotFound, OperationNotFound, ServerNotFound):
            return  # the simulator's own 404 / 405 for a route the document does not have
        except Exception as error:  # any way the reply breaks the document
            self._record("response", request, [_text(error)], status=response.status)

    def _record(self, direction: str, request: Request, problems: list[str], **extra: Any) -> None:
        with self._lock:
            self.violations.append({"direction": direction, "method": request.method, "path": request.path,
                                    "problems": problems, **extra})


def _problems(error: Exception) -> list[Problem]:
    if isinstance(error, SecurityValidationError):
        return [Problem("security", "credentials", "missing", "no credentials the document asks for")]
    cause = error.__cause__
    schema_errors = list(getattr(cause, "schema_errors", None) or [])
    name = getattr(error, "name", None)  # a parameter's name
    if name is not None:
        code = "missing" if "Missing" in type(error).__name__ else "invalid"
        return [Problem("parameter", name, code, _text(error))]
    if not schema_errors:
        causes = {c.__name__ for c in type(cause).__mro__}
        if "MediaTypeNotFound" in causes:
            return [Problem("media", "Content-Type", "unsupported", "a media type the operation does not take")]
        if "DeserializeError" in causes:
            return [Problem("body", "body", "not_json", "the body cannot be read")]
        return [Problem("body", "body", "invalid", _text(error))]
    found = []
    for se in schema_errors:
        for leaf in _leaves(se):
            path = ".".join(str(p) for p in leaf.absolute_path)
            if leaf.validator in ("required", "dependentRequired"):
                for missing in _missing(leaf):
                    found.append(Problem("body", f"{path}.{missing}".lstrip("."), "missing", "is required"))
                continue
            if leaf.validator == "additionalProperties" and isinstance(leaf.instance, dict):
                known = set(leaf.schema.get("properties", {}))
                for extra in sorted(set(leaf.instance) - known):
                    found.append(Problem("body", f"{path}.{extra}".lstrip("."), "unknown_field", "unknown field"))
                continue
            found.append(Problem("body", path or "body", CODES.get(str(leaf.validator), "invalid"),
                                 _message(leaf)))
    return found


def _leaves(error: Any) -> list[Any]:
    """The innermost errors (allOf/anyOf wrap the real one in their context)."""
    if error.context and error.validator in ("allOf",):
        return [leaf for sub in error.context for leaf in _leaves(sub)]
    return [error]


def _missing(error: Any) -> list[str]:
    instance = error.instance if isinstance(error.instance, dict) else {}
    wanted = error.validator_value
    if isinstance(wanted, dict):  # dependentRequired: {"lat": ["lon"]}
        wanted = [n for key, needs in wanted.items() if key in instance for n in needs]
    return [name for name in wanted if name not in instance]


def _message(error: Any) -> str:
    """What is wrong without echoing the value (a phone number must not travel back in an error)."""
    value = error.validator_value
    messages = {"enum": "is not one of the allowed values", "type": f"must be of type {value}",
                "maxLength": f"must be at most {value} characters", "minLength": f"must be at least {value} long",
                "pattern": "has the wrong form", "format": f"must be a {value}", "maximum": f"must be <= {value}",
                "minimum": f"must be >= {value}",
                "oneOf": "must have exactly one of: " + " / ".join(
                    ", ".join(alt.get("required", [])) or "?" for alt in value if isinstance(alt, dict))}
    return messages.get(str(error.validator), "does not validate")


def _text(error: Exception) -> str:
    cause = error.__cause__
    parts = [str(error)] + [json.dumps(list(se.absolute_path)) + " " + se.message[:200]
                            for se in getattr(cause, "schema_errors", None) or []]
    return "; ".join(parts)[:1000]
