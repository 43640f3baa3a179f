"""Where a headless peer's actions come from: a fixed script, a seeded random player, or a
policy reading the environment. The runner asks once per tick (the session applies the
action ``input_delay`` frames later), exactly as the browser samples the keyboard.

Every source is deterministic given its arguments (no wall clock, no global random state):
a load test or an experiment check can be replayed.
"""

from __future__ import annotations

import importlib

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

from .prng import Prng

logger = logging.getLogger(__name__)

I32_MIN = -(2**31)
I32_MAX = 2**31 - 1


class ActionError(ValueError):
    """An action source was configured with, or produced, something that is not an action."""


@dataclass(frozen=True)
class ActionContext:
    """What a source may look at when it picks the action of one tick."""

    tick: int
    """Ticks asked so far in this game (0 for the first)."""
    frame: int
    """The session's current frame (next frame to simulate)."""
    episode: int
    """The session's current episode (0-based)."""
    player_index: int
    """This peer's player index."""
    observe: Callable[[], Any] = field(default=lambda: None, repr=False)
    """Returns the environment's current (JSON-able) state; computed only when called."""


class ActionSource(Protocol):
    """Anything with ``next_action(ctx) -> int`` (a signed 32-bit integer)."""

    def next_action(self, ctx: ActionContext) -> int: ...


def check_action(value: Any, where: str = "action") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not I32_MIN <= value <= I32_MAX:
        raise ActionError(f"{where}: {value!r} is not a signed 32-bit integer action")
    return value


@dataclass
class ScriptedActions:
    """``sequence[i]`` at tick ``i``; after the end ``default`` (or the sequence again when ``cycle``)."""

    sequence: Sequence[int]
    default: int = 0
    cycle: bool = False

    def __post_init__(self) -> None:
        self.sequence = tuple(check_action(a, f"ScriptedActions.sequence[{i}]") for i, a in enumerate(self.sequence))
        check_action(self.default, "ScriptedActions.default")
        if self.cycle and not self.sequence:
            raise ActionError("ScriptedActions: cycle needs a non-empty sequence")

    def next_action(self, ctx: ActionContext) -> int:
        if ctx.tick < len(self.sequence):
            return self.sequence[ctx.tick]
        if self.cycle:
            return self.sequence[ctx.tick % len(self.sequence)]
        return self.default


@dataclass
class RandomActions:
    """Uniform over ``0..n_actions-1`` (or over ``choices`` when given) from a seeded PRNG,
    each pick held for ``hold`` ticks (a person holds a key for a while; ``hold=1`` changes
    every tick)."""

    seed: int
    n_actions: int = 0
    hold: int = 1
    choices: Sequence[int] | None = None

    def __post_init__(self) -> None:
        if self.choices is not None:
            self.choices = tuple(check_action(a, f"RandomActions.choices[{i}]") for i, a in enumerate(self.choices))
            if self.n_actions == 0:
                self.n_actions = len(self.choices)
            if self.n_actions != len(self.choices):
                raise ActionError("RandomActions: n_actions must equal len(choices)")
        if isinstance(self.n_actions, bool) or not isinstance(self.n_actions, int) or not 1 <= self.n_actions <= I32_MAX:
            raise ActionError(f"RandomActions.n_actions must be an integer >= 1, got {self.n_actions!r}")
        if isinstance(self.hold, bool) or not isinstance(self.hold, int) or self.hold < 1:
            raise ActionError(f"RandomActions.hold must be an integer >= 1, got {self.hold!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ActionError(f"RandomActions.seed must be an integer, got {self.seed!r}")
        self._prng = Prng(self.seed)
        self._current = 0
        self._left = 0

    def next_action(self, ctx: ActionContext) -> int:
        if self._left == 0:
            pick = self._prng.int(self.n_actions)
            self._current = self.choices[pick] if self.choices is not None else pick
            self._left = self.hold
        self._left -= 1
        return self._current


@dataclass
class PolicyActions:
    """``policy(observation) -> action`` where the observation is the environment's current
    state (``ctx.observe()``, the canonical JSON state) unless ``observe`` maps the context
    to something else."""

    policy: Callable[[Any], int]
    observe: Callable[[ActionContext], Any] | None = None

    def next_action(self, ctx: ActionContext) -> int:
        observation = self.observe(ctx) if self.observe is not None else ctx.observe()
        return check_action(self.policy(observation), "PolicyActions.policy(...)")


def scene_actions(scene: dict[str, Any]) -> list[int]:
    """The actions a participant can produce in a P2P scene: the mapped keys' actions and the default."""
    gameplay = (scene.get("p2p") or {}).get("gameplay") or {}
    values = {int(v) for v in (gameplay.get("action_mapping") or {}).values() if isinstance(v, int) and not isinstance(v, bool)}
    values.add(int(gameplay.get("default_action") or 0))
    return sorted(values)


def load_policy(spec: str) -> Callable[[Any], int]:
    """``package.module:function`` -> the function (imported now; errors name the spec)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ActionError(f"a policy is 'package.module:function', got {spec!r}")
    try:
        module = importlib.import_module(module_name)
        policy = getattr(module, attr)
    except (ImportError, AttributeError) as exc:
        raise ActionError(f"policy {spec!r} cannot be loaded: {exc}") from exc
    if not callable(policy):
        raise ActionError(f"policy {spec!r} is not callable")
    return policy  # type: ignore[no-any-return]


def parse_action_source(spec: str, *, seed: int, choices: Sequence[int], hold: int = 5) -> ActionSource:
    """The CLI's ``--actions`` value: ``random`` (over ``choices``) | ``noop`` | ``script:1,2,3``
    (comma list, repeated) | ``policy:package.module:function`` (``PolicyActions`` of that
    function, called with the environment's state)."""
    if spec.startswith("policy:"):
        return PolicyActions(load_policy(spec[len("policy:"):]))
    if spec == "random":
        return RandomActions(seed=seed & 0xFFFFFFFF, choices=list(choices), hold=hold)
    if spec == "noop":
        return ScriptedActions(())
    if spec.startswith("script:"):
        try:
            values = [int(x) for x in spec[len("script:"):].split(",") if x.strip()]
        except ValueError as exc:
            raise ActionError(f"--actions {spec!r}: a script is a comma-separated list of integers") from exc
        return ScriptedActions(values, cycle=bool(values))
    raise ActionError(f"--actions must be random, noop, script:<a,b,...> or policy:<module:function>, got {spec!r}")
