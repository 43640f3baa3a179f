// Play one simulated two-player game and write each player's validation export as JSON.
// Used by tests/test_validation_sim.py, which feeds the files to the Python store and
// comparison: the browser-side builder and the server-side checks meet on real documents.
//
//   node tests/js/support/sim_exports.mjs OUT_DIR [NOISE_AT]
// NOISE_AT: a frame at which each peer's environment injects a different hidden value.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createGame } from './sim.mjs';
import { createCounterEnv } from './envs.mjs';
import { buildExport } from '../../../static/js/validation.js';

const [outDir, noiseArg] = process.argv.slice(2);
if (!outDir) throw new Error('usage: sim_exports.mjs OUT_DIR [NOISE_AT]');
const noiseAt = noiseArg === undefined ? null : Number(noiseArg);

const g = createGame({
  numPlayers: 2,
  seed: 77,
  makeEnv: (p) => createCounterEnv({ numPlayers: 2, minSteps: 150, maxSteps: 200, noiseAt, noiseSalt: p + 1 }),
  settings: { maxEpisodes: 2 },
  link: { delayMs: 40, jitterMs: 10, loss: 0.05 },
});
g.runToEnd(600000);

mkdirSync(outDir, { recursive: true });
for (const s of g.sessions) {
  s.setPath({ kind: 'simulated', protocol: null, localCandidateType: null, remoteCandidateType: null });
  const doc = buildExport({
    record: s.record(),
    ids: {
      game_id: 'simgame',
      scene_id: 'sim',
      subject_id: `s${s.localPlayer}`,
      player_index: s.localPlayer,
      peers: s.peers.map((p) => ({ player_index: p, subject_id: `s${p}` })),
    },
    settings: { p2p: { ...s.settings }, validation: { hash_interval: 1 }, impairment: null },
  });
  writeFileSync(join(outDir, `export_p${s.localPlayer}.json`), JSON.stringify(doc));
}
