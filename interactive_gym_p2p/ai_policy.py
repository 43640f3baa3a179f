"""AI seats: the Python policies every peer runs inside the simulated step.

Stdlib only: the same file runs in CPython (the Python peer's adapter) and in Pyodide (the
browser's adapter loads it like ``hashing.py``), so every engine computes an AI seat's action
the same way.

**Where the action comes from.** An AI seat's action for a frame is a pure function of the
state the frame starts from: right after ``env.reset`` and after every ``env.step``, each AI
seat's policy is asked for its next action from the observation the environment just returned
(``act(observation, context)``), with a ``random.Random`` seeded from the episode seed, the
step and the seat (:func:`seat_rng`). The next step applies those actions. Everything the
decision needs is kept in the rollback snapshot beside the environment's state
(:meth:`AISeats.get_state`: the step counter, the chosen actions, and the policy's own state
when it has ``get_state``/``set_state``), so a rollback restores it and re-simulation
recomputes it from the corrected state: on a confirmed frame the AI's action is the one its
policy chose from the confirmed state, on every peer, never from a prediction or a clock. The
step reports the actions it applied (``ai_actions``), and the session records them in that
seat's column of the frame's actions: exported, hashed through the state and compared like a
human's.

**The policy's source** (``P2PGymScene.ai_policy(name, code=...)``) runs as its own module and
defines ``act(observation, context) -> int``; ``context`` is a :class:`PolicyContext`
(``agent_id``, ``seat``, ``step`` in the episode, ``episode_seed``, ``rng``, and the ``env``
itself for scripted partners that read the state; a policy must not change the env). It may
define ``reset(context)`` (called at every episode start, before the first ``act``) and
``get_state()``/``set_state(state)`` for memory it keeps between steps.
"""

from __future__ import annotations

import random
import sys
import types
from collections.abc import Mapping, Sequence
from typing import Any, Callable

I32_MIN, I32_MAX = -(2**31), 2**31 - 1


class AIPolicyError(RuntimeError):
    """A policy that cannot run: no ``act``, or an action that is not a signed 32-bit integer."""


def seat_rng(episode_seed: int, step: int, seat: int) -> random.Random:
    """The policy's random numbers for one decision: seeded from the shared episode seed, the
    step in the episode and the seat (a string seed: SHA-512 based, the same in every CPython)."""
    return random.Random(f"p2p-ai:{int(episode_seed)}:{int(step)}:{int(seat)}")


class PolicyContext:
    """What a policy's ``act`` gets besides the observation."""

    __slots__ = ("agent_id", "seat", "step", "episode_seed", "rng", "env")

    def __init__(self, agent_id: Any, seat: int, step: int, episode_seed: int, rng: random.Random, env: Any) -> None:
        self.agent_id = agent_id
        self.seat = seat
        self.step = step
        self.episode_seed = episode_seed
        self.rng = rng
        self.env = env


def observation_for(obs: Any, agent_id: Any) -> Any:
    """An agent's observation from what reset/step returned (a dict by agent, or one shared)."""
    if isinstance(obs, Mapping):
        if agent_id in obs:
            return obs[agent_id]
        if str(agent_id) in obs:
            return obs[str(agent_id)]
    return obs


def reset_observations(out: Any) -> Any:
    """The observations of ``env.reset()``'s result: ``(obs, infos)`` (Gymnasium, PettingZoo) or obs."""
    if isinstance(out, tuple) and len(out) == 2:
        return out[0]
    return out


def load_policy_module(name: str, source: str) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__file__ = f"<ai_policy {name}>"
    sys.modules[mod.__name__] = mod
    try:
        exec(compile(source, mod.__file__, "exec"), mod.__dict__)
    except BaseException:
        sys.modules.pop(mod.__name__, None)
        raise
    if not callable(mod.__dict__.get("act")):
        sys.modules.pop(mod.__name__, None)
        raise AIPolicyError(f"AI policy {name!r}: its code must define act(observation, context) -> int")
    return mod


class AISeats:
    """The AI seats of one game's environment and the actions they take next.

    ``seats``: ``[(player_index, agent_id, policy_name), ...]``; ``policies``: name -> source.
    """

    def __init__(self, env: Any, seats: Sequence[Sequence[Any]], policies: Mapping[str, str], module_prefix: str = "p2p_ai") -> None:
        self.env = env
        self.seats = [(int(s[0]), s[1], str(s[2])) for s in seats]
        self.modules: dict[str, types.ModuleType] = {}
        for name in sorted({s[2] for s in self.seats}):
            if name not in policies:
                raise AIPolicyError(f"AI policy {name!r} has no code")
            self.modules[name] = load_policy_module(f"{module_prefix}_{name}", policies[name])
        self._act: list[Callable[..., Any]] = [self.modules[s[2]].__dict__["act"] for s in self.seats]
        self.episode_seed = 0
        self.step = 0
        self.next: list[int] = [0] * len(self.seats)

    def _decide(self, obs: Any) -> None:
        for i, (seat, agent, name) in enumerate(self.seats):
            ctx = PolicyContext(agent, seat, self.step, self.episode_seed, seat_rng(self.episode_seed, self.step, seat), self.env)
            action = self._act[i](observation_for(obs, agent), ctx)
            if hasattr(action, "item") and callable(action.item):  # a numpy integer
                action = action.item()
            if isinstance(action, bool) or not isinstance(action, int) or not I32_MIN <= action <= I32_MAX:
                raise AIPolicyError(f"AI policy {name!r} (seat {seat}) returned {action!r}: an action is a signed 32-bit integer")
            self.next[i] = action

    def reset(self, episode_seed: int, reset_result: Any) -> None:
        """After ``env.reset(seed=episode_seed)``: the actions of the episode's first step."""
        self.episode_seed = int(episode_seed)
        self.step = 0
        for name, mod in self.modules.items():
            hook = mod.__dict__.get("reset")
            if callable(hook):
                seat, agent = next((s[0], s[1]) for s in self.seats if s[2] == name)
                hook(PolicyContext(agent, seat, 0, self.episode_seed, seat_rng(self.episode_seed, -1, seat), self.env))
        self._decide(reset_observations(reset_result))

    def apply(self, actions: dict[Any, int]) -> list[list[int]]:
        """Put the AI seats' chosen actions into ``actions`` (agent -> action) for the step about
        to run; returns ``[[player_index, action], ...]`` (what the step reports)."""
        used = []
        for i, (seat, agent, _name) in enumerate(self.seats):
            actions[agent] = self.next[i]
            used.append([seat, self.next[i]])
        return used

    def advance(self, obs: Any) -> None:
        """After ``env.step``: the actions of the next step, from its observations."""
        self.step += 1
        self._decide(obs)

    def get_state(self) -> tuple[Any, ...]:
        """What a rollback snapshot keeps: step, chosen actions, each stateful policy's state."""
        extra = tuple(mod.__dict__["get_state"]() if callable(mod.__dict__.get("get_state")) else None
                      for mod in self.modules.values())
        return (self.episode_seed, self.step, tuple(self.next), extra)

    def set_state(self, state: Sequence[Any]) -> None:
        self.episode_seed, self.step = int(state[0]), int(state[1])
        self.next = [int(a) for a in state[2]]
        for mod, policy_state in zip(self.modules.values(), state[3]):
            if callable(mod.__dict__.get("set_state")):
                mod.__dict__["set_state"](policy_state)

    def close(self) -> None:
        for mod in self.modules.values():
            sys.modules.pop(mod.__name__, None)
