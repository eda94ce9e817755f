"""The fake Slack's file upload flow (tests/fakes/slack_fake/files.py), driven through slack_sdk and raw HTTP:
`files.getUploadURLExternal`, the bytes to the URL it gives, `files.completeUploadExternal`; what Slack
refuses, the fake refuses."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from tests.fakes.slack_fake import FakeSlack
from tests.fakes.slack_fake.files import FileShareMessage

TOKEN = "xoxb-files-test"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


@pytest.fixture(scope="module")
def server() -> Iterator[FakeSlack]:
    with FakeSlack(token=TOKEN) as fake:
        yield fake


@pytest.fixture
def fake(server: FakeSlack) -> FakeSlack:
    server.reset()
    return server


def client(fake: FakeSlack) -> WebClient:
    return WebClient(token=TOKEN, base_url=fake.api_url)


def start(fake: FakeSlack, filename: str, length: int) -> dict:
    answer = client(fake).files_getUploadURLExternal(filename=filename, length=length)
    return dict(answer.data)  # type: ignore[arg-type]


def test_upload_v2_shares_every_file_in_one_message_with_the_bytes_that_arrived(fake: FakeSlack) -> None:
    csv_bytes = b"invoice,amount\nINV-1,10.00\n"
    done = client(fake).files_upload_v2(
        file_uploads=[{"content": PNG, "filename": "aging-usd.png", "title": "Aging, USD", "alt_txt": "a chart"},
                      {"content": csv_bytes, "filename": "open.csv", "title": "Open invoices"}],
        channel="CFIN", initial_comment="The chart and the CSV")
    assert [item["title"] for item in done["files"]] == ["Aging, USD", "Open invoices"]
    (message,) = fake.messages("CFIN")
    assert isinstance(message, FileShareMessage) and message.text == "The chart and the CSV"
    api = message.to_api(fake.team_id, fake.app_id)
    assert api["subtype"] == "file_share" and [item["name"] for item in api["files"]] == ["aging-usd.png", "open.csv"]
    assert api["files"][0]["mimetype"] == "image/png" and api["files"][0]["alt_txt"] == "a chart"
    png, table = fake.files()
    assert png.data == PNG and png.length == len(PNG) and png.completed and png.shares == [("CFIN", message.ts)]
    assert table.data == csv_bytes and table.title == "Open invoices" and table.filetype == "csv"
    history = client(fake).conversations_history(channel="CFIN")["messages"]
    assert history[0]["files"][1]["size"] == len(csv_bytes)
    assert [call.method for call in fake.calls] == ["files.getUploadURLExternal", "files.getUploadURLExternal",
                                                    "files.completeUploadExternal", "conversations.history"]


def test_complete_refuses_a_file_whose_bytes_never_arrived_and_shares_nothing(fake: FakeSlack) -> None:
    sent = start(fake, "a.png", len(PNG))
    missing = start(fake, "b.png", 10)
    assert httpx.post(sent["upload_url"], content=PNG).status_code == 200
    with pytest.raises(SlackApiError) as refused:
        client(fake).files_completeUploadExternal(files=[{"id": sent["file_id"]}, {"id": missing["file_id"]}],
                                                  channel_id="CFIN")
    assert refused.value.response["error"] == "file_not_found"
    assert fake.messages("CFIN") == [] and not any(file.completed for file in fake.files())


def test_complete_refuses_an_unknown_id_and_a_second_completion(fake: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as unknown:
        client(fake).files_completeUploadExternal(files=[{"id": "FNOPE"}], channel_id="CFIN")
    assert unknown.value.response["error"] == "file_not_found"
    upload = start(fake, "a.csv", 3)
    assert httpx.post(upload["upload_url"], content=b"a,b").text == "OK - 3"
    client(fake).files_completeUploadExternal(files=[{"id": upload["file_id"], "title": "A"}], channel_id="CFIN")
    with pytest.raises(SlackApiError) as again:
        client(fake).files_completeUploadExternal(files=[{"id": upload["file_id"]}], channel_id="CFIN")
    assert again.value.response["error"] == "file_not_found"
    assert httpx.post(upload["upload_url"], content=b"x").status_code == 404  # its URL is spent
    assert len(fake.messages("CFIN")) == 1


def test_get_upload_url_wants_a_name_and_a_length(fake: FakeSlack) -> None:
    for arguments in ({"length": 3}, {"filename": "a.csv"}, {"filename": "a.csv", "length": 0},
                      {"filename": "a.csv", "length": "three"}):
        answer = httpx.post(fake.api_url + "files.getUploadURLExternal", data=arguments,
                            headers={"Authorization": f"Bearer {TOKEN}"}).json()
        assert answer == {**answer, "ok": False, "error": "invalid_arguments"}, arguments
    assert fake.files() == []


def test_an_upload_url_the_fake_never_gave_is_not_found(fake: FakeSlack) -> None:
    assert httpx.post(fake.url + "/upload/v1/made-up", content=b"x").status_code == 404


def test_a_multipart_upload_counts_its_file_part(fake: FakeSlack) -> None:
    upload = start(fake, "a.png", len(PNG))
    response = httpx.post(upload["upload_url"], files={"file": ("a.png", PNG, "image/png")})
    assert response.status_code == 200
    assert fake.files()[0].data == PNG


def test_without_a_channel_the_file_stays_private(fake: FakeSlack) -> None:
    upload = start(fake, "a.csv", 1)
    httpx.post(upload["upload_url"], content=b"x")
    client(fake).files_completeUploadExternal(files=[{"id": upload["file_id"]}])
    (file,) = fake.files()
    assert file.completed and file.shares == []


def test_a_channel_the_bot_is_not_in_is_refused_like_a_post(fake: FakeSlack) -> None:
    fake.add_channel("COUT", member=False)
    upload = start(fake, "a.csv", 1)
    httpx.post(upload["upload_url"], content=b"x")
    with pytest.raises(SlackApiError) as refused:
        client(fake).files_completeUploadExternal(files=[{"id": upload["file_id"]}], channel_id="COUT")
    assert refused.value.response["error"] == "not_in_channel"
    assert not fake.files()[0].completed  # it may be completed again, elsewhere
    client(fake).files_completeUploadExternal(files=[{"id": upload["file_id"]}], channel_id="CFIN")
    assert fake.files()[0].shares[0][0] == "CFIN"


def test_files_upload_is_retired(fake: FakeSlack) -> None:
    answer = httpx.post(fake.api_url + "files.upload", data={"channels": "CFIN", "content": "x"},
                        headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert answer["ok"] is False and answer["error"] == "unknown_method"


def test_the_upload_url_takes_the_fault_switches(fake: FakeSlack) -> None:
    upload = start(fake, "a.csv", 1)
    fake.http_error("file_upload", 503, count=1)
    assert httpx.post(upload["upload_url"], content=b"x").status_code == 503
    assert fake.files()[0].data is None
    assert httpx.post(upload["upload_url"], content=b"x").status_code == 200


def test_each_team_has_its_own_files(fake: FakeSlack) -> None:
    beta = fake.add_team("T2", "Beta", channels=["C2"], token="xoxb-beta")
    beta.client().files_upload_v2(content=b"beta", filename="b.csv", channel="C2")
    assert fake.files() == [] and [file.data for file in beta.files()] == [b"beta"]
    (message,) = beta.messages("C2")
    assert json.loads(json.dumps(message.to_api("T2", "A")))["files"][0]["name"] == "b.csv"
