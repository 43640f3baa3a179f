"""Hosted (ONNX) seats in real Chromium (Tug, interactive_gym_p2p/examples/tug.py).

The seat's policy is a tiny ONNX model built here with the `onnx` package (a linear layer over
Tug's observation [x, t] whose argmax pushes the marker back to the middle). Only the host (the
lowest participant seat) runs it, with onnxruntime-web served by the experiment's own server;
the others get the seat's actions as its inputs.

- One participant and a hosted seat: the page hosts and plays alone, to the end; its export marks
  the seat (kind onnx, host 0); every decision the host logged is the model's choice for its
  observation, and the seat's column follows those decisions in order.
- Two participants and a hosted seat between them (three seats, relay-only through the embedded
  TURN server): player 0 hosts, player 2 never runs the model; both exports agree frame for frame
  and mark the seat, and the server's comparison agrees and is complete.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from harness.game import play_alone, read_json, wait_for_files
from harness.session import BrowserSession
from onnx_models import assert_model_choices, build_model, rows_of
from test_ai_seats_chromium import play_trio, trio_exports

pytestmark = pytest.mark.e2e

TUG = "interactive_gym_p2p.examples.tug:build_stager"
MAX_STEPS = 150


def test_one_participant_and_a_hosted_seat(game_server, chromium_available, artifacts_dir, request, tmp_path):
    model = build_model(tmp_path)
    server = game_server({"num_players": 2, "max_steps": MAX_STEPS, "onnx_seats": {"1": str(model)}, "countdown_s": 0},
                         experiment=TUG)
    seat = {"player_index": 1, "agent_id": 1, "policy": str(model), "kind": "onnx", "host": 0}

    async def scenario() -> dict[str, Any]:
        async with BrowserSession(request.node.nodeid, artifacts_dir) as session:
            return await play_alone(session, server.url, ["ArrowLeft", "ArrowRight"], frames_per_key=10)

    snap = asyncio.run(scenario())
    assert snap["p2p"]["path"]["kind"] == "local"
    assert snap["p2p"]["hosted"]["1"]["runs"] > 10 and snap["p2p"]["hosted"]["1"]["failed"] is None, snap["p2p"]["hosted"]
    folder = server.game_dir(snap["p2p"]["gameId"])
    wait_for_files([folder / "player-0.json", folder / "comparison.json"], 20, "the export and the report")
    export = read_json(folder / "player-0.json")
    assert export["ids"]["ai_seats"] == [seat] and export["settings"]["p2p"]["ai_seats"] == [seat], export["ids"]
    assert export["partial"] is False and len(rows_of(export)) == MAX_STEPS
    assert_model_choices(export, 1, 2, MAX_STEPS, snap["p2p"]["hosted"]["1"]["decisions"])
    assert read_json(folder / "comparison.json")["agree"] is True


def test_two_participants_and_a_hosted_seat_in_a_three_seat_game(game_server, chromium_available, artifacts_dir, request,
                                                                 tmp_path):
    model = build_model(tmp_path)
    server = game_server({"num_players": 3, "max_steps": MAX_STEPS, "onnx_seats": {"1": str(model)}, "countdown_s": 0,
                          "ice_transport_policy": "relay"}, experiment=TUG)
    seat = {"player_index": 1, "agent_id": 1, "policy": str(model), "kind": "onnx", "host": 0}
    snaps = play_trio(server, artifacts_dir, request)
    exports, _ = trio_exports(server, snaps, seat)
    by_index = {s["p2p"]["playerIndex"]: s for s in snaps}
    assert by_index[0]["p2p"]["hosted"]["1"]["runs"] > 10, "player 0 hosts the seat"
    assert by_index[2]["p2p"]["hosted"] is None, "player 2 never runs the model"
    for ex in exports:
        delays = ex["episodes"][0]["input_delays"]
        assert delays[1] == delays[0], "the hosted seat runs with its host's input delay"
    assert_model_choices(exports[0], 1, 3, MAX_STEPS, by_index[0]["p2p"]["hosted"]["1"]["decisions"])
