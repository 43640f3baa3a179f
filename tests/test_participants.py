"""Participants: the outcome map, recruitment ids, the ledger (one outcome per participant),
its stores, and the server's outcome flow with real Socket.IO clients on 127.0.0.1."""

from __future__ import annotations

import csv
import io
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from interactive_gym_p2p.exports.cli import main as exports_main
from interactive_gym_p2p.participants import (
    PROLIFIC_COMPLETION_URL,
    FileParticipantStore,
    InMemoryParticipantStore,
    OutcomeRefused,
    OutcomeReport,
    ParticipantLedger,
    RecruitmentSettings,
    Study,
    StudyConfigError,
)
from interactive_gym_p2p.participants.outcomes import OutcomeMap, fill_redirect, literal_url
from interactive_gym_p2p.participants.recruitment import pick
from interactive_gym_p2p.signaling.records import Slot

from server_harness import ParticipantClient, SignalingClient, http_get, make_scene, make_stager, running_server, static_scene

TOKEN = "researcher-token-0123456789"
PROLIFIC = {"PROLIFIC_PID": "5f1a2b3c4d5e6f7a8b9c0d1e", "STUDY_ID": "study42", "SESSION_ID": "sess-9"}


def study() -> Study:
    return Study().screening(webrtc=False, turn=False).outcomes(
        {"excluded:screening": "SCR1"},
        completed="COMP1", partner_left="PL1", lobby_timeout={"code": "LT1", "redirect_delay_s": 0},
        connection_failed="CF1", excluded="EX1", error="ERR1",
        redirect_url=PROLIFIC_COMPLETION_URL + "&pid={PROLIFIC_PID}",
    )


# ---------------------------------------------------------------------- pure pieces


def test_outcome_map_resolves_reason_then_outcome_then_defaults() -> None:
    m = OutcomeMap.build(
        {"excluded": {"code": "EX", "message": "gone"}, "excluded:screening": "SCR", "lobby_timeout": {"redirect_url": "/lt"}},
        redirect_url="https://r.example/?cc={code}", redirect_delay_s=3,
    )
    screening = m.spec("excluded", "screening")
    assert (screening.code, screening.message, screening.redirect_url, screening.redirect_delay_s) == (
        "SCR", "gone", "https://r.example/?cc={code}", 3)
    assert m.spec("excluded", "inactive").code == "EX"
    assert m.spec("lobby_timeout", fallback_redirect="/ig").redirect_url == "/lt", "the map's own redirect wins"
    assert m.spec("partner_left", fallback_redirect="/ig").redirect_url == "/ig", "no code: Interactive Gym's redirect"
    assert m.spec("partner_left").redirect_url is None


@pytest.mark.parametrize("entries, where", [
    ({"finished": "X"}, "unknown outcome"),
    ({"excluded:Bad Reason": "X"}, "reason"),
    ({"completed": "has space"}, "code"),
    ({"completed": {"cod": "X"}}, "unknown keys"),
    ({"completed": {"code": "X", "redirect_url": "ftp://x/"}}, "http"),
    ({"completed": {"code": "X", "redirect_delay_s": -1}}, "redirect_delay_s"),
])
def test_outcome_map_refuses_bad_entries(entries: dict, where: str) -> None:
    with pytest.raises(StudyConfigError, match=where):
        Study().outcomes(entries)


def test_unknown_redirect_placeholder_is_refused_at_check() -> None:
    s = Study().outcomes(completed="C", redirect_url="https://x/?cc={code}&w={workerId}")
    with pytest.raises(StudyConfigError, match="workerId"):
        s.check()
    s.recruitment(id_param="workerId", params=["assignmentId", "hitId"]).check()


def test_fill_redirect_encodes_values_and_keeps_literal_urls() -> None:
    url = fill_redirect("https://x/?cc={code}&p={PROLIFIC_PID}&m={missing}", {"code": "A B&C", "PROLIFIC_PID": "p/1"})
    assert url == "https://x/?cc=A%20B%26C&p=p%2F1&m="
    assert fill_redirect(literal_url("https://x/{not}?a={b}"), {}) == "https://x/{not}?a={b}"


