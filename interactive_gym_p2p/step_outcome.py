"""What one environment step reports to the P2P engine besides the new state: whether the
episode is over, and per player the reward, the terminated and truncated flags and the values
of the scene's ``record_info`` keys.

Stdlib only: the same file runs in CPython (the Python peer's adapter, the offline replay) and
in Pyodide (the browser's adapter loads it like ``hashing.py``), so every engine reads an
Interactive Gym ``env.step()`` result the same way:

- ``rewards``: a mapping agent -> reward (a missing agent gets 0), a sequence in player order,
  or one number shared by every player. Numbers are kept as exact doubles (integral ones as
  ints); a value that is not a finite number becomes ``None``.
- ``terminateds`` / ``truncateds``: a mapping agent -> flag (``__all__`` answers for agents it
  does not list) or one flag for everyone. The episode is over when ``__all__`` says so, else
  when every agent's flag is set (:func:`episode_over`).
- ``infos``: a mapping agent -> dict (per-agent infos), or one dict shared by every player.
  For each ``record_info`` key, each player's value as JSON (``None`` when absent; numpy
  scalars and arrays through ``item()``/``tolist()``; anything else that is not JSON as
  ``str(value)``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

_SAFE_INT = 2**53


def episode_over(flags: Any, agent_ids: Sequence[Any]) -> bool:
    """``__all__`` if present, else every agent's flag (a plain bool also works)."""
    if isinstance(flags, Mapping):
        if "__all__" in flags:
            return bool(flags["__all__"])
        return len(agent_ids) > 0 and all(bool(flags.get(a, False)) for a in agent_ids)
    return bool(flags)


def _number(v: Any) -> int | float | None:
    if v is None:
        return 0
    if hasattr(v, "item") and callable(v.item):  # numpy scalar
        v = v.item()
    try:
        r = float(v)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(r):
        return None
    if r.is_integer() and abs(r) < _SAFE_INT:
        return int(r)
    return r


def player_rewards(rewards: Any, agent_ids: Sequence[Any]) -> list[int | float | None]:
    """One reward per player, in player order."""
    if isinstance(rewards, Mapping):
        return [_number(rewards.get(a, 0)) for a in agent_ids]
    if hasattr(rewards, "tolist") and callable(rewards.tolist):
        rewards = rewards.tolist()
    if isinstance(rewards, (list, tuple)):
        return [_number(rewards[i]) if i < len(rewards) else 0 for i in range(len(agent_ids))]
    return [_number(rewards)] * len(agent_ids)


def player_flags(flags: Any, agent_ids: Sequence[Any]) -> list[bool]:
    """One flag per player, in player order."""
    if isinstance(flags, Mapping):
        every = bool(flags.get("__all__", False))
        return [bool(flags[a]) if a in flags else every for a in agent_ids]
    return [bool(flags)] * len(agent_ids)


def json_value(v: Any) -> Any:
    """A JSON form of an info value (see the module docstring)."""
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, int):
        return v if abs(v) < _SAFE_INT else str(v)
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, Mapping):
        return {str(k): json_value(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [json_value(x) for x in v]
    if hasattr(v, "tolist") and callable(v.tolist):  # numpy array or scalar
        return json_value(v.tolist())
    return str(v)


def info_values(infos: Any, agent_ids: Sequence[Any], keys: Sequence[str]) -> dict[str, list[Any]]:
    """``{key: [value per player]}`` for the ``record_info`` keys."""
    per_agent = isinstance(infos, Mapping) and any(a in infos and isinstance(infos[a], Mapping) for a in agent_ids)
    out: dict[str, list[Any]] = {}
    for key in keys:
        values = []
        for a in agent_ids:
            src = infos.get(a) if per_agent else infos
            values.append(json_value(src.get(key)) if isinstance(src, Mapping) else None)
        out[key] = values
    return out


def step_outcome(rewards: Any, terminateds: Any, truncateds: Any, infos: Any,
                 agent_ids: Sequence[Any], record_info: Sequence[str] = ()) -> dict[str, Any]:
    """``{"done", "ended_by", "rewards", "terminated", "truncated", "info"}`` of one step
    (``ended_by``: ``"terminated"``/``"truncated"`` when done, else ``None``; ``info``: ``{}``
    without record_info keys)."""
    terminated = episode_over(terminateds, agent_ids)
    truncated = not terminated and episode_over(truncateds, agent_ids)
    done = terminated or truncated
    return {
        "done": done,
        "ended_by": ("terminated" if terminated else "truncated") if done else None,
        "rewards": player_rewards(rewards, agent_ids),
        "terminated": player_flags(terminateds, agent_ids),
        "truncated": player_flags(truncateds, agent_ids),
        "info": info_values(infos, agent_ids, record_info) if record_info else {},
    }


def encode_outcome(outcome: Mapping[str, Any]) -> bool | str:
    """For the browser's per-frame path: ``False`` when the step reported nothing worth
    recording (not done, every reward 0, no flag, no info), else the outcome as JSON text."""
    if (not outcome["done"] and not outcome["info"] and not any(outcome["terminated"])
            and not any(outcome["truncated"]) and all(r == 0 for r in outcome["rewards"])):
        return False
    return json.dumps(outcome, separators=(",", ":"), allow_nan=False)
