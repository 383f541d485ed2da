"""The operations of the OpenAPI document, each fact stated once: a handler method says what it does with
`@documented(...)`, and the rest comes from where the code already says it.

    class KeysHandler(ApiHandler):
        @documented(request=KeyCreate, response=KeyCreated, status=201, errors=(409,))
        @authorized("site:admin")
        async def post(self, site_id: str) -> None:
            '''Create an API key.

            Its value is in this answer only.'''

    openapi_tag = "keys"
    default_handlers = [route("/api/v1/sites/{site_id}/keys", KeysHandler)]

- the path is the one the method's route was written as (`route(path, Handler)` of handlers/routes.py);
- the HTTP method is the decorated method's name;
- `auth` is the access declaration the method carries (handlers/policy.py: `public`, `bearer`,
  `bearer_or_secret_key` are the OpenAPI auth schemes of the same name), unless the method checks an API
  key itself (`auth="api_key"` on a `@public` ingestion method);
- `errors` add to those the access declaration answers (handlers/access.py `DENIALS`: 403 and 404);
- `tag` is the module's `openapi_tag`, unless given;
- `summary` is the method's docstring's first paragraph, `description` its other paragraphs (each
  paragraph's lines joined into one).

The other fields are `Operation`'s (see handlers/openapi.py). A module whose operations do not map one to
one onto methods (one handler serving several documented routes) lists them as `openapi_operations`.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from handlers.access import DENIALS
from handlers.policy import HTTP_METHODS, permission_of, policy_of

F = TypeVar("F", bound=Callable[..., Any])
_PATH_PARAM = re.compile(r"\{([a-zA-Z_][a-zA-Z0-9_]*)\}")


@dataclass(frozen=True)
class Operation:
    """One documented method on one path (see handlers/openapi.py); an empty `tag` is the module's
    `openapi_tag`, an empty `auth` the method's access declaration."""

    method: str
    path: str
    summary: str
    tag: str = ""
    auth: str = ""
    request: Any = None
    response: Any = None
    status: int = 200
    errors: tuple[int, ...] = ()
    query: Any = None
    description: str = ""
    request_media: tuple[str, ...] = ("application/json",)
    response_media: str = "application/json"

    @property
    def path_params(self) -> list[str]:
        """Names of the `{...}` segments of the path."""
        return _PATH_PARAM.findall(self.path)

    def error_statuses(self) -> list[int]:
        """Every error status this operation documents."""
        statuses = set(self.errors)
        if self.request is not None or self.query is not None:
            statuses |= {400, 422}
        if self.request is not None:
            statuses |= {413}
        if self.auth != "public":
            statuses |= {401, 429}
        return sorted(statuses)


def documented(**fields: Any) -> Callable[[F], F]:
    """Describe the decorated handler method in the OpenAPI document: its docstring's first paragraph is
    the summary, the others the description; `fields` are the other fields of `Operation` but its method
    and path (see the module docstring for what is derived)."""

    def mark(method: F) -> F:
        summary, *description = _paragraphs(method.__doc__)
        if not summary:
            raise ValueError(f"{method.__qualname__} is documented: its docstring is the summary")
        doc = Operation("", "", summary, description="\n\n".join(description), **fields)
        method.__eddy_doc__ = doc  # type: ignore[attr-defined]
        return method

    return mark


def _paragraphs(docstring: str | None) -> list[str]:
    """A docstring's paragraphs, each one line."""
    blocks = inspect.cleandoc(docstring or "").split("\n\n")
    return [" ".join(block.split("\n")) for block in blocks]


def _served(handler: type) -> list[str]:
    """The HTTP methods of `handler` in the order they are written, nearest class first."""
    names = (name for cls in handler.__mro__ for name in vars(cls) if name in HTTP_METHODS)
    return list(dict.fromkeys(names))


def module_operations(module: Any) -> list[Operation]:
    """The operations of one handler module: its routes' documented methods, then its
    `openapi_operations`, each with the module's `openapi_tag` where it names none."""
    operations: list[Operation] = []
    for entry in module.default_handlers:
        handler = entry[1]
        for name in _served(handler):
            method = getattr(handler, name)
            doc: Operation | None = getattr(method, "__eddy_doc__", None)
            if doc is None:
                continue
            path = getattr(entry, "path", None)
            if path is None:
                raise TypeError(
                    f"{handler.__name__}.{name} is documented: route it with handlers.routes.route"
                )
            auth = doc.auth or policy_of(method) or ""
            errors = tuple(sorted({*DENIALS.get(permission_of(method) or "", ()), *doc.errors}))
            operations.append(replace(doc, method=name.upper(), path=path, auth=auth, errors=errors))
    operations.extend(getattr(module, "openapi_operations", ()))
    tag = getattr(module, "openapi_tag", "misc")
    return [replace(op, tag=op.tag or tag) for op in operations]


def collect_operations(modules: Iterable[Any]) -> list[Operation]:
    """Every operation of these handler modules, in their order."""
    return [op for module in modules for op in module_operations(module)]
