"""The browser's export (static/js/validation.js, run by node) is accepted by the Python
server: built from a hand-made session record, uploaded with the player's token over real
HTTP, stored byte for byte, and compared with the other player's upload."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from interactive_gym_p2p.validation.schema import parse_export
from interactive_gym_p2p.validation.tokens import UploadTokens

from validation_helpers import ROOT, UPLOAD_SECRET, ServerProcess

SCRIPT = r"""
import { buildExport, uploadExport, exportUploadUrl } from %(module)s;
const [base, playerText, token] = process.argv.slice(2);
const player = Number(playerText);
const subjects = ['ann', 'ben'];
const rows = [];
let h = 0x1234567;
for (let f = 0; f < 600; f += 1) {
  h = (Math.imul(h, 2654435761) + f) >>> 0;
  rows.push([f, [f %% 9, (f * 5) %% 9], h.toString(16).padStart(16, '0')]);
}
const record = {
  episodes: [{ episode: 0, seed: 4242, start_frame: 0, end_frame: 599, last_confirmed_frame: 599, verified_frame: 599, frames: rows }],
  verified_frame: 599,
  desyncs: [],
  connection_events: [{ peer_index: 1 - player, event: 'interrupted', frame: 100, time: Date.UTC(2025, 4, 1, 10, 0, 2) }],
  stats: { rtt_ms: { p50: 21.5, p95: 48.25, samples: 40 }, rollbacks: 12, max_rollback_depth: 3,
    rollback_depth_histogram: { 1: 9, 3: 3 }, mispredicted_frames: 20, stalled_frames: 1, frames_simulated: 620,
    bytes_sent: 48000, bytes_received: 47000, messages_sent: 1300, messages_received: 1290, decode_errors: 0,
    path: { kind: 'direct', protocol: 'udp', local_candidate_type: 'host', remote_candidate_type: 'host' } },
  timing: { started_at: Date.UTC(2025, 4, 1, 10, 0, 0), ended_at: Date.UTC(2025, 4, 1, 10, 0, 10), fps_target: 60, fps_achieved: 59.9 },
};
const ids = { game_id: 'js-1', scene_id: 'arena', subject_id: subjects[player], player_index: player,
  peers: [{ player_index: 1 - player, subject_id: subjects[1 - player] }] };
const doc = buildExport({ record, ids, settings: { p2p: { fps: 60 }, validation: { hashInterval: 1 }, impairment: null } });
const phases = [];
const result = await uploadExport({ url: exportUploadUrl(base, 'js-1', player), token, doc,
  onStatus: (s) => phases.push(s.phase), baseDelayMs: 10, maxAttempts: 3 });
console.log(JSON.stringify({ result, phases, body: JSON.stringify(doc) }));
"""


def run_node(base: str, player: int, token: str, tmp_path: Path) -> dict:
    node = shutil.which("node")
    assert node, "node 20 is required for this test (the browser client's export runs in it)"
    script = tmp_path / "upload.mjs"
    script.write_text(SCRIPT % {"module": json.dumps((ROOT / "static/js/validation.js").as_uri())})
    out = subprocess.run([node, str(script), base, str(player), token], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_js_export_is_accepted_stored_and_compared(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data")
    tokens = UploadTokens(UPLOAD_SECRET)
    try:
        first = run_node(server.url, 0, tokens.issue("js-1", 0, "ann"), tmp_path)
        assert first["result"]["ok"] and first["result"]["outcome"] == "stored", first
        assert first["phases"] == ["uploading", "stored"]
        stored = tmp_path / "data/games/js-1/player-0.json"
        assert stored.read_text() == first["body"]
        doc = parse_export(stored.read_bytes())
        assert doc["connection_events"][0]["time"] == "2025-05-01T10:00:02.000Z"

        again = run_node(server.url, 0, tokens.issue("js-1", 0, "ann"), tmp_path)
        assert again["result"]["outcome"] == "duplicate" and again["result"]["response"]["revision"] == 1

        wrong = run_node(server.url, 1, tokens.issue("js-1", 0, "ann"), tmp_path)
        assert wrong["result"]["outcome"] == "rejected" and wrong["result"]["httpStatus"] == 403
        assert wrong["phases"] == ["uploading", "rejected"], "a 4xx is never retried"

        second = run_node(server.url, 1, tokens.issue("js-1", 1, "ben"), tmp_path)
        assert second["result"]["response"]["comparison"] == "agree"
    finally:
        server.stop()
