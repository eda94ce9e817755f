"""A fake Slack Web API served over real HTTP, for tests.

    from tests.fakes.slack_fake import FakeSlack

    with FakeSlack(token="xoxb-test", bot_user_id="UBOT", team_id="T123") as fake:
        client = slack_sdk.WebClient(token="xoxb-test", base_url=fake.api_url)
        client.chat_postMessage(channel="C1", text="hi")
        assert fake.messages("C1")[0].text == "hi"

See ``server.FakeSlack`` for the switches and recorded state, ``blockkit`` for
what Block Kit validation adds to slack_sdk's models.
"""

from .blockkit import validate_blocks, validate_view
from .faults import ANY_METHOD
from .model import (
    DEFAULT_TZ,
    Call,
    Channel,
    Channels,
    Ephemeral,
    Message,
    MessageVersion,
    ResponsePost,
    StoredView,
    User,
    Usergroup,
)
from .server import FakeSlack

__all__ = [
    "ANY_METHOD",
    "DEFAULT_TZ",
    "Call",
    "Channel",
    "Channels",
    "Ephemeral",
    "FakeSlack",
    "Message",
    "MessageVersion",
    "ResponsePost",
    "StoredView",
    "User",
    "Usergroup",
    "validate_blocks",
    "validate_view",
]