def test_recruitment_settings_and_pick() -> None:
    s = RecruitmentSettings()
    assert s.params == ("PROLIFIC_PID", "STUDY_ID", "SESSION_ID")
    assert pick(s, {**PROLIFIC, "other": "x", "STUDY_ID": "bad\nvalue"}) == {
        "PROLIFIC_PID": PROLIFIC["PROLIFIC_PID"], "SESSION_ID": "sess-9"}
    mturk = Study().recruitment(id_param="workerId", params=["assignmentId", "hitId"]).recruitment_settings
    assert mturk.params == ("workerId", "assignmentId", "hitId")
    with pytest.raises(StudyConfigError):
        Study().recruitment(params=["subject_id"])
    with pytest.raises(StudyConfigError):
        Study().recruitment(id_param=None, require_id=True)


def test_ledger_first_final_outcome_wins_and_later_reports_are_kept_for_audit() -> None:
    ledger = ParticipantLedger(InMemoryParticipantStore(), study(), "exp")
    ledger.arrive("p1", dict(PROLIFIC), "UA/1")
    first, created = ledger.end("p1", OutcomeReport("partner_left", "left", reported_by="client", game_id="g1"))
    assert created and first.code == "PL1"
    assert first.redirect_url == f"https://app.prolific.com/submissions/complete?cc=PL1&pid={PROLIFIC['PROLIFIC_PID']}"
    again, created = ledger.end("p1", OutcomeReport("error", "internal"))
    assert not created and again == first
    ledger.end("p1", OutcomeReport("partner_left", "left", reported_by="client"))  # the same again: not noted
    record = ledger.get("p1")
    assert record.outcome == first
    assert [(r["outcome"], r["reason"]) for r in record.ignored_reports] == [("error", "internal")]
    assert record.recruitment == PROLIFIC and record.user_agent == "UA/1"


def test_ledger_authority_pages_may_not_claim_server_outcomes() -> None:
    ledger = ParticipantLedger(InMemoryParticipantStore(), study())
    for outcome, reason in [("completed", None), ("lobby_timeout", "no_match"), ("study_full", None), ("excluded", "screening")]:
        with pytest.raises(OutcomeRefused) as refused:
            ledger.end("p", OutcomeReport(outcome, reason, reported_by="client"))
        assert refused.value.code == "not_allowed"
    with pytest.raises(OutcomeRefused, match="needs a reason"):
        ledger.end("p", OutcomeReport("excluded"))
    assert ledger.outcome_of("p") is None


def test_ledger_keeps_the_first_recruitment_ids() -> None:
    ledger = ParticipantLedger(InMemoryParticipantStore(), Study())
    ledger.arrive("p", {"STUDY_ID": "s1"})
    ledger.arrive("p", {"STUDY_ID": "s2", "SESSION_ID": "x"})
    assert ledger.get("p").recruitment == {"STUDY_ID": "s1", "SESSION_ID": "x"}


def test_file_store_one_outcome_even_with_two_stores_on_one_folder(tmp_path: Path) -> None:
    # Two server processes sharing a data directory: each has its own store object.
    ledgers = [ParticipantLedger(FileParticipantStore(tmp_path), study()) for _ in range(2)]
    ledgers[0].arrive("p", {"STUDY_ID": "s"})
    results: list[Any] = []
    barrier = threading.Barrier(8)

    def report(i: int) -> None:
        barrier.wait()
        outcome = ("partner_left", "left") if i % 2 else ("error", "internal")
        results.append(ledgers[i % 2].end("p", OutcomeReport(*outcome)))

    threads = [threading.Thread(target=report, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(created for _, created in results) == 1
    assert len({r.recorded_at for r, _ in results}) == 1, "every caller got the outcome that stands"
    on_disk = json.loads((tmp_path / "p" / "outcome.json").read_text())
    assert on_disk["outcome"] == results[0][0].outcome
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == ["outcome.json", "participant.json"], "no temp files left"
    with pytest.raises(ValueError):
        FileParticipantStore(tmp_path).get("../etc")


# ---------------------------------------------------------------------- the server


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    """GET without following redirects."""
    return http_get(url, follow_redirects=False)


def research(url: str, path: str, token: str | None = TOKEN) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url + path, headers=headers), timeout=15) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_prolific_link_keeps_its_ids_through_the_redirect(tmp_path: Path) -> None:
    with running_server(make_stager(), tmp_path) as server:
        status, headers, _ = get(server.url + "/?" + urllib.parse.urlencode({**PROLIFIC, "autoadvance": "1"}))
        assert status == 302
        target = urllib.parse.urlsplit(headers["Location"])
        assert target.path == "/" + PROLIFIC["PROLIFIC_PID"]
        assert dict(urllib.parse.parse_qsl(target.query)) == {**PROLIFIC, "autoadvance": "1"}
        status, _, page = get(server.url + target.path + "?" + target.query)
        config = json.loads(page.decode().split('id="p2p-config">')[1].split("</script>")[0])
        assert config["recruitment_params"] == ["PROLIFIC_PID", "STUDY_ID", "SESSION_ID"]
        # ?subject_id= still wins; without any id a random one
        assert get(server.url + "/?subject_id=abc&STUDY_ID=s")[1]["Location"] == "/abc?STUDY_ID=s"
        assert len(get(server.url + "/")[1]["Location"]) == 33


