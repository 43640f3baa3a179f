"""Step data for exports that have none (written before rewards were recorded, or by an
environment adapter that reports none): replay the confirmed actions through the environment
in CPython (``validation/replay.py``, the ``verify`` path, hashes checked on the way) and read
each step with ``step_outcome.py``, the same code the browser and the Python peer record with.
The tables mark these rows ``reward_source = derived``."""

from __future__ import annotations

import logging
from typing import Any, Callable, Mapping, Sequence

from ..peer.record import EpisodeLog, StepResult
from ..step_outcome import step_outcome
from ..validation.replay import replay_export

logger = logging.getLogger(__name__)


class DerivationFailed(RuntimeError):
    """The replay did not reproduce the export (a hash or episode end differs)."""


def derive_step_data(doc: Mapping[str, Any], make_env: Callable[[], Any],
                     agent_ids: Sequence[Any] | None = None,
                     on_game_step_code: str | None = None) -> dict[int, dict[str, Any]]:
    """episode -> ``{rewards, terminated, truncated, infos, end_reason}`` as the engines record it
    (sparse rows), from a replay of ``doc``'s confirmed actions. Raises :class:`DerivationFailed`
    when the replay does not reproduce the export's hashes."""
    n = 1 + len(doc["ids"]["peers"]) + len(doc["ids"].get("ai_seats") or ())
    record_info = tuple(((doc.get("settings") or {}).get("validation") or {}).get("record_info") or ())
    logs: dict[int, EpisodeLog] = {}
    ended: dict[int, str] = {}
    starts = {e["episode"]: e for e in doc["episodes"]}

    def on_step(episode: int, frame: int, step: Any, agents: Sequence[Any]) -> None:
        if episode not in logs:
            e = starts[episode]
            logs[episode] = EpisodeLog(episode, e["seed"], e["start_frame"], n, reports_rewards=True)
        if not (isinstance(step, tuple) and len(step) == 5):
            raise DerivationFailed(f"episode {episode} frame {frame}: env.step() did not return 5 values")
        _, rewards, terminateds, truncateds, infos = step
        o = step_outcome(rewards, terminateds, truncateds, infos, agents, record_info)
        logs[episode].append(frame, [0] * n, None, StepResult(
            done=o["done"], ended_by=o["ended_by"], rewards=o["rewards"], terminated=o["terminated"],
            truncated=o["truncated"], info=o["info"] or None))
        if o["done"] and o["ended_by"]:
            ended[episode] = o["ended_by"]

    result = replay_export(doc, make_env, agent_ids=agent_ids, on_step=on_step, on_game_step_code=on_game_step_code)
    if result.mismatch is not None:
        m = result.mismatch
        raise DerivationFailed(f"frame {m.frame} does not reproduce (hash {m.actual}, the export says {m.expected})")
    # An export without hashes can still be replayed; any other problem means the replay and the
    # export disagree about the game, so its rewards would not be the game's.
    problems = [p for p in result.problems if "no hashed frame" not in p]
    if problems:
        raise DerivationFailed("; ".join(problems))
    out: dict[int, dict[str, Any]] = {}
    for number, log in logs.items():
        e = starts[number]
        if e["end_frame"] is not None:
            log.end_reason = ended.get(number) or e.get("end_reason") or "max_steps"
        out[number] = log.step_record()
    return out
