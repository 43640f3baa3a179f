"""Offline verification: replay an export's confirmed actions in CPython and check every hash.

The browser hashed the state after each confirmed frame; if the same environment, reset
with the same episode seed and stepped with the same actions, reproduces every hash in
CPython, the export is a determinism proof across browser and Python. The first frame that
does not reproduce is reported with the replayed state.

The environment is driven exactly as the browser's Pyodide adapter drives it:
``env.reset(seed=episode_seed)`` at each episode's start, ``env.step({agent: action})``
with agents in player order (``env.possible_agents`` unless given), the episode is over when
``terminateds``/``truncateds`` say so for ``"__all__"`` (or every agent), and the row's hash
is ``hashing.state_hash(env.get_state())`` after that frame's step.
"""

from __future__ import annotations

import importlib
import logging
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from ..hashing import state_hash
from ..step_outcome import episode_over
from ..peer.session import episode_seed  # the pinned rule; also part of this module's API

logger = logging.getLogger(__name__)


def load_factory(spec: str) -> Callable[[], Any]:
    """``"package.module:factory"`` -> the callable (a class or a function returning the env)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"expected module:factory, got {spec!r}")
    target: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise TypeError(f"{spec} is not callable")
    return target


@dataclass(frozen=True)
class HashMismatch:
    """The first frame whose replayed state does not hash like the export says."""

    frame: int
    episode: int
    expected: str
    actual: str
    actions: list[int]
    state: Any
    """The replayed state (``env.get_state()``) after the frame."""


@dataclass
class ReplayResult:
    """What an offline replay found."""

    frames_replayed: int = 0
    hashes_checked: int = 0
    episodes_replayed: int = 0
    mismatch: HashMismatch | None = None
    problems: list[str] = field(default_factory=list)
    """Reasons the replay could not go on or the export contradicts itself (seed, gaps, ends)."""
    notes: list[str] = field(default_factory=list)
    """Things worth knowing that do not fail the verification."""

    @property
    def ok(self) -> bool:
        return self.mismatch is None and not self.problems and self.hashes_checked > 0


def replay_export(
    doc: Mapping[str, Any],
    make_env: Callable[[], Any],
    *,
    shared_seed: int | None = None,
    agent_ids: Sequence[Any] | None = None,
    on_game_step_code: str | None = None,
    on_step: Callable[[int, int, Any, Sequence[Any]], None] | None = None,
) -> ReplayResult:
    """Replay every episode of a (valid) export through a fresh env from ``make_env()``.

    ``on_game_step_code`` (the scene's): run before every step with the env's module globals
    and ``env``, as the browser runs it inside each simulated step. ``on_step(episode, frame,
    step, agents)`` sees every ``env.step()`` result (the research tables derive rewards from
    it: ``interactive_gym_p2p.data.derive``)."""
    result = ReplayResult()
    env = make_env()
    step_code = None
    namespace: dict[str, Any] = {}
    if on_game_step_code and on_game_step_code.strip():
        step_code = compile(on_game_step_code, "<on_game_step_code>", "exec")
        module = sys.modules.get(type(env).__module__)
        namespace = {**(vars(module) if module is not None else {}), "env": env}
    agents = list(agent_ids) if agent_ids is not None else list(getattr(env, "possible_agents", None) or [])
    # AI seats' actions are in the rows like anyone's: the replay needs no policy.
    num_players = 1 + len(doc["ids"]["peers"]) + len(doc["ids"].get("ai_seats", ()))
    if not agents:
        agents = list(range(num_players))
    if len(agents) != num_players:
        result.problems.append(f"the environment has {len(agents)} agents, the export {num_players} players")
        return result
    for episode in doc["episodes"]:
        number = episode["episode"]
        seed = episode["seed"]
        if shared_seed is not None and seed != episode_seed(shared_seed, number):
            result.problems.append(
                f"episode {number}: seed {seed} is not episode_seed({shared_seed}, {number}) = {episode_seed(shared_seed, number)}"
            )
            return result
        rows = episode["frames"]
        if not rows:
            continue
        if rows[0][0] != episode["start_frame"]:
            result.problems.append(
                f"episode {number}: the first confirmed frame is {rows[0][0]}, not the start frame {episode['start_frame']}"
            )
            return result
        env.reset(seed=int(seed))
        result.episodes_replayed += 1
        done_at: int | None = None
        expected_frame = episode["start_frame"]
        for frame, actions, expected in rows:
            if frame != expected_frame:
                result.problems.append(f"episode {number}: frame {expected_frame} is missing (next row is {frame})")
                return result
            if done_at is not None:
                result.problems.append(f"episode {number}: the environment ended the episode at frame {done_at}, the export goes on to {frame}")
                return result
            if step_code is not None:
                exec(step_code, namespace)
            step = env.step({agent: int(actions[i]) for i, agent in enumerate(agents)})
            result.frames_replayed += 1
            if on_step is not None:
                on_step(number, frame, step, agents)
            if isinstance(step, tuple) and len(step) == 5:
                if episode_over(step[2], agents) or episode_over(step[3], agents):
                    done_at = frame
            if expected is not None:
                state = env.get_state()
                actual = state_hash(state)
                result.hashes_checked += 1
                if actual != expected:
                    result.mismatch = HashMismatch(frame, number, expected, actual, list(actions), state)
                    return result
            expected_frame += 1
        end = episode["end_frame"]
        if end is not None and done_at != end:
            result.notes.append(
                f"episode {number}: the export ends it at frame {end}, the environment "
                + ("did not end it" if done_at is None else f"ended it at frame {done_at}")
            )
    if result.hashes_checked == 0:
        result.problems.append("the export has no hashed frame to check")
    return result
