"""One TOML file per deployable, a working default for every key, environment overrides.

A deployable describes its configuration as nested frozen dataclasses. `load_config` reads the
TOML file (if any), then applies environment variables named
`<PREFIX>__<SECTION>__<KEY>` (for example `MEDIPAY_GATEWAY__API__PORT=9401`). Unknown keys and
values of the wrong type are rejected with a `ConfigError` naming the key, so a typo never
silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """The configuration file or an environment override is invalid."""


def load_config(
    model: type[T],
    path: Path | None = None,
    *,
    env_prefix: str,
    environ: Mapping[str, str] | None = None,
) -> T:
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"configuration file not found: {path}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    environ = os.environ if environ is None else environ
    prefix = env_prefix.upper() + "__"
    for name, raw in environ.items():
        if name.startswith(prefix):
            _set_path(data, [part.lower() for part in name[len(prefix) :].split("__")], raw)
    return _build(model, data, where=env_prefix)


def _set_path(data: dict[str, Any], parts: list[str], raw: str) -> None:
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"cannot override inside non-table key {part!r}")
    node[parts[-1]] = raw


def _build(model: type[T], data: Mapping[str, Any], *, where: str) -> T:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a table")
    hints = typing.get_type_hints(model)
    fields = {f.name: f for f in dataclasses.fields(model)}  # type: ignore[arg-type]
    unknown = set(data) - set(fields)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    kwargs = {
        name: _convert(hints[name], value, where=f"{where}.{name}")
        for name, value in data.items()
    }
    return model(**kwargs)


def _convert(kind: Any, value: Any, *, where: str) -> Any:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(kind) if arg is not type(None)]
        if value in ("", None):
            return None
        return _convert(options[0], value, where=where)
    if origin in (list, tuple):
        (item,) = typing.get_args(kind)[:1]
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list")
        items = [_convert(item, v, where=f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if dataclasses.is_dataclass(kind):
        return _build(kind, value, where=where)  # type: ignore[arg-type]
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false",
                                                        "no", "off"):
            return value.lower() in ("1", "true", "yes", "on")
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if kind in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        try:
            if kind is int and isinstance(value, str):
                return int(value, 0)  # accepts 0x1209 for USB ids given in the environment
            return kind(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: expected a number, got {value!r}") from exc
    if kind is Path:
        return Path(str(value)).expanduser()
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported configuration type {kind!r}")
