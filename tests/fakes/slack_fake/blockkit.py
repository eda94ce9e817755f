"""Block Kit validation for the fake Slack server.

Every ``blocks`` array and every ``view`` goes through a round trip in
``slack_sdk.models`` (which runs the models' ``validate_json`` checks: lengths,
counts, required fields).  That round trip is lenient in ways Slack is not, so
on top of it this module checks:

* the round trip is lossless: a property that slack_sdk dropped (unknown
  property, unknown block or element type, empty array, empty ``text``), a value it
  rewrote (a text object of an unknown ``type``, a plain string where Slack
  wants a text object) or a ``null`` is an error, as it is for Slack;
* limits slack_sdk does not enforce: 50 blocks in a message, unique
  ``block_id`` within a message or view, unique ``action_id`` within a block,
  2000 characters per section field, ``plain_text`` where Slack allows nothing
  else (header text, input label and hint, button text, placeholders, select
  and overflow options, modal title/submit/close), booleans where Slack wants
  booleans, Block Kit option objects (``text`` + ``value``, no ``label``), a
  modal needs a ``title`` and, when it holds an input block, a ``submit``;
  only known top-level view properties; ``external_id`` <= 255 characters.

Already enforced by slack_sdk (so not repeated here): modal title/submit/close
<= 24, 1..100 blocks in a view, private_metadata <= 3000, callback_id <= 255,
no submit/close on a home tab, block_id <= 255, section text <= 3000 and <= 10
fields, header <= 150, button text <= 75, action_id <= 255, value <= 2000,
actions <= 25 and context <= 10 elements, <= 100 options, placeholder <= 150,
input label/hint <= 2000, required fields (missing ones surface as a
``missing required field`` error).  The 40,000-character message ``text``
limit is checked by the workspace (Slack answers ``msg_too_long``).

A message's blocks are also capped as a whole, whatever each block holds: past
it ``chat.postMessage`` answers ``msg_blocks_too_long`` (see
``blocks_text_size``; the workspace applies it to ``chat.*`` methods, not to
``response_url`` posts, which the reports found exempt).

Errors are returned in Slack's ``response_metadata.messages`` style:
``"[ERROR] <what> [json-pointer:/blocks/0/text]"``.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import re
import warnings
from collections.abc import Iterator
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

MESSAGE_MAX_BLOCKS = 50
VIEW_MAX_BLOCKS = 100
MESSAGE_TEXT_MAX_CHARS = 40_000
BLOCK_ID_MAX_CHARS = 255
SECTION_FIELD_MAX_CHARS = 2000

# The blocks of one message, together. Slack publishes no figure for section, header or rich_text
# blocks (the `markdown` block's page gives 12,000 characters for all markdown blocks of a payload);
# its engineers put the cap at "12,000 text characters with a buffer for block containers"
# (slackapi/bolt-js#2509), and the measurements in slackapi/bolt-js#2867 (text summed over every
# `text` of the blocks, in JavaScript's UTF-16 units) bound that buffer: 9,597 characters in 50
# blocks were accepted, 11,341 in 45 blocks refused. The fake counts every `text` string in the
# blocks in UTF-16 code units, plus BLOCK_CONTAINER_CHARS per block: 48 is the strictest figure
# that still accepts the accepted message (9,597 + 50 * 48 = 11,997), and it refuses the refused
# one (11,341 + 45 * 48 = 13,501).
MESSAGE_BLOCKS_TEXT_MAX_CHARS = 12_000
BLOCK_CONTAINER_CHARS = 48

#: Properties a caller may send in a ``view`` payload (views.open/push/update/publish).
VIEW_INPUT_PROPERTIES = frozenset(
    {
        "type",
        "title",
        "blocks",
        "close",
        "submit",
        "private_metadata",
        "callback_id",
        "clear_on_close",
        "notify_on_close",
        "external_id",
        "submit_disabled",
    }
)
VIEW_TEXT_PROPERTIES = ("title", "submit", "close")
VIEW_STRING_PROPERTIES = ("private_metadata", "callback_id", "external_id")
VIEW_EXTERNAL_ID_MAX_CHARS = 255

# Element types whose options must use plain_text (checkboxes and radio buttons allow mrkdwn).
_PLAIN_TEXT_OPTION_ELEMENTS = frozenset({"static_select", "multi_static_select", "overflow"})

# Properties that Slack types as booleans wherever they appear in a block (slack_sdk keeps any value).
_BOOLEAN_PROPERTIES = frozenset(
    {
        "optional",
        "dispatch_action",
        "multiline",
        "emoji",
        "verbatim",
        "is_decimal_allowed",
        "focus_on_load",
        "default_to_current_conversation",
        "response_url_enabled",
        "exclude_bot_users",
        "exclude_external_shared_channels",
        "expand",
    }
)

_MISSING_ARGS = re.compile(r"missing \d+ required (?:keyword-only |positional )?arguments?: (.+)")

# slack_sdk logs a warning for unknown blocks/keys; those become errors here, so keep the logs quiet.
for _name in ("slack_sdk.models", "slack_sdk.models.blocks", "slack_sdk.models.blocks.blocks"):
    logging.getLogger(_name).setLevel(logging.ERROR)


def error(message: str, pointer: str) -> str:
    """One error line, formatted like Slack's ``response_metadata.messages``."""
    return f"[ERROR] {message} [json-pointer:{pointer}]"


