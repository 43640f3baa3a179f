"""Environment adapter over an Interactive Gym environment in CPython: the Python twin of
``static/js/env_pyodide.js``. The scene's ``environment_initialization_code`` (which defines
``env``) runs as a fresh module, exactly as the browser runs it in Pyodide, and the adapter
drives it the same way: actions by agent id in player order, episode over when
``terminateds``/``truncateds`` say ``__all__`` (or every agent), snapshots from
``get_state()``, hashes with :func:`interactive_gym_p2p.hashing.state_hash`. Same code, same
actions, same seeds -> the same hash sequence as the browser.
"""

from __future__ import annotations

import copy
import itertools
import json
import logging
import sys
import types
from typing import Any, Mapping, Sequence

from ..ai_policy import AISeats
from ..hashing import canonicalize, state_hash
from ..step_outcome import episode_over, step_outcome
from .record import StepResult

logger = logging.getLogger(__name__)

_module_ids = itertools.count(1)

__all__ = ["InteractiveGymEnvAdapter", "episode_over", "load_environment_module"]


def load_environment_module(code: str, name: str, interactive_gym_globals: Mapping[str, Any] | None = None) -> types.ModuleType:
    """Run ``code`` as a real module (registered in ``sys.modules`` while it lives, so
    dataclasses and string annotations behave as in a normal import)."""
    mod = types.ModuleType(name)
    mod.__file__ = "<environment_initialization_code>"
    # Interactive Gym hands the env code a dict named interactive_gym_globals (JSON-able).
    mod.__dict__["interactive_gym_globals"] = json.loads(json.dumps(dict(interactive_gym_globals or {})))
    sys.modules[name] = mod
    try:
        exec(compile(code, "<environment_initialization_code>", "exec"), mod.__dict__)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return mod


