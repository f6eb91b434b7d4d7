"""YAML loading that refuses duplicate keys (PyYAML silently keeps the last one) and turns every
problem with a file (encoding, syntax, odd keys) into a ConfigError that names the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from gateway.errors import ConfigError


class _StrictLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        line = key_node.start_mark.line + 1
        try:
            hash(key)
        except TypeError:
            raise ConfigError(f"{loader.name}: line {line}: a key must be a plain value, not {key!r}") from None
        if key in seen:
            raise ConfigError(f"{loader.name}: duplicate key {key!r} at line {line} (first at line {seen[key]})")
        seen[key] = line
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(path: Path) -> Any:
    """Parse a repository data file; every error names the file and where in it."""
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 (byte {exc.start})") from None
    try:
        loader = _StrictLoader(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    loader.name = str(path)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    except (ValueError, TypeError) as exc:  # e.g. a date-looking scalar that is no date: 2021-13-45
        raise ConfigError(f"{path}: a value cannot be read ({exc})") from None
    finally:
        loader.dispose()


def location(loc: tuple[int | str, ...], tables: frozenset[str] = frozenset()) -> str:
    """A pydantic error location as a person reads it in the file: ``job_types['4.3']``, ``timeouts.read``,
    ``insert[0].code``. ``tables`` are the fields whose keys are the file's own (codes, statuses)."""
    text, previous = "", None
    for part in loc:
        if part == "[key]":
            continue
        if isinstance(part, int):
            text += f"[{part}]"
        elif not text:
            text = part
        elif previous in tables:
            text += f"[{part!r}]"
        else:
            text += f".{part}"
        previous = part
    return text


def config_error(path: Path, exc: ValidationError, *, tables: frozenset[str] = frozenset(),
                 limit: int = 3) -> ConfigError:
    """One ConfigError for a model that refused a file: the file, then each entry at fault and why."""
    problems = []
    for error in exc.errors(include_url=False)[:limit]:
        loc = tuple(error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "missing":
            problems.append(f"missing {location(loc, tables)!r}" if len(loc) == 1
                            else f"{location(loc[:-1], tables)}: missing {loc[-1]!r}")
            continue
        if error["type"] == "extra_forbidden":
            message = "not a known key (a typo?)"
        elif error["type"] != "value_error" and "input" in error:
            shown = repr(error["input"])
            message += f", not {shown[:60] + '…' if len(shown) > 60 else shown}"
        if loc and isinstance(loc[-1], str) and message.startswith(f"{loc[-1]} "):
            loc = loc[:-1]  # the message names the field itself: "priority 'asap' not one of ..."
        where = location(loc, tables)
        problems.append(f"{where}: {message}" if where else message)
    more = exc.error_count() - limit
    return ConfigError(f"{path}: " + "; ".join(problems) + (f" (and {more} more)" if more > 0 else ""))


ModelT = TypeVar("ModelT", bound=BaseModel)


def load_model(path: Path, model: type[ModelT], *, tables: frozenset[str] = frozenset()) -> ModelT:
    """A data file read into a pydantic model; any problem is a ConfigError naming the file and entry."""
    raw = load_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise config_error(path, exc, tables=tables) from None
