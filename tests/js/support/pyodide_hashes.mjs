// Plays the demo game (interactive_gym_p2p/examples/gem_rush.py) in Pyodide through the
// browser's adapter (static/js/env_pyodide.js) on a scripted run and prints its hash sequence
// as JSON; tests/test_peer_env_pyodide.py plays the same script in CPython through
// interactive_gym_p2p/peer/env.py and compares. argv[2] = JSON {sharedSeed, inputSeed,
// episodes, maxSteps, probeEvery, probeDepth}. The script: actions from a seeded Prng (both
// languages have it), every episode reset with episodeSeed, and every `probeEvery` frames a
// rollback probe (save, simulate `probeDepth` frames with other actions, load) that must leave
// no trace in the hashes.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadPyodide } from 'pyodide';
import { createPyodideEnv } from '../../../static/js/env_pyodide.js';
import { episodeSeed } from '../../../static/js/session.js';
import { Prng } from '../../../static/js/prng.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const cfg = JSON.parse(process.argv[2]);
const gem = readFileSync(`${ROOT}interactive_gym_p2p/examples/gem_rush.py`, 'utf8');
const pyodide = await loadPyodide();
const env = createPyodideEnv(pyodide, {
  environmentCode: `${gem}\n\nenv = GemRushEnv(max_steps=${cfg.maxSteps})\n`,
  hashingSource: readFileSync(`${ROOT}interactive_gym_p2p/hashing.py`, 'utf8'),
  numPlayers: 2,
});
const prng = new Prng(cfg.inputSeed);
const hashes = [];
const ends = [];
let frame = 0;
for (let e = 0; e < cfg.episodes; e++) {
  env.reset(episodeSeed(cfg.sharedSeed, e));
  for (;;) {
    if (cfg.probeEvery && frame % cfg.probeEvery === 0) {
      const snap = env.save();
      for (let k = 0; k < cfg.probeDepth; k++) env.step([prng.int(9), prng.int(9)]);
      env.load(snap);
    }
    const done = env.step([prng.int(9), prng.int(9)]).done;
    hashes.push(env.stateHash());
    frame += 1;
    if (done) break;
  }
  ends.push(frame - 1);
}
env.destroy();
process.stdout.write(JSON.stringify({ hashes, ends, python: pyodide.runPython('import sys; sys.version.split()[0]') }) + '\n');