class InteractiveGymEnvAdapter:
    """Contract B's environment adapter: ``num_players``, ``reset(seed)``, ``step(actions) ->
    StepResult``, ``save()``, ``load(snapshot)``, ``state_hash()``, ``canonical_state()``,
    ``render()``. Each step reports every player's reward and flags, and the values of the
    ``record_info`` keys (``interactive_gym_p2p.step_outcome``, the same code the browser's
    Pyodide adapter runs)."""

    reports_rewards = True

    def __init__(self, env: Any, num_players: int, agent_ids: Sequence[Any] | None = None,
                 default_action: int = 0, module_name: str | None = None,
                 record_info: Sequence[str] = (), on_game_step_code: str | None = None,
                 namespace: dict[str, Any] | None = None, ai: Mapping[str, Any] | None = None) -> None:
        for name in ("reset", "step", "get_state", "set_state"):
            if not callable(getattr(env, name, None)):
                raise TypeError(f"env has no {name}() method; P2P rollback needs reset, step, get_state and set_state")
        if agent_ids is None:
            agent_ids = list(getattr(env, "possible_agents", None) or [])
        self.agent_ids = list(agent_ids)
        if len(self.agent_ids) != num_players:
            raise ValueError(
                f"num_players is {num_players} but the env has {len(self.agent_ids)} agent ids; "
                "pass agent_ids or give the env a possible_agents list")
        if isinstance(default_action, bool) or not isinstance(default_action, int):
            raise TypeError("default_action must be an integer")
        self.env = env
        self.num_players = num_players
        self.default_action = default_action
        self.module_name = module_name
        self.record_info = tuple(record_info)
        # As the browser: on_game_step_code runs right before every env.step, in the namespace
        # where env lives (the env module's), inside the simulated step.
        self.step_code = None
        if on_game_step_code and on_game_step_code.strip():
            self.step_code = compile(on_game_step_code, "<on_game_step_code>", "exec")
        self.namespace = namespace if namespace is not None else {"env": env}
        self._state: Any = None  # get_state() of the current frame while it is current
        # AI seats ({seats: [[player, agent, policy]], policies: {name: source}}), as the browser's glue.
        self.ai: AISeats | None = None
        if ai and ai.get("seats"):
            self.ai = AISeats(env, ai["seats"], ai.get("policies") or {}, module_prefix=f"{module_name or 'p2p_env'}_ai")

    @property
    def ai_seats(self) -> list[int]:
        """Player indices of the AI seats."""
        return [] if self.ai is None else [s[0] for s in self.ai.seats]

    @classmethod
    def from_code(cls, code: str, num_players: int, agent_ids: Sequence[Any] | None = None,
                  default_action: int = 0,
                  interactive_gym_globals: Mapping[str, Any] | None = None,
                  record_info: Sequence[str] = (),
                  on_game_step_code: str | None = None,
                  ai: Mapping[str, Any] | None = None) -> "InteractiveGymEnvAdapter":
        """Exec an Interactive Gym ``environment_initialization_code`` (defines ``env``)."""
        if not isinstance(code, str) or not code:
            raise TypeError("from_code: code (a Python source string defining env) is required")
        name = f"p2p_scene_env_{next(_module_ids)}"
        mod = load_environment_module(code, name, interactive_gym_globals)
        if "env" not in mod.__dict__:
            sys.modules.pop(name, None)
            raise RuntimeError("the environment initialization code must define a variable named 'env'")
        try:
            return cls(mod.__dict__["env"], num_players, agent_ids, default_action, module_name=name,
                       record_info=record_info, on_game_step_code=on_game_step_code, namespace=mod.__dict__, ai=ai)
        except BaseException:
            sys.modules.pop(name, None)
            raise

    def reset(self, seed: int) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= 0xFFFFFFFF:
            raise ValueError(f"reset: seed must be a u32, got {seed!r}")
        self._state = None
        out = self.env.reset(seed=seed)
        self._obs = out[0] if isinstance(out, tuple) and len(out) == 2 else out
        if self.ai is not None:
            self.ai.reset(seed, out)

    def observation(self, player: int) -> list[float] | None:
        """A hosted seat's observation (env_pyodide.js ``observation``): that agent's entry of what
        the last reset/step returned (else the whole observation), flattened to floats."""
        obs = getattr(self, "_obs", None)
        agent = self.agent_ids[player]
        if isinstance(obs, dict):
            obs = obs[agent] if agent in obs else obs.get(str(agent), obs)
        return None if obs is None else _flat(obs, [])

    def step(self, actions: Sequence[int]) -> StepResult:
        self._state = None
        acts: dict[Any, int] = {}
        for i, agent in enumerate(self.agent_ids):
            a = actions[i] if i < len(actions) else self.default_action
            acts[agent] = int(a) if isinstance(a, int) and not isinstance(a, bool) else self.default_action
        ai_used = self.ai.apply(acts) if self.ai is not None else None
        if self.step_code is not None:
            exec(self.step_code, self.namespace)
        obs, rewards, terminateds, truncateds, infos = self.env.step(acts)
        self._obs = obs
        o = step_outcome(rewards, terminateds, truncateds, infos, self.agent_ids, self.record_info)
        if self.ai is not None and not o["done"]:
            self.ai.advance(obs)
        return StepResult(done=o["done"], ended_by=o["ended_by"], rewards=o["rewards"], terminated=o["terminated"],
                          truncated=o["truncated"], info=o["info"] or None, ai_actions=ai_used)

    def _current_state(self) -> Any:
        if self._state is None:
            self._state = self.env.get_state()
        return self._state

    def save(self) -> Any:
        # A deep copy: an env whose get_state() shares lists with its live state must not let
        # later frames rewrite a snapshot kept for rollback.
        self._state = self.env.get_state()
        if self.ai is not None:
            return (copy.deepcopy(self._state), copy.deepcopy(self.ai.get_state()))
        return copy.deepcopy(self._state)

    def load(self, snapshot: Any) -> None:
        self._state = None
        # set_state may keep the object it is given; the snapshot must stay intact for reuse.
        if self.ai is not None:
            self.env.set_state(copy.deepcopy(snapshot[0]))
            self.ai.set_state(copy.deepcopy(snapshot[1]))
            return
        self.env.set_state(copy.deepcopy(snapshot))

    def state_hash(self) -> str:
        return state_hash(self._current_state())

    def canonical_state(self) -> Any:
        """The normalized state as the JS adapter gives it (canonical JSON parsed back)."""
        return json.loads(canonicalize(self._current_state()))

    def render(self) -> Any:
        render = getattr(self.env, "render", None)
        return json.loads(json.dumps(render())) if callable(render) else None

    def close(self) -> None:
        if self.ai is not None:
            self.ai.close()
        if self.module_name is not None:
            sys.modules.pop(self.module_name, None)


def _flat(value: Any, out: list[float]) -> list[float]:
    # Row-major floats: numbers, bools, nested lists/tuples, numpy arrays, dicts by sorted key.
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, dict):
        for k in sorted(value, key=str):
            _flat(value[k], out)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _flat(v, out)
    else:
        out.append(float(value))
    return out


class FewerPlayers:
    """An adapter for a game with fewer players than the environment has agents (a waiting
    room's 'start_with_fewer'): player i still controls ``agent_ids[i]``, the agents past
    ``num_players`` get the default action (the adapter pads ``step``'s actions). Twin of
    client_game.js ``withPlayers``."""

    def __init__(self, env: Any, num_players: int) -> None:
        self._env = env
        self.num_players = num_players

    def __getattr__(self, name: str) -> Any:
        return getattr(self._env, name)


def with_players(env: Any, num_players: int) -> Any:
    """``env`` itself when it has ``num_players`` players, else a :class:`FewerPlayers` view."""
    have = getattr(env, "num_players", None)
    if have is None or have == num_players:
        return env
    if num_players > have:
        raise ValueError(f"a game of {num_players} players cannot run an environment of {have} agents")
    return FewerPlayers(env, num_players)
