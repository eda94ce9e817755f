"""Request parameters: decode Stripe's form encoding, then check it against the SDK's own types.

The SDK sends ``application/x-www-form-urlencoded`` bodies (and query strings for GET/DELETE)
with nested keys: ``metadata[order]=7``, ``lines[0][pricing][price]=price_123``, booleans as
``true``/``false`` and ``key=`` (empty) to unset a field. :func:`decode_form` turns that back into
nested dicts; list indexes stay dict keys ("0", "1", ...) until the schema says the field is a
list.

:func:`validate` then walks the decoded value alongside the SDK's generated TypedDict for the
endpoint (``stripe.params.InvoiceCreateParams`` ...), so the fake accepts exactly the parameters
the real API documents: unknown keys -> ``parameter_unknown``, missing required keys ->
``parameter_missing``, strings where integers belong -> ``parameter_invalid_integer``, values
outside a ``Literal`` enum -> an ``Invalid x: must be one of ...`` error, and so on. Values come
back coerced (ints, bools, ``Decimal``), with ``""`` kept as the "unset this field" marker where
the type allows ``Literal['']``.
"""

from __future__ import annotations

import re
import sys
import types
import typing
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, ForwardRef, Union
from urllib.parse import parse_qsl

import typing_extensions
from stripe import StripeObject
from stripe._request_options import RequestOptions

from .errors import ParamError, invalid_param, missing_param, unknown_param

# Keys the SDK's params TypedDicts inherit from RequestOptions: client options, never sent as params.
REQUEST_OPTION_KEYS = frozenset(RequestOptions.__annotations__)

_KEY_PATTERN = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_INTEGER_PATTERN = re.compile(r"^-?\d+$")


# ---------------------------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------------------------


def decode_form(encoded: str) -> dict[str, Any]:
    """``a[b][0][c]=1&a[b][0][d]=2`` -> ``{"a": {"b": {"0": {"c": "1", "d": "2"}}}}``.

    ``key[]=x`` (allowed by Stripe, never produced by the Python SDK) appends to a real list.
    """
    decoded: dict[str, Any] = {}
    for raw_key, value in parse_qsl(encoded, keep_blank_values=True):
        match = _KEY_PATTERN.match(raw_key)
        if not match:
            decoded[raw_key] = value  # an odd key: it will be reported as unknown
            continue
        parts = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        _insert(decoded, parts, value, raw_key)
    return decoded


def _insert(root: dict[str, Any], parts: list[str], value: str, raw_key: str) -> None:
    node: Any = root
    for position, part in enumerate(parts):
        last = position == len(parts) - 1
        next_is_append = not last and parts[position + 1] == ""
        if isinstance(node, list):
            if part != "":
                raise invalid_param(raw_key, f"Invalid array: {raw_key}")
            if last:
                node.append(value)
                return
            child: Any = [] if next_is_append else {}
            node.append(child)
            node = child
            continue
        if part == "":
            raise invalid_param(raw_key, f"Invalid hash: {raw_key}")
        if last:
            if isinstance(node.get(part), (dict, list)):
                raise invalid_param(raw_key, f"Invalid hash: {raw_key}")
            node[part] = value
            return
        child = node.get(part)
        if child is None:
            child = [] if next_is_append else {}
            node[part] = child
        elif isinstance(child, str):
            raise invalid_param(raw_key, f"Invalid hash: {raw_key}")
        node = child


# ---------------------------------------------------------------------------------------------
# Schemas derived from the SDK's TypedDicts
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scalar:
    kind: str  # "str" | "int" | "bool" | "float" | "decimal"


@dataclass(frozen=True)
class Enum:
    values: tuple[str, ...]


@dataclass(frozen=True)
class ListOf:
    item: Schema


@dataclass(frozen=True)
class MapOf:
    value: Schema


@dataclass(frozen=True)
class OneOf:
    options: tuple[Schema, ...]


@dataclass(frozen=True)
class AnyValue:
    pass


@dataclass(eq=False)
class Obj:
    name: str
    fields: dict[str, tuple[Schema, bool]] = field(default_factory=dict)  # name -> (schema, required)


Schema = Scalar | Enum | ListOf | MapOf | OneOf | AnyValue | Obj

_OBJECT_CACHE: dict[type, Obj] = {}
_SCALARS: dict[Any, str] = {str: "str", int: "int", bool: "bool", float: "float", Decimal: "decimal"}


def schema_for(typed_dict: type) -> Obj:
    """The schema of a params TypedDict, without the RequestOptions keys (built once, cached)."""
    cached = _OBJECT_CACHE.get(typed_dict)
    if cached is not None:
        return cached
    obj = Obj(typed_dict.__name__)
    _OBJECT_CACHE[typed_dict] = obj  # registered before filling: nested types may refer back
    namespace = vars(sys.modules[typed_dict.__module__])
    required_keys = typed_dict.__required_keys__  # type: ignore[attr-defined]
    for name, annotation in typed_dict.__annotations__.items():
        if name in REQUEST_OPTION_KEYS:
            continue
        obj.fields[name] = (_convert(annotation, namespace), name in required_keys)
    return obj