def test_require_id_shows_an_incomplete_link_page(tmp_path: Path) -> None:
    with running_server(make_stager(), tmp_path, study=Study().recruitment(require_id=True).screening(webrtc=False, turn=False)) as server:
        status, _, body = get(server.url + "/")
        assert status == 400 and b"This study link is incomplete" in body and b"PROLIFIC_PID" in body
        assert get(server.url + "/?PROLIFIC_PID=abc")[0] == 302


def play_game(server: Any, people: dict[str, ParticipantClient]) -> tuple[dict[str, SignalingClient], dict[str, Any]]:
    signaling = {}
    for subject, person in people.items():
        person.log.wait("activate_scene", lambda d: d["scene_id"] == "start")
        assert person.call("advance_scene", {"scene_id": "start"})["ok"]
        game = person.log.wait("activate_scene", lambda d: d["scene_id"] == "game")
        signaling[subject] = SignalingClient(server.url, game["p2p"]["signaling"]["ticket"])
        assert signaling[subject].join()["ok"]
    ready = {s: c.log.wait("game_ready") for s, c in signaling.items()}
    return signaling, ready


def test_completed_is_the_servers_call_and_records_match(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IGP2P_RESEARCHER_TOKEN", TOKEN)
    stager = make_stager(make_scene("game"), static_scene("survey"))
    with running_server(stager, tmp_path, study=study(), researcher_token=TOKEN) as server:
        people = {
            "ann": ParticipantClient(server.url, "ann", recruitment={**PROLIFIC, "PROLIFIC_PID": "ann"}),
            "ben": ParticipantClient(server.url, "ben", recruitment={**PROLIFIC, "PROLIFIC_PID": "ben"}),
        }
        signaling: dict[str, SignalingClient] = {}
        try:
            info = people["ann"].log.wait("participant")
            assert info == {"subject_id": "ann", "recruitment": {**PROLIFIC, "PROLIFIC_PID": "ann"}}
            signaling, ready = play_game(server, people)
            # A page cannot claim "completed": the server decides it.
            refused = people["ann"].call("study_outcome", {"outcome": "completed"})
            assert refused["error"]["code"] == "not_allowed"
            for subject, client in signaling.items():
                assert client.call("finished", {"game_id": ready[subject]["game_id"]}) == {"ok": True}
            for person in people.values():
                assert person.call("advance_scene", {"scene_id": "game"})["ok"]
                person.call("static_scene_data_emission", {"scene_id": "survey", "data": {"q": 1}})
                assert person.call("advance_scene", {"scene_id": "survey"})["ok"]
            pages = {s: p.log.wait("study_end") for s, p in people.items()}
            for subject, page in pages.items():
                assert (page["outcome"], page["code"]) == ("completed", "COMP1")
                assert page["redirect_url"] == f"https://app.prolific.com/submissions/complete?cc=COMP1&pid={subject}"
                assert page["subject_id"] == subject and "Copy" not in page["next"]
            survey = json.loads((tmp_path / "data" / "survey" / "ann.json").read_text())
            assert survey["recruitment"]["STUDY_ID"] == "study42"
            # A reload shows the same outcome page, not the study again.
            people["ann"].close()
            back = ParticipantClient(server.url, "ann")
            try:
                assert back.log.wait("study_end")["recorded_at"] == pages["ann"]["recorded_at"]
                assert back.log.count("activate_scene") == 0
            finally:
                back.close()
            # The researcher's records match what the participants saw.
            status, body = research(server.url, "/p2p/research/api/participants")
            assert status == 200
            records = {r["subject_id"]: r for r in json.loads(body)["participants"]}
            game_id = ready["ann"]["game_id"]
            for subject in ("ann", "ben"):
                r = records[subject]
                assert r["recruitment"]["PROLIFIC_PID"] == subject and r["recruitment"]["SESSION_ID"] == "sess-9"
                assert r["outcome"]["outcome"] == "completed" and r["outcome"]["code"] == "COMP1"
                assert r["outcome"]["reported_by"] == "server" and r["duration_s"] >= 0
                assert [g["game_id"] for g in r["games"]] == [game_id]
            status, body = research(server.url, "/p2p/research/api/participants.csv")
            rows = list(csv.DictReader(io.StringIO(body.decode())))
            assert {(row["subject_id"], row["PROLIFIC_PID"], row["outcome"], row["code"]) for row in rows} == {
                ("ann", "ann", "completed", "COMP1"), ("ben", "ben", "completed", "COMP1")}
            assert research(server.url, "/p2p/research/api/participants", token=None)[0] == 401
            assert research(server.url, "/p2p/research/api/participants", token="x" * 20)[0] == 403
            # The researcher CLI reads the same records from the server and from the data dir.
            out = io.StringIO()
            assert exports_main(["participants", "--server", server.url, "--csv"], out=out) == 0
            assert out.getvalue() == exports_csv_from_dir(tmp_path / "data")
            table = io.StringIO()
            assert exports_main(["participants", "--data-dir", str(tmp_path / "data"), "--outcome", "completed"], out=table) == 0
            lines = table.getvalue().splitlines()
            assert lines[0].split() == ["subject", "PROLIFIC_PID", "STUDY_ID", "SESSION_ID", "outcome", "code", "started", "ended"]
            assert lines[-1] == "2 participant(s): 2 completed"
            none = io.StringIO()
            assert exports_main(["participants", "--data-dir", str(tmp_path / "data"), "--outcome", "none", "--json"], out=none) == 0
            assert json.loads(none.getvalue()) == []
        finally:
            for c in [*people.values(), *signaling.values()]:
                c.close()


def exports_csv_from_dir(data_dir: Path) -> str:
    out = io.StringIO()
    assert exports_main(["participants", "--data-dir", str(data_dir), "--csv"], out=out) == 0
    return out.getvalue()


def test_partner_left_reported_by_the_page_with_the_servers_view(tmp_path: Path) -> None:
    with running_server(make_stager(make_scene("game", disconnect_policy="end")), tmp_path, study=study()) as server:
        people = {s: ParticipantClient(server.url, s) for s in ("cat", "dan")}
        signaling: dict[str, SignalingClient] = {}
        try:
            signaling, ready = play_game(server, people)
            assert signaling["dan"].call("leave", {"game_id": ready["dan"]["game_id"]}) == {"ok": True}
            signaling["cat"].log.wait("peer_left")
            ack = people["cat"].call("study_outcome", {"outcome": "partner_left", "reason": "left", "detail": "BYE at frame 12",
                                                       "game_id": ready["cat"]["game_id"]})
            assert ack["ok"] and ack["recorded"] and ack["page"]["code"] == "PL1"
            assert ack["page"] == people["cat"].log.wait("study_end")
            outcome = server.context.ledger.outcome_of("cat")
            assert (outcome.reported_by, outcome.server_seat, outcome.game_id) == ("client", "ended", ready["cat"]["game_id"])
            # The study is over: no next scene, no new seat.
            assert people["cat"].call("advance_scene", {"scene_id": "game"})["error"]["code"] == "study_over"
            again = people["cat"].call("study_outcome", {"outcome": "error", "reason": "internal"})
            assert again["recorded"] is False and again["page"]["outcome"] == "partner_left"
        finally:
            for c in [*people.values(), *signaling.values()]:
                c.close()


def test_lobby_timeout_is_recorded_by_the_server_with_igs_redirect(tmp_path: Path) -> None:
    scene = make_scene("game", wait_timeout_s=1)
    scene.waitroom_timeout_redirect_url = "https://ig.example/timeout?x={literal}"
    with running_server(make_stager(scene), tmp_path,
                        study=Study().screening(webrtc=False, turn=False).outcomes(lobby_timeout={"message": "Sorry!"})) as server:
        person = ParticipantClient(server.url, "eve")
        client = None
        try:
            person.log.wait("activate_scene")
            game = person.call("advance_scene", {"scene_id": "start"}) and person.log.wait(
                "activate_scene", lambda d: d["scene_id"] == "game")
            client = SignalingClient(server.url, game["p2p"]["signaling"]["ticket"])
            assert client.join()["status"] == "waiting"
            client.log.wait("wait_timeout")
            page = person.log.wait("study_end")
            assert (page["outcome"], page["reason"], page["code"], page["message"]) == ("lobby_timeout", "no_match", None, "Sorry!")
            assert page["redirect_url"] == "https://ig.example/timeout?x={literal}"
            assert person.log.wait("terminate_scene", lambda d: d["scene_id"] == "game")
            assert client.join()["error"]["code"] == "study_over"
        finally:
            person.close()
            if client:
                client.close()


def test_unsaved_experiment_keeps_records_in_memory_only(tmp_path: Path) -> None:
    from interactive_gym.configurations.experiment_config import ExperimentConfig

    experiment = ExperimentConfig().experiment(experiment_id="e", stager=make_stager(), save_experiment_data=False)
    with running_server(experiment, tmp_path, researcher_token=TOKEN) as server:
        person = ParticipantClient(server.url, "fay")
        try:
            person.log.wait("participant")
            records = json.loads(research(server.url, "/p2p/research/api/participants")[1])["participants"]
            assert [r["subject_id"] for r in records] == ["fay"]
        finally:
            person.close()
    assert not (tmp_path / "data").exists()


def test_closed_recruitment_ends_new_arrivals_with_study_full(tmp_path: Path) -> None:
    with running_server(make_stager(), tmp_path, study=Study().screening(webrtc=False, turn=False).outcomes(study_full="FULL1")) as server:
        early = ParticipantClient(server.url, "early")
        try:
            early.log.wait("activate_scene")
            server.context.ledger.set_recruitment_open(False)
            late = ParticipantClient(server.url, "late")
            try:
                page = late.log.wait("study_end")
                assert (page["outcome"], page["reason"], page["code"]) == ("study_full", "closed", "FULL1")
                assert late.log.count("activate_scene") == 0
            finally:
                late.close()
            early.close()
            back = ParticipantClient(server.url, "early")  # someone already in keeps going
            try:
                assert back.log.wait("activate_scene")["scene_id"] == "start"
            finally:
                back.close()
        finally:
            early.close()
    # The flag is kept in the data directory: a restarted server stays closed.
    assert FileParticipantStore(tmp_path / "data" / "participants").get_setting("recruitment_open") is False


# ---------------------------------------------------------------------- screening

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.0 Mobile/15E148 Safari/604.1")
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
OK = {"ok": True, "detail": None}


def test_screening_classifies_browsers_and_devices() -> None:
    from interactive_gym_p2p.participants.screening import browser_family, device_type

    assert browser_family(CHROME) == "chrome"
    assert browser_family(CHROME.replace("Chrome/", "HeadlessChrome/")) == "chrome"
    assert browser_family(FIREFOX) == "firefox"
    assert browser_family(IPHONE) == "safari"
    assert browser_family(None) is None
    assert device_type(CHROME, {}) == "desktop"
    assert device_type(IPHONE, {}) == "mobile"
    assert device_type(CHROME, {"ua_mobile": True}) == "mobile"
    ipados = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15"
    assert device_type(ipados, {"touch_points": 5}) == "tablet"
    assert device_type(ipados, {"touch_points": 0}) == "desktop"


def test_screening_judges_each_check() -> None:
    from interactive_gym_p2p.participants.screening import ScreeningSettings, judge_report

    checks = {"webrtc": True, "turn": True}
    settings = ScreeningSettings(max_rtt_ms=150, browsers=("chrome", "edge"), devices=("desktop",))
    good = {"webrtc": OK, "turn": {"ok": True, "ms": 300}, "rtt_ms": [40, 50, 400]}
    result = judge_report(settings, checks, good, CHROME)
    assert (result.passed, result.problems, result.rtt_ms, result.browser) == (True, [], 50.0, "chrome")
    bad = judge_report(settings, checks, {"webrtc": {"ok": False, "detail": "no API"}, "turn": None, "rtt_ms": [900, 800, 700]}, IPHONE)
    assert bad.passed is False
    text = " ".join(bad.problems)
    for words in ("WebRTC", "relay server", "too slow (800 ms", "Chrome, Edge", "cannot be done on a mobile"):
        assert words in text, (words, text)
    with pytest.raises(StudyConfigError, match="devices"):
        Study().screening(devices=["phone"])
    with pytest.raises(StudyConfigError, match="unknown settings"):
        Study().screening(max_ping=100)
    assert not ScreeningSettings(webrtc=False, turn=False).enabled


def screened_server(tmp_path: Path, **screening: Any) -> Any:
    s = Study().outcomes({"excluded:screening": "SCR1"}, excluded="EX1").screening(**screening)
    return running_server(make_stager(static_scene("consent"), make_scene("game")), tmp_path, study=s)


def to_game(person: ParticipantClient) -> dict[str, Any]:
    person.log.wait("activate_scene", lambda d: d["scene_id"] == "start")
    person.call("advance_scene", {"scene_id": "start"})
    person.log.wait("activate_scene", lambda d: d["scene_id"] == "consent")
    person.call("static_scene_data_emission", {"scene_id": "consent", "data": {"age": "17"}})
    person.call("advance_scene", {"scene_id": "consent"})
    return person.log.wait("activate_scene", lambda d: d["scene_id"] == "game")


def test_screening_gates_the_waiting_room(tmp_path: Path) -> None:
    with screened_server(tmp_path, turn=True, max_rtt_ms=500, rtt_samples=3) as server:
        person = ParticipantClient(server.url, "gus")
        client = None
        try:
            checks = person.log.wait("screening")
            # No TURN server on this test server: that check is skipped, WebRTC and RTT are asked.
            assert checks == {"webrtc": True, "turn": False, "ice_servers": [], "turn_timeout_s": 10, "rtt_samples": 3}
            assert person.call("p2p_ping", {}) == {"ok": True}
            game = to_game(person)
            client = SignalingClient(server.url, game["p2p"]["signaling"]["ticket"])
            assert client.join()["error"]["code"] == "screening_pending"
            ack = person.call("screening_report", {"webrtc": OK, "rtt_ms": [12.5, 10.1, 11.0]})
            assert ack == {"ok": True, "passed": True}
            assert client.join()["status"] == "waiting"
            record = server.context.ledger.get("gus")
            assert record.screening["passed"] is True and record.screening["rtt_ms"] == 11.0
            assert record.outcome is None
        finally:
            person.close()
            if client:
                client.close()
        # A reload after passing is not screened again.
        back = ParticipantClient(server.url, "gus")
        try:
            back.log.wait("activate_scene")
            assert back.log.count("screening") == 0
        finally:
            back.close()


def test_screening_failure_ends_with_the_screening_code(tmp_path: Path) -> None:
    with screened_server(tmp_path) as server:
        person = ParticipantClient(server.url, "hal", recruitment={"PROLIFIC_PID": "hal"})
        try:
            person.log.wait("screening")
            ack = person.call("screening_report", {"webrtc": {"ok": False, "detail": "RTCPeerConnection is not available"}})
            assert ack == {"ok": True, "passed": False}
            page = person.log.wait("study_end")
            assert (page["outcome"], page["reason"], page["code"]) == ("excluded", "screening", "SCR1")
            assert "WebRTC" in page["detail"], "the participant is told what to change"
            record = server.context.ledger.get("hal")
            assert record.screening["webrtc"] == {"ok": False, "detail": "RTCPeerConnection is not available"}
            assert record.outcome.reported_by == "server"
            # A page may not claim a screening exclusion itself (nor undo one).
            assert person.call("study_outcome", {"outcome": "excluded", "reason": "screening"})["error"]["code"] == "not_allowed"
        finally:
            person.close()


def test_the_researchers_check_sees_the_static_scenes(tmp_path: Path) -> None:
    seen: list[Any] = []

    def adults_only(info: Any) -> Any:
        seen.append(info)
        age = int(info.scene_data.get("consent", {}).get("age", 0))
        return None if age >= 18 else "This study is for adults only."

    with screened_server(tmp_path, webrtc=False, turn=False, check=adults_only) as server:
        person = ParticipantClient(server.url, "ida", recruitment={"STUDY_ID": "s1"})
        client = None
        try:
            person.log.wait("screening")
            assert person.call("screening_report", {}) == {"ok": True, "passed": None}
            game = to_game(person)
            client = SignalingClient(server.url, game["p2p"]["signaling"]["ticket"])
            assert client.join()["error"]["code"] == "study_over"
            page = person.log.wait("study_end")
            assert (page["outcome"], page["reason"], page["detail"]) == ("excluded", "screening", "This study is for adults only.")
            (info,) = seen
            assert info.subject_id == "ida" and info.recruitment == {"STUDY_ID": "s1"} and info.device == "desktop"
        finally:
            person.close()
            if client:
                client.close()


def test_a_python_peer_is_not_screened(tmp_path: Path) -> None:
    with screened_server(tmp_path) as server:
        bot = ParticipantClient(server.url, "bot0", client="python-peer")
        try:
            bot.log.wait("activate_scene")
            assert bot.log.count("screening") == 0
            assert server.context.extra["participants"].admit(Slot("bot0", "game", 2)) is None
        finally:
            bot.close()
