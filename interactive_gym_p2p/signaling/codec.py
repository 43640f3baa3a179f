"""Records to JSON and back, for stores that keep them outside the process (Redis).

Signaling's records (``records.py``) and the console's hold only strings, numbers, enums,
lists, tuples, dicts with string keys and other such dataclasses, so one generic codec does:
``encode`` turns a record into plain JSON values, ``decode`` rebuilds it from its dataclass
type hints. A field added later with a default decodes from an older stored record; a stored
key the dataclass no longer has is dropped.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import types
import typing
from enum import Enum
from functools import lru_cache
from typing import Any, TypeVar, Union

T = TypeVar("T")


def encode(value: Any) -> Any:
    """Plain JSON values for a record (dataclass), enum, list, tuple or dict of them."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        # JSON object keys are strings; int keys (player indices) come back through the hints.
        return {str(k): encode(v) for k, v in value.items()}
    return value


def dumps(record: Any) -> str:
    return json.dumps(encode(record), separators=(",", ":"), sort_keys=True)


def loads(cls: type[T], text: str | bytes) -> T:
    return decode(cls, json.loads(text))


@lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    module = sys.modules.get(cls.__module__)
    return typing.get_type_hints(cls, globalns=vars(module) if module else None)


def decode(hint: Any, data: Any) -> Any:
    """Rebuild a value of type ``hint`` from what :func:`encode` gave."""
    if data is None or hint is Any:
        return data
    origin = typing.get_origin(hint)
    if origin is Union or (sys.version_info >= (3, 10) and origin is types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(options) == 1:
            return decode(options[0], data)
        for option in options:  # e.g. str | int: the first whose plain type matches
            plain = typing.get_origin(option) or option
            if isinstance(plain, type) and isinstance(data, plain):
                return decode(option, data)
        return data
    if origin in (list, typing.List):
        (item,) = typing.get_args(hint) or (Any,)
        return [decode(item, v) for v in data]
    if origin in (tuple, typing.Tuple):
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(decode(args[0], v) for v in data)
        return tuple(decode(a, v) for a, v in zip(args, data)) if args else tuple(data)
    if origin in (dict, typing.Dict):
        key_hint, value_hint = typing.get_args(hint) or (Any, Any)
        return {_key(key_hint, k): decode(value_hint, v) for k, v in data.items()}
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(data)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        hints = _hints(hint)
        kwargs = {f.name: decode(hints[f.name], data[f.name]) for f in dataclasses.fields(hint) if f.init and f.name in data}
        return hint(**kwargs)
    if hint is float and isinstance(data, int) and not isinstance(data, bool):
        return float(data)
    return data


def _key(hint: Any, key: str) -> Any:
    if hint is int:
        return int(key)
    return key