# ---------------------------------------------------------------------------
# blocks


def validate_blocks(
    blocks: Any, *, pointer: str = "/blocks", max_blocks: int = MESSAGE_MAX_BLOCKS
) -> list[str]:
    """Return the Slack-style errors of a ``blocks`` array (an empty list when it is valid)."""
    if not isinstance(blocks, list):
        return [error("must be an array", pointer)]
    errors: list[str] = []
    if len(blocks) > max_blocks:
        errors.append(error(f"no more than {max_blocks} items allowed", pointer))
    seen_block_ids: dict[str, int] = {}
    for index, block in enumerate(blocks):
        block_pointer = f"{pointer}/{index}"
        errors.extend(_validate_block(block, block_pointer))
        block_id = block.get("block_id") if isinstance(block, dict) else None
        if isinstance(block_id, str):
            if block_id in seen_block_ids:
                errors.append(
                    error(
                        f"block_id '{block_id}' is already used by block {seen_block_ids[block_id]}",
                        f"{block_pointer}/block_id",
                    )
                )
            else:
                seen_block_ids[block_id] = index
    return errors


def utf16_length(text: str) -> int:
    """Characters as JavaScript counts them (UTF-16 code units): an emoji beyond the BMP counts two."""
    return len(text.encode("utf-16-le")) // 2


def blocks_text_size(blocks: list[Any]) -> int:
    """What a message's blocks count against ``MESSAGE_BLOCKS_TEXT_MAX_CHARS``: every ``text``
    string anywhere in them (text objects, rich_text elements), plus a container charge per block."""

    def texts(node: Any) -> int:
        if isinstance(node, list):
            return sum(texts(item) for item in node)
        if not isinstance(node, dict):
            return 0
        total = 0
        for key, value in node.items():
            if key == "text" and isinstance(value, str):
                total += utf16_length(value)
            else:
                total += texts(value)
        return total

    return texts(blocks) + BLOCK_CONTAINER_CHARS * len(blocks)


def _validate_block(block: Any, pointer: str) -> list[str]:
    try:
        canonical = json.dumps(block, sort_keys=True)
    except (TypeError, ValueError):
        return _check_block(block, pointer)
    return list(_check_block_cached(canonical, pointer))


@functools.lru_cache(maxsize=8192)
def _check_block_cached(canonical: str, pointer: str) -> tuple[str, ...]:
    """Tests send the same blocks over and over; validating each distinct one once keeps the fake fast."""
    return tuple(_check_block(json.loads(canonical), pointer))


