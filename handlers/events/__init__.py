from __future__ import annotations

from slack_bolt import App

from handlers.events import app_home, leaving, unfurls


def register(app: App) -> None:
    app_home.register(app)
    leaving.register(app)
    unfurls.register(app)  # link_shared: previews of pasted invoice links