def _convert(annotation: Any, namespace: dict[str, Any]) -> Schema:
    if isinstance(annotation, str):
        annotation = eval(annotation, namespace)  # noqa: S307 - the SDK's own annotation strings
    if isinstance(annotation, ForwardRef):
        annotation = eval(annotation.__forward_arg__, namespace)  # noqa: S307
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing_extensions.NotRequired, typing_extensions.Required):
        return _convert(args[0], namespace)
    if origin in (Union, types.UnionType):
        options: list[Schema] = []
        for arg in args:
            converted = _convert(arg, namespace)
            options.extend(converted.options if isinstance(converted, OneOf) else [converted])
        return OneOf(tuple(options))
    if origin is typing_extensions.Literal or origin is typing.Literal:
        return Enum(tuple(_literal_text(arg) for arg in args))
    if origin in (list, typing.List):  # noqa: UP006
        return ListOf(_convert(args[0], namespace))
    if isinstance(origin, type) and issubclass(origin, (dict, StripeObject)):  # Dict[str, X], UntypedStripeObject[X]
        return MapOf(_convert(args[-1], namespace) if args else Scalar("str"))
    if typing_extensions.is_typeddict(annotation):
        return schema_for(annotation)
    if annotation in _SCALARS:
        return Scalar(_SCALARS[annotation])
    return AnyValue()


def _literal_text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------


def validate(params: dict[str, Any], typed_dict: type) -> dict[str, Any]:
    """Check decoded params against ``typed_dict``; return them coerced, or raise ParamError."""
    return _check_object(params, schema_for(typed_dict), "")


def _child(path: str, key: str) -> str:
    return f"{path}[{key}]" if path else key


def _check(value: Any, schema: Schema, path: str) -> Any:
    if isinstance(schema, OneOf):
        return _check_union(value, schema, path)
    if isinstance(schema, Obj):
        if not isinstance(value, dict):
            raise invalid_param(path, f"Invalid hash: {path}")
        return _check_object(value, schema, path)
    if isinstance(schema, ListOf):
        return [_check(item, schema.item, f"{path}[{index}]") for index, item in enumerate(_as_list(value, path))]
    if isinstance(schema, MapOf):
        if not isinstance(value, dict):
            raise invalid_param(path, f"Invalid hash: {path}")
        # In key/value maps (metadata) an empty value is how a single key is unset.
        return {
            key: item if item == "" else _check(item, schema.value, _child(path, key)) for key, item in value.items()
        }
    if isinstance(schema, Enum):
        return _check_enum(value, schema.values, path)
    if isinstance(schema, Scalar):
        return _check_scalar(value, schema.kind, path)
    return value


def _check_object(value: dict[str, Any], schema: Obj, path: str) -> dict[str, Any]:
    for key in value:
        if key not in schema.fields:
            raise unknown_param(_child(path, key))
    for key, (_, required) in schema.fields.items():
        if required and key not in value:
            raise missing_param(_child(path, key))
    return {key: _check(item, schema.fields[key][0], _child(path, key)) for key, item in value.items()}


def _as_list(value: Any, path: str) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, dict) and all(key.isdigit() for key in value):
        return [value[key] for key in sorted(value, key=int)]
    raise invalid_param(path, f"Invalid array: {path}")


def _check_enum(value: Any, allowed: tuple[str, ...], path: str) -> str:
    if isinstance(value, str) and value in allowed:
        return value
    shown = [option for option in allowed if option] or list(allowed)
    if len(shown) == 1:
        choices = shown[0]
    elif len(shown) == 2:
        choices = f"{shown[0]} or {shown[1]}"
    else:
        choices = f"{', '.join(shown[:-1])}, or {shown[-1]}"
    raise invalid_param(path, f"Invalid {path}: must be one of {choices}")


def _check_scalar(value: Any, kind: str, path: str) -> Any:
    if not isinstance(value, str):
        raise invalid_param(path, f"Invalid {'array' if isinstance(value, list) else 'value'}: {path}")
    if value == "":
        raise ParamError(
            f"You passed an empty string for '{path}'. We assume empty values are an attempt to unset a "
            f"parameter; however '{path}' cannot be unset. You should remove '{path}' from your request "
            "or supply a non-empty value.",
            param=path,
            code="parameter_invalid_empty",
        )
    if kind == "str":
        return value
    if kind == "int":
        if not _INTEGER_PATTERN.match(value):
            raise invalid_param(path, f"Invalid integer: {value}", code="parameter_invalid_integer")
        return int(value)
    if kind == "bool":
        if value not in ("true", "false"):
            raise invalid_param(path, f"Invalid boolean: {value}")
        return value == "true"
    try:
        number = Decimal(value)
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise invalid_param(path, f"Invalid decimal: {value}")
    return float(number) if kind == "float" else number


def _check_union(value: Any, schema: OneOf, path: str) -> Any:
    enums = [option for option in schema.options if isinstance(option, Enum)]
    if value == "" and any("" in option.values for option in enums):
        return ""  # Literal[''] -> "unset this field"
    if isinstance(value, (dict, list)):
        candidates = [option for option in schema.options if isinstance(option, (Obj, MapOf, ListOf, AnyValue))]
    else:
        # Stripe enums are typed `Literal[...] | str` in the SDK for forward compatibility; the API
        # itself still rejects values outside the enum, so a plain `str` only counts when the
        # union has no non-empty literal values.
        enum_values = tuple(value for option in enums for value in option.values if value)
        if enum_values:
            return _check_enum(value, enum_values, path)
        candidates = [option for option in schema.options if isinstance(option, (Scalar, AnyValue))]
    first_error: ParamError | None = None
    for option in candidates:
        try:
            return _check(value, option, path)
        except ParamError as error:
            first_error = first_error or error
    if first_error is not None:
        raise first_error
    expects_list = any(isinstance(option, ListOf) for option in schema.options)
    raise invalid_param(path, f"Invalid {'array' if expects_list else 'hash'}: {path}")