def _check_block(block: Any, pointer: str) -> list[str]:
    if not isinstance(block, dict):
        return [error("a block must be an object", pointer)]
    block_type = block.get("type")
    if not isinstance(block_type, str):
        return [error("missing required field: type", pointer)]
    parsed, failure = _round_trip_block(block)
    if failure is not None:
        return [error(failure, pointer)]
    if parsed is None:
        return [error(f"unsupported block type '{block_type}'", f"{pointer}/type")]
    errors = list(_lossless(block, parsed, pointer))
    errors.extend(_block_rules(block, pointer))
    return errors


def _round_trip_block(block: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """Parse ``block`` with slack_sdk and serialise it again; return (dict or None, failure message)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = Block.parse(copy.deepcopy(block))
            return (model.to_dict() if model is not None else None), None
    except SlackObjectFormationError as exc:
        return None, str(exc)
    except TypeError as exc:
        return None, _describe_type_error(exc)
    except (AttributeError, KeyError, ValueError) as exc:
        return None, f"invalid block: {exc}"


def _describe_type_error(exc: TypeError) -> str:
    match = _MISSING_ARGS.search(str(exc))
    if match:
        names = [name.strip(" '") for name in re.split(r",| and ", match.group(1)) if name.strip(" '")]
        return "missing required field: " + ", ".join(names)
    return f"invalid value: {exc}"


def _block_rules(block: dict[str, Any], pointer: str) -> Iterator[str]:
    """Slack rules slack_sdk does not check, for one (already round-tripped) block."""
    block_type = block["type"]
    block_id = block.get("block_id")
    if isinstance(block_id, str) and not block_id:
        yield error("block_id must not be empty", f"{pointer}/block_id")
    if block_type == "header":
        yield from _plain_text_only(block.get("text"), f"{pointer}/text")
    elif block_type == "input":
        yield from _plain_text_only(block.get("label"), f"{pointer}/label")
        yield from _plain_text_only(block.get("hint"), f"{pointer}/hint")
    elif block_type == "section":
        fields = block.get("fields")
        if isinstance(fields, list):
            for index, field in enumerate(fields):
                text = field.get("text") if isinstance(field, dict) else None
                if isinstance(text, str) and len(text) > SECTION_FIELD_MAX_CHARS:
                    yield error(
                        f"must be at most {SECTION_FIELD_MAX_CHARS} characters",
                        f"{pointer}/fields/{index}/text",
                    )
    yield from _element_rules(block, pointer)
    yield from _unique_action_ids(block, pointer)


def _element_rules(node: Any, pointer: str) -> Iterator[str]:
    """Walk a block and apply per-element plain_text rules."""
    if isinstance(node, list):
        for index, item in enumerate(node):
            yield from _element_rules(item, f"{pointer}/{index}")
        return
    if not isinstance(node, dict):
        return
    element_type = node.get("type")
    if "placeholder" in node:
        yield from _plain_text_only(node["placeholder"], f"{pointer}/placeholder")
    if element_type == "button":
        yield from _plain_text_only(node.get("text"), f"{pointer}/text")
    for key, value in node.items():
        if key in _BOOLEAN_PROPERTIES and not isinstance(value, bool):
            yield error("must be a boolean", f"{pointer}/{key}")
    for option_pointer, option in _all_options(node, pointer):
        yield from _option_rules(
            option, option_pointer, plain_text=element_type in _PLAIN_TEXT_OPTION_ELEMENTS
        )
    groups = node.get("option_groups")
    if isinstance(groups, list):
        for index, group in enumerate(groups):
            if isinstance(group, dict):
                yield from _plain_text_only(group.get("label"), f"{pointer}/option_groups/{index}/label")
    for key, value in node.items():
        if key not in ("text", "placeholder", "options", "option_groups") and isinstance(value, (dict, list)):
            yield from _element_rules(value, f"{pointer}/{key}")


def _all_options(element: dict[str, Any], pointer: str) -> Iterator[tuple[str, Any]]:
    """Every option object of an element: options, initial_option(s), option_groups[].options."""
    for key in ("options", "initial_options"):
        value = element.get(key)
        if isinstance(value, list):
            for index, option in enumerate(value):
                yield f"{pointer}/{key}/{index}", option
    if "initial_option" in element:
        yield f"{pointer}/initial_option", element["initial_option"]
    groups = element.get("option_groups")
    if isinstance(groups, list):
        for group_index, group in enumerate(groups):
            options = group.get("options") if isinstance(group, dict) else None
            if isinstance(options, list):
                for index, option in enumerate(options):
                    yield f"{pointer}/option_groups/{group_index}/options/{index}", option


def _option_rules(option: Any, pointer: str, *, plain_text: bool) -> Iterator[str]:
    if not isinstance(option, dict):
        yield error("an option must be an object", pointer)
        return
    if "label" in option:  # the legacy dialog/attachment shape, which slack_sdk keeps as is
        yield error("unsupported property 'label' (Block Kit options take a text object)", f"{pointer}/label")
    text = option.get("text")
    if not isinstance(text, dict):
        yield error("missing required field: text (a text object)", pointer)
    elif plain_text:
        yield from _plain_text_only(text, f"{pointer}/text")
    if not isinstance(option.get("value"), str):
        yield error("missing required field: value (a string)", pointer)


def _plain_text_only(text: Any, pointer: str) -> Iterator[str]:
    if isinstance(text, dict) and text.get("type") != "plain_text":
        yield error("must be a plain_text text object", f"{pointer}/type")


def _unique_action_ids(block: dict[str, Any], pointer: str) -> Iterator[str]:
    seen: dict[str, str] = {}
    for action_pointer, action_id in _action_ids(block, pointer):
        if action_id in seen:
            yield error(
                f"action_id '{action_id}' is already used in this block at {seen[action_id]}", action_pointer
            )
        else:
            seen[action_id] = action_pointer


def _action_ids(node: Any, pointer: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, list):
        for index, item in enumerate(node):
            yield from _action_ids(item, f"{pointer}/{index}")
    elif isinstance(node, dict):
        action_id = node.get("action_id")
        if isinstance(action_id, str):
            yield f"{pointer}/action_id", action_id
        for key, value in node.items():
            if isinstance(value, (dict, list)):
                yield from _action_ids(value, f"{pointer}/{key}")


def _lossless(sent: Any, echoed: Any, pointer: str) -> Iterator[str]:
    """Errors for whatever slack_sdk dropped or rewrote while round-tripping ``sent`` into ``echoed``."""
    if sent is None:
        yield error("must not be null", pointer)
    elif isinstance(sent, dict):
        if not isinstance(echoed, dict):
            yield error(f"expected {_kind(echoed)}, got an object", pointer)
            return
        for key, value in sent.items():
            child = f"{pointer}/{key}"
            if key in echoed:
                yield from _lossless(value, echoed[key], child)
            elif value is None:
                yield error("must not be null", child)
            elif value == "" and key != "text":
                continue  # slack_sdk drops empty strings; Slack takes them (initial_value, value, ...)
            elif isinstance(value, (str, list, dict)) and len(value) == 0:
                yield error("must not be empty", child)
            else:
                yield error(f"unsupported property '{key}'", child)
    elif isinstance(sent, list):
        if not isinstance(echoed, list):
            yield error(f"expected {_kind(echoed)}, got an array", pointer)
        elif len(sent) != len(echoed):
            yield error("contains unsupported or invalid items", pointer)
        else:
            for index, (value, copy_) in enumerate(zip(sent, echoed, strict=True)):
                if value is not None and copy_ is None:
                    yield error(f"unsupported item of type '{_type_of(value)}'", f"{pointer}/{index}")
                else:
                    yield from _lossless(value, copy_, f"{pointer}/{index}")
    elif isinstance(echoed, dict):
        yield error(f"expected an object, got {_kind(sent)}", pointer)
    elif sent != echoed or type(sent) is not type(echoed):
        yield error(f"invalid value {sent!r}", pointer)


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return "null" if value is None else type(value).__name__


def _type_of(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("type", "object"))
    return _kind(value)


# ---------------------------------------------------------------------------
# views


def validate_view(view: Any, *, allowed_types: tuple[str, ...], pointer: str = "/view") -> list[str]:
    """Return the Slack-style errors of a ``view`` payload (an empty list when it is valid)."""
    if not isinstance(view, dict):
        return [error("must be an object", pointer)]
    errors: list[str] = []
    for key in view:
        if key not in VIEW_INPUT_PROPERTIES:
            errors.append(error(f"unsupported property '{key}'", f"{pointer}/{key}"))
    view_type = view.get("type")
    if view_type is None:
        errors.append(error("missing required field: type", pointer))
    elif view_type not in allowed_types:
        expected = " or ".join(repr(t) for t in allowed_types)
        errors.append(error(f"type must be {expected}", f"{pointer}/type"))
    if view_type == "modal" and "title" not in view:
        errors.append(error("missing required field: title", pointer))
    if "blocks" not in view:
        errors.append(error("missing required field: blocks", pointer))
    else:
        blocks = view["blocks"]
        errors.extend(validate_blocks(blocks, pointer=f"{pointer}/blocks", max_blocks=VIEW_MAX_BLOCKS))
        has_input = isinstance(blocks, list) and any(
            isinstance(b, dict) and b.get("type") == "input" for b in blocks
        )
        if view_type == "modal" and has_input and "submit" not in view:
            errors.append(error("submit is required when the view contains an input block", pointer))
    for key in VIEW_TEXT_PROPERTIES:
        if key in view:
            errors.extend(_view_text(view[key], f"{pointer}/{key}"))
    for key in VIEW_STRING_PROPERTIES:
        if key in view and not isinstance(view[key], str):
            errors.append(error("must be a string", f"{pointer}/{key}"))
    external_id = view.get("external_id")
    if isinstance(external_id, str) and len(external_id) > VIEW_EXTERNAL_ID_MAX_CHARS:
        errors.append(
            error(f"must be at most {VIEW_EXTERNAL_ID_MAX_CHARS} characters", f"{pointer}/external_id")
        )
    for key in ("clear_on_close", "notify_on_close", "submit_disabled"):
        if key in view and not isinstance(view[key], bool):
            errors.append(error("must be a boolean", f"{pointer}/{key}"))
    if not errors:
        errors.extend(_round_trip_view(view, pointer))
    return errors


def _view_text(text: Any, pointer: str) -> Iterator[str]:
    if not isinstance(text, dict):
        yield error(f"expected a plain_text object, got {_kind(text)}", pointer)
        return
    yield from _plain_text_only(text, pointer)
    if not isinstance(text.get("text"), str) or not text["text"]:
        yield error("must be a non-empty string", f"{pointer}/text")


def _round_trip_view(view: dict[str, Any], pointer: str) -> list[str]:
    """slack_sdk's View checks (title/submit/close lengths, private_metadata, callback_id, home rules).

    Blocks were validated one by one already; they are left out here so that
    their errors are not reported twice.
    """
    head = {
        key: copy.deepcopy(value) for key, value in view.items() if key not in ("blocks", "submit_disabled")
    }
    placeholder_blocks = [{"type": "divider"}]  # View insists on 1..100 blocks; the real ones are checked
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            echoed = View(**head, blocks=placeholder_blocks).to_dict()
    except SlackObjectFormationError as exc:
        return [error(str(exc), pointer)]
    except TypeError as exc:
        return [error(_describe_type_error(exc), pointer)]
    except (AttributeError, KeyError, ValueError) as exc:
        return [error(f"invalid view: {exc}", pointer)]
    texts = {key: head[key] for key in VIEW_TEXT_PROPERTIES if key in head}
    return list(_lossless(texts, echoed, pointer))
