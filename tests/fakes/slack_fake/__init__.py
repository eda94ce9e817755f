"""A fake Slack Web API served over real HTTP, for tests.

    from tests.fakes.slack_fake import FakeSlack

    with FakeSlack(token="xoxb-test", bot_user_id="UBOT", team_id="T123") as fake:
        client = slack_sdk.WebClient(token="xoxb-test", base_url=fake.api_url)
        client.chat_postMessage(channel="C1", text="hi")
        assert fake.messages("C1")[0].text == "hi"

See ``server.FakeSlack`` for the switches and recorded state, ``blockkit`` for
what Block Kit validation adds to slack_sdk's models.

Several workspaces and the OAuth v2 install (``team``, ``oauth``):

    beta = fake.add_team("T2", "Beta", users=["U2"], channels=["C2"], token="xoxb-beta")
    beta.client().chat_postMessage(channel="C2", text="hi")   # fake.messages("C2") stays empty
    fake.configure_oauth("cid", "secret", redirect_uri="http://app/slack/oauth_redirect")
    fake.next_authorization("T2", "U2")   # GET fake.authorize_url?... -> 302 ...?code=…&state=…
    fake.uninstall("T2")                  # beta's bot token now answers account_inactive
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
from .oauth import OAUTH_CODE_TTL, OAuthApp, Token
from .server import FakeSlack
from .shortcuts import message_action
from .team import Team, TeamState
from .unfurl import Unfurls, links

__all__ = [
    "ANY_METHOD",
    "DEFAULT_TZ",
    "OAUTH_CODE_TTL",
    "Call",
    "Channel",
    "Channels",
    "Ephemeral",
    "FakeSlack",
    "Message",
    "MessageVersion",
    "OAuthApp",
    "ResponsePost",
    "StoredView",
    "Team",
    "TeamState",
    "Token",
    "Unfurls",
    "User",
    "Usergroup",
    "links",
    "message_action",
    "validate_blocks",
    "validate_view",
]
