"""P2PGymScene: an Interactive Gym GymScene played peer to peer.

The researcher's only touch point. Configure it the Interactive Gym way (chained calls that
return the scene), add it to a Stager, and run the Stager with this package's server::

    game = (
        P2PGymScene()
        .scene(scene_id="p2p_game")
        .pyodide(environment_initialization_code=ENV_CODE)
        .gameplay(default_action=0, action_mapping={"ArrowUp": 1})
        .p2p(players=2, fps=30, input_delay="auto")
        .validation(hash_interval=1)
    )

Every value is checked when set (:class:`SceneConfigError` names the setting and its range);
:meth:`P2PGymScene.check` adds the checks that need the whole scene and runs when the server
starts. The P2P behaviour lives in the scene hooks: :meth:`activate` sends the browser the
game's settings, environment code and a signaling ticket; :meth:`deactivate` gives up the
participant's seat; :meth:`on_client_callback` takes the client's status reports.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import logging
import re
from dataclasses import dataclass
from typing import Any, Callable

from interactive_gym.configurations import configuration_constants
from interactive_gym.scenes.gym_scene import GymScene
from interactive_gym.scenes.scene import SceneStatus
from interactive_gym.scenes.utils import NotProvided

from . import porting
from .env_check import (
    EnvCheckError,
    EnvCodeReport,
    check_env_instance,
    check_env_type,
    inspect_env_code,
    inspect_step_code,
)
from .scene_assets import SceneAssets, check_asset_specs
from .matchmaking.settings import (
    MATCHMAKING_CHECKS,
    WAITING_ROOM_CHECKS,
    Condition,
    MatchmakingSettings,
    WaitingRoomSettings,
    check_conditions,
    check_waiting_room,
)
from .exclusion_settings import EXCLUSION_CHECKS, ExclusionSettings
from .scene_settings import (
    MAX_PLAYERS,
    P2P_CHECKS,
    VALIDATION_CHECKS,
    P2PSettings,
    SceneConfigError,
    U32_MAX,
    SignalingRules,
    ValidationSettings,
    check_action,
    check_agent_ids,
    check_int,
    check_number,
    p2p_settings_dict,
    validation_settings_dict,
)
from .validation.ids import identifier_problem

logger = logging.getLogger(__name__)

PROTOCOL_VERSION = 1
"""Binary DataChannel protocol version the scene's clients speak (pinned contract)."""

__all__ = ["P2PGymScene", "SceneConfigError", "SignalingBinding", "P2PSettings", "ValidationSettings"]


def is_onnx_policy(policy: Any) -> bool:
    """A policy_mapping value naming an ONNX file: a hosted seat (docs/ai.md)."""
    return isinstance(policy, str) and policy.lower().endswith(".onnx")


@dataclass(frozen=True)
class AIPolicySpec:
    """A policy AI seats play with (``P2PGymScene.ai_policy``; docs/ai.md)."""

    name: str
    """What ``policy_mapping`` calls it."""
    code: str
    """Python source defining ``act(observation, context) -> int`` (ai_policy.py), run inside the
    simulated step of every peer's environment."""
    kind: str = "python"


AI_POLICY_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def _check_policy_code(name: str, code: Any) -> str:
    setting = f"ai_policy({name!r}, code)"
    if not isinstance(code, str) or not code.strip():
        raise SceneConfigError(setting, "must be Python source defining act(observation, context)")
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        raise SceneConfigError(setting, f"is not valid Python: {exc.msg} (line {exc.lineno})") from None
    defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    assigned = {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    if "act" not in defined | assigned:
        raise SceneConfigError(setting, "must define act(observation, context) -> int at the top level")
    try:
        report = inspect_step_code(code, setting)
    except EnvCheckError as exc:
        raise SceneConfigError(setting, str(exc).split(": ", 1)[1]) from None
    del report
    return code


@dataclass
class SignalingBinding:
    """Ties one participant's copy of the scene to the signaling server (set by the server)."""

    subject_id: str
    ticket: str
    """Signed proof that this subject may take a seat in this scene visit (auth of ``/p2p``)."""
    namespace: str
    """Socket.IO namespace of the signaling server."""
    release: Callable[[], None]
    """Called when the participant leaves the scene: gives up the waiting place or the seat."""


_COLOUR = re.compile(r"#[0-9a-fA-F]{3,8}|(rgb|rgba|hsl|hsla)\(.*\)|[A-Za-z]+")


def _looks_like_colour(value: Any) -> bool:
    """A CSS colour as far as the server can tell (#hex, rgb()/hsl(), or a colour name)."""
    return isinstance(value, str) and _COLOUR.fullmatch(value.strip()) is not None


def _given(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k not in ("self", "__class__") and v is not NotProvided}


class P2PGymScene(GymScene):
    """A Pyodide GymScene whose participants play each other over WebRTC with rollback."""

    def __init__(self) -> None:
        super().__init__()
        # Every browser runs the environment; Interactive Gym's own Pyodide package is not
        # needed there (the P2P client loads only what the environment imports).
        self.run_through_pyodide = True
        self.packages_to_install = []
        self.p2p_settings = P2PSettings()
        self.validation_settings = ValidationSettings()
        self.matchmaking_settings = MatchmakingSettings()
        self.waiting_room_settings = WaitingRoomSettings()
        self.condition_list: tuple[Condition, ...] = ()
        self.exclusion_settings = ExclusionSettings()
        self.fps = self.p2p_settings.fps
        self.env_code_report: EnvCodeReport | None = None
        self.ai_policies: dict[str, AIPolicySpec] = {}
        self._binding: SignalingBinding | None = None
        self._assets: SceneAssets | None = None

    # ------------------------------------------------------------------ configuration

    def p2p(
        self,
        players: int = NotProvided,
        fps: int = NotProvided,
        input_delay: int | str = NotProvided,
        prediction_window: int = NotProvided,
        input_redundancy: int = NotProvided,
        disconnect_policy: str = NotProvided,
        disconnect_notify_ms: int = NotProvided,
        disconnect_timeout_ms: int = NotProvided,
        connection_timeout_s: float = NotProvided,
        reconnect_grace_s: float = NotProvided,
        wait_timeout_s: float | None = NotProvided,
        ice_transport_policy: str = NotProvided,
        connection_fallback: str = NotProvided,
        turn: bool | list[dict[str, Any]] = NotProvided,
        agent_ids: list[str | int] | None = NotProvided,
        impairment: dict[str, Any] | None = NotProvided,
        countdown_s: float = NotProvided,
        hidden_action: int | None = NotProvided,
        warn_hidden_s: float | None = NotProvided,
        max_hidden_s: float | None = NotProvided,
        hidden_policy: str = NotProvided,
    ) -> P2PGymScene:
        """Peer-to-peer settings; see :class:`~interactive_gym_p2p.scene_settings.P2PSettings`."""
        given = _given(locals())
        checked = {name: P2P_CHECKS[name](f"p2p({name})", v) for name, v in given.items() if name != "agent_ids"}
        if "agent_ids" in given:
            players_now = checked.get("players", self.p2p_settings.players)
            checked["agent_ids"] = check_agent_ids("p2p(agent_ids)", given["agent_ids"], players_now)
        # replace() re-runs the cross-setting checks; on error the old settings stay.
        new = dataclasses.replace(self.p2p_settings, **checked)
        if self.condition_list:
            # Conditions were checked against the old settings: check them again.
            check_conditions("conditions", [c.to_dict() for c in self.condition_list], new)
        self.p2p_settings = new
        self.fps = self.p2p_settings.fps
        return self

    def matchmaking(
        self,
        matcher: Any = NotProvided,
        max_p2p_rtt_ms: int | None = NotProvided,
        probe: bool | None = NotProvided,
        probe_pings: int = NotProvided,
        probe_timeout_s: float = NotProvided,
        rtt_slack_ms: int = NotProvided,
        rtt_wait_s: float = NotProvided,
        requeue_on_connection_failure: bool = NotProvided,
        max_requeues: int = NotProvided,
    ) -> P2PGymScene:
        """Who plays whom; see :class:`~interactive_gym_p2p.matchmaking.settings.MatchmakingSettings`."""
        given = _given(locals())
        checked = {name: MATCHMAKING_CHECKS[name](f"matchmaking({name})", v) for name, v in given.items()}
        self.matchmaking_settings = dataclasses.replace(self.matchmaking_settings, **checked)
        return self

    def waiting_room(
        self,
        on_timeout: str = NotProvided,
        min_players: int | None = NotProvided,
        bot_actions: str = NotProvided,
        bot_start_timeout_s: float = NotProvided,
        announce_bot: bool = NotProvided,
    ) -> P2PGymScene:
        """The waiting room's timeout policy; see :class:`~interactive_gym_p2p.matchmaking.settings.WaitingRoomSettings`.

        The timeout itself is ``p2p(wait_timeout_s=...)`` (or Interactive Gym's ``waitroom_timeout``).
        """
        given = _given(locals())
        checked = {name: WAITING_ROOM_CHECKS[name](f"waiting_room({name})", v) for name, v in given.items()}
        self.waiting_room_settings = dataclasses.replace(self.waiting_room_settings, **checked)
        return self

    def conditions(self, conditions: Any) -> P2PGymScene:
        """Experimental conditions its games are assigned to, balanced by completed games.

        ``{"name": {"p2p": {setting: value, ...}, "target": n}, ...}`` (or a list of
        :class:`~interactive_gym_p2p.matchmaking.settings.Condition`); ``None`` removes them.
        """
        if conditions is None:
            self.condition_list = ()
            return self
        self.condition_list = check_conditions("conditions", conditions, self.p2p_settings)
        return self

    def validation(
        self,
        hash_interval: int = NotProvided,
        state_dump_on_desync: bool = NotProvided,
        export: bool = NotProvided,
        record_info: list[str] = NotProvided,
    ) -> P2PGymScene:
        """Sync validation settings; see :class:`~interactive_gym_p2p.scene_settings.ValidationSettings`."""
        given = _given(locals())
        checked = {name: VALIDATION_CHECKS[name](f"validation({name})", v) for name, v in given.items()}
        self.validation_settings = dataclasses.replace(self.validation_settings, **checked)
        return self

    def exclusion(
        self,
        inactive_s: float | None = NotProvided,
        inactive_warn_s: float | None = NotProvided,
        max_rtt_ms: float | None = NotProvided,
        max_rtt_for_s: float = NotProvided,
        policy: str = NotProvided,
    ) -> P2PGymScene:
        """Exclusion during play (inactivity, slow connection); see
        :class:`~interactive_gym_p2p.exclusion_settings.ExclusionSettings`."""
        given = _given(locals())
        checked = {name: EXCLUSION_CHECKS[name](f"exclusion({name})", v) for name, v in given.items()}
        self.exclusion_settings = dataclasses.replace(self.exclusion_settings, **checked)
        return self

    def rendering(
        self,
        fps: int = NotProvided,
        env_to_state_fn: Callable = NotProvided,
        preload_specs: list[dict[str, Any]] = NotProvided,
        hud_text_fn: Callable = NotProvided,
        hud_score_carry_over: bool = NotProvided,
        location_representation: str = NotProvided,
        game_width: int = NotProvided,
        game_height: int = NotProvided,
        background: str = NotProvided,
        state_init: list = NotProvided,
        assets_dir: str = NotProvided,
        assets_to_preload: list[dict[str, Any]] = NotProvided,
        animation_configs: list = NotProvided,
    ) -> P2PGymScene:
        """Interactive Gym's rendering settings; ``fps`` is also the simulation rate."""
        given = _given(locals())
        porting.check_given("GymScene.rendering", given)
        if fps is not NotProvided:
            check_int("rendering(fps)", fps, 1, 120)
            self.p2p_settings = dataclasses.replace(self.p2p_settings, fps=fps)
        for name in ("game_width", "game_height"):
            if name in given:
                check_int(f"rendering({name})", given[name], 1, 8192)
        if location_representation is not NotProvided and location_representation not in ("relative", "pixels"):
            raise SceneConfigError(
                "rendering(location_representation)", f"must be 'relative' or 'pixels', got {location_representation!r}"
            )
        if background is not NotProvided and (not isinstance(background, str) or not background):
            raise SceneConfigError("rendering(background)", f"must be a colour or the name of a preloaded image, got {background!r}")
        for name in ("assets_to_preload", "preload_specs"):
            if name in given and given[name] is not None:
                given[name] = check_asset_specs(f"rendering({name})", given[name])
        if state_init is not NotProvided and not isinstance(state_init, list):
            raise SceneConfigError("rendering(state_init)", f"must be a list of object contexts, got {state_init!r}")
        super().rendering(**given)
        return self

    def gameplay(
        self,
        action_mapping: dict = NotProvided,
        human_id: str | int = NotProvided,
        num_episodes: int = NotProvided,
        max_steps: int = NotProvided,
        default_action: int = NotProvided,
        action_population_method: str = NotProvided,
        input_mode: str = NotProvided,
        callback: Any = NotProvided,
        reset_freeze_s: int = NotProvided,
    ) -> P2PGymScene:
        """Interactive Gym's gameplay settings; actions must be signed 32-bit integers."""
        porting.check_given("GymScene.gameplay", _given(locals()))
        if reset_freeze_s is not NotProvided:
            check_number("gameplay(reset_freeze_s)", reset_freeze_s, 0, 3600)
        if input_mode is not NotProvided and input_mode not in ("pressed_keys", "single_keystroke"):
            raise SceneConfigError("gameplay(input_mode)", f"must be 'pressed_keys' or 'single_keystroke', got {input_mode!r}")
        if default_action is not NotProvided:
            check_action("gameplay(default_action)", default_action)
        if action_mapping is not NotProvided:
            if not isinstance(action_mapping, dict):
                raise SceneConfigError("gameplay(action_mapping)", f"must be a dict of key -> action, got {action_mapping!r}")
            for key, action in action_mapping.items():
                check_action(f"gameplay(action_mapping[{key!r}])", action)
        if num_episodes is not NotProvided:
            check_int("gameplay(num_episodes)", num_episodes, 1, 10_000)
        if max_steps is not NotProvided:
            check_number("gameplay(max_steps)", max_steps, 1, 2**31 - 1)
        super().gameplay(
            action_mapping=action_mapping,
            human_id=human_id,
            num_episodes=num_episodes,
            max_steps=max_steps,
            default_action=default_action,
            action_population_method=action_population_method,
            input_mode=input_mode,
            callback=callback,
            reset_freeze_s=reset_freeze_s,
        )
        return self

    def pyodide(
        self,
        run_through_pyodide: bool = NotProvided,
        multiplayer: bool = NotProvided,
        environment_initialization_code: str = NotProvided,
        environment_initialization_code_filepath: str = NotProvided,
        on_game_step_code: str = NotProvided,
        packages_to_install: list[str] = NotProvided,
        restart_pyodide: bool = NotProvided,
        server_authoritative: bool = NotProvided,
        state_broadcast_interval: int = NotProvided,
    ) -> P2PGymScene:
        """Interactive Gym's Pyodide settings; the environment source is inspected here."""
        porting.check_given("GymScene.pyodide", _given(locals()))
        if on_game_step_code is not NotProvided:
            try:
                inspect_step_code(on_game_step_code, "pyodide(on_game_step_code)")
            except EnvCheckError as exc:
                raise SceneConfigError("pyodide(on_game_step_code)", str(exc).split(": ", 1)[1]) from None
        if packages_to_install is not NotProvided and (
            not isinstance(packages_to_install, (list, tuple)) or not all(isinstance(p, str) for p in packages_to_install)
        ):
            raise SceneConfigError("pyodide(packages_to_install)", f"must be a list of package names, got {packages_to_install!r}")
        previous = (self.environment_initialization_code, self.env_code_report)
        super().pyodide(
            run_through_pyodide=run_through_pyodide,
            multiplayer=multiplayer,
            environment_initialization_code=environment_initialization_code,
            environment_initialization_code_filepath=environment_initialization_code_filepath,
            on_game_step_code=on_game_step_code,
            packages_to_install=NotProvided,
            restart_pyodide=restart_pyodide,
            server_authoritative=server_authoritative,
            state_broadcast_interval=state_broadcast_interval,
        )
        if packages_to_install is not NotProvided:
            # Exactly what was asked for: Interactive Gym would append its own package,
            # which the P2P client does not need and an offline lab cannot install.
            self.packages_to_install = list(packages_to_install)
        if environment_initialization_code is not NotProvided or environment_initialization_code_filepath is not NotProvided:
            try:
                self.env_code_report = inspect_env_code(
                    self.environment_initialization_code, "pyodide(environment_initialization_code)"
                )
            except EnvCheckError as exc:
                self.environment_initialization_code, self.env_code_report = previous
                raise SceneConfigError("pyodide(environment_initialization_code)", str(exc).split(": ", 1)[1]) from None
            if not self.env_code_report.verified:
                logger.warning("scene %s: environment code not fully verified: %s", self.scene_id, self.env_code_report.note)
        return self

    def environment(
        self, env_creator: Callable = NotProvided, env_config: dict[str, Any] = NotProvided, seed: int = NotProvided
    ) -> P2PGymScene:
        """Interactive Gym's environment settings (a CPython env creator, e.g. for a Python peer)."""
        if seed is not NotProvided:
            check_int("environment(seed)", seed, 0, U32_MAX)
        if env_creator is not NotProvided:
            if not callable(env_creator):
                raise SceneConfigError("environment(env_creator)", f"must be callable, got {env_creator!r}")
            if inspect.isclass(env_creator):
                try:
                    check_env_type(env_creator, "environment(env_creator)")
                except EnvCheckError as exc:
                    raise SceneConfigError("environment(env_creator)", str(exc).split(": ", 1)[1]) from None
        if env_config is not NotProvided and env_config is not None and not isinstance(env_config, dict):
            raise SceneConfigError("environment(env_config)", f"must be a dict of keyword arguments, got {env_config!r}")
        super().environment(env_creator=env_creator, env_config=env_config, seed=seed)
        return self

    def policies(
        self,
        policy_mapping: dict = NotProvided,
        load_policy_fn: Callable = NotProvided,
        policy_inference_fn: Callable = NotProvided,
        frame_skip: int = NotProvided,
    ) -> P2PGymScene:
        """Interactive Gym's policies: each agent is 'human' (a participant) or the name of an
        AI seat's policy (:meth:`ai_policy`). With AI seats, ``p2p(players)`` becomes the number
        of 'human' agents (the participants a game waits for)."""
        given = _given(locals())
        porting.check_given("GymScene.policies", given)
        if policy_mapping is not NotProvided and policy_mapping:
            check_agent_ids("policies(policy_mapping)", list(policy_mapping), len(policy_mapping))
            humans = sum(1 for v in policy_mapping.values() if v == "human")
            if humans == 0:
                raise SceneConfigError("policies(policy_mapping)", "needs at least one 'human' agent (a participant)")
            if humans < len(policy_mapping):
                check_int("policies(policy_mapping) humans", humans, 1, MAX_PLAYERS)
                self.p2p_settings = dataclasses.replace(self.p2p_settings, players=humans)
        super().policies(**given)
        return self

    def ai_policy(self, name: str, code: str) -> P2PGymScene:
        """A policy for AI seats: ``policy_mapping`` entries naming it are played by ``code``, a
        Python source defining ``act(observation, context) -> int``, which every peer runs
        inside its simulated step (seeded from the shared seed; docs/ai.md). Its action is part
        of every frame's actions, so it is deterministic, hashed and exported like a human's."""
        if not isinstance(name, str) or not AI_POLICY_NAME.match(name) or name == "human":
            raise SceneConfigError("ai_policy(name)", f"must be an identifier of at most 64 characters other than 'human', got {name!r}")
        self.ai_policies[name] = AIPolicySpec(name, _check_policy_code(name, code))
        return self

    def user_experience(
        self,
        scene_header: str = NotProvided,
        scene_body: str = NotProvided,
        scene_body_filepath: str = NotProvided,
        in_game_scene_body: str = NotProvided,
        in_game_scene_body_filepath: str = NotProvided,
        waitroom_timeout: int = NotProvided,
        waitroom_timeout_redirect_url: str = NotProvided,
        game_page_html_fn: Callable = NotProvided,
    ) -> P2PGymScene:
        """Interactive Gym's page texts and waiting-room timeout."""
        given = _given(locals())
        porting.check_given("GymScene.user_experience", given)
        if waitroom_timeout is not NotProvided:
            check_number("user_experience(waitroom_timeout)", waitroom_timeout, 1000, 86_400_000)
        super().user_experience(**given)
        return self

    def check(self) -> P2PGymScene:
        """Checks that need the whole scene; the server runs this before it starts."""
        problem = identifier_problem(self.scene_id)
        if problem is not None:
            raise SceneConfigError("scene(scene_id)", f"{self.scene_id!r} is not a plain identifier: {problem}")
        if self.default_action is None:
            raise SceneConfigError(
                "gameplay(default_action)", "must be set: it is the action a missing or late input becomes"
            )
        check_action("gameplay(default_action)", self.default_action)
        porting.check_scene(self)
        check_waiting_room(self.waiting_room_settings, self.p2p_settings.players)
        if not self.environment_initialization_code:
            raise SceneConfigError(
                "pyodide(environment_initialization_code)", "must be set: the Python source every browser runs"
            )
        seats = self.ai_seats
        if seats:
            self._check_ai_seats(seats)
        elif self.p2p_settings.players < 2:
            raise SceneConfigError("p2p(players)", "a game needs two seats: 2 or more players, or AI seats in policy_mapping")
        if self.p2p_settings.agent_ids is None and self.policy_mapping:
            check_agent_ids("policies(policy_mapping)", list(self.policy_mapping), self.num_seats)
        try:
            inspect_step_code(self.on_game_step_code or "", "pyodide(on_game_step_code)")
        except EnvCheckError as exc:
            raise SceneConfigError("pyodide(on_game_step_code)", str(exc).split(": ", 1)[1]) from None
        names = {spec["name"] for spec in self.asset_specs()}
        if self.background not in names and not _looks_like_colour(self.background):
            raise SceneConfigError(
                "rendering(background)",
                f"{self.background!r} is neither a colour nor the name of a texture in assets_to_preload/preload_specs",
            )
        return self

    def _check_ai_seats(self, seats: list[dict[str, Any]]) -> None:
        humans = self.num_seats - len(seats)
        if self.p2p_settings.players != humans:
            raise SceneConfigError(
                "p2p(players)", f"is {self.p2p_settings.players}, but policy_mapping has {humans} 'human' agents: "
                "players counts the participants of a game (AI seats are not players)")
        if self.p2p_settings.agent_ids is not None:
            raise SceneConfigError("p2p(agent_ids)", "must not be set with AI seats: the seats are policy_mapping's keys, in order")
        for s in seats:
            if s["kind"] == "onnx" and len(s["policy"]) > 256:
                raise SceneConfigError("policies(policy_mapping)", f"the ONNX file path {s['policy']!r} is longer than 256 characters")
        unknown = sorted({s["policy"] for s in seats if s["kind"] == "python"} - set(self.ai_policies))
        if unknown:
            raise SceneConfigError(
                "policies(policy_mapping)", f"names the policies {unknown}, which the scene does not define: "
                "give each one with ai_policy(name, code=...) (docs/ai.md)")
        if self.waiting_room_settings.on_timeout == "start_with_fewer":
            raise SceneConfigError("waiting_room(on_timeout)", "'start_with_fewer' is not available with AI seats")
        if any("players" in c.p2p for c in self.condition_list):
            raise SceneConfigError("conditions", "a condition cannot change players in a scene with AI seats")

    def create_env(self) -> Any:
        """Build the CPython environment from ``env_creator`` and check its rollback methods."""
        if self.env_creator is None:
            raise SceneConfigError("environment(env_creator)", "is not set; a CPython environment needs it")
        env = self.env_creator(**(self.env_config or {}))
        try:
            return check_env_instance(env, "environment(env_creator)")
        except EnvCheckError as exc:
            raise SceneConfigError("environment(env_creator)", str(exc).split(": ", 1)[1]) from None

    # ------------------------------------------------------------------ derived views

    @property
    def wait_timeout_s(self) -> float:
        """The waiting room timeout: ``p2p(wait_timeout_s)``, else Interactive Gym's waitroom_timeout."""
        if self.p2p_settings.wait_timeout_s is not None:
            return self.p2p_settings.wait_timeout_s
        return self.waitroom_timeout / 1000

    @property
    def agent_ids(self) -> tuple[str | int, ...] | None:
        """Agent of each player: ``p2p(agent_ids)``, else policy_mapping's keys in order, else
        None (the env's ``possible_agents``)."""
        if self.p2p_settings.agent_ids is not None:
            return self.p2p_settings.agent_ids
        return tuple(self.policy_mapping) if self.policy_mapping else None

    @property
    def num_seats(self) -> int:
        """Seats of a game: policy_mapping's agents when it names AI seats, else the players."""
        if self.policy_mapping and any(v != "human" for v in self.policy_mapping.values()):
            return len(self.policy_mapping)
        return self.p2p_settings.players

    @property
    def ai_seats(self) -> list[dict[str, Any]]:
        """The AI seats, in player order: ``{player_index, agent_id, policy, kind}`` (empty without).

        A policy_mapping value naming an ``.onnx`` file is a **hosted seat** (kind ``'onnx'``,
        docs/ai.md): its ``host`` is the game's lowest participant seat, known to every peer
        before the game (no negotiation), which runs the model and sends the seat's actions."""
        if not self.policy_mapping:
            return []
        humans = [i for i, p in enumerate(self.policy_mapping.values()) if p == "human"]
        out = []
        for i, (agent, policy) in enumerate(self.policy_mapping.items()):
            if policy == "human":
                continue
            if is_onnx_policy(policy):
                out.append({"player_index": i, "agent_id": agent, "policy": policy, "kind": "onnx",
                            "host": humans[0] if humans else None})
                continue
            spec = self.ai_policies.get(policy)
            out.append({"player_index": i, "agent_id": agent, "policy": policy, "kind": spec.kind if spec else "python"})
        return out

    @property
    def onnx_models(self) -> list[str]:
        """The ONNX files hosted seats name (each once, in seat order)."""
        return list(dict.fromkeys(a["policy"] for a in self.ai_seats if a["kind"] == "onnx"))

    @property
    def fixed_seed(self) -> int | None:
        """``environment(seed=...)``: the shared seed of every game, else None (fresh per game)."""
        return getattr(self, "seed", None)

    def game_settings(self, condition: Condition | None = None) -> dict[str, Any]:
        """The settings of every game of this scene (``settings`` of the validation export),
        or of its games in ``condition`` (the scene's with the condition's overrides)."""
        settings = self.p2p_settings if condition is None else dataclasses.replace(self.p2p_settings, **condition.p2p)
        p2p = p2p_settings_dict(settings)
        p2p["wait_timeout_s"] = check_number("wait_timeout_s", self.wait_timeout_s, 0, 10**9)
        p2p["agent_ids"] = None if self.agent_ids is None else list(self.agent_ids)
        p2p["default_action"] = self.default_action
        p2p["num_episodes"] = self.num_episodes
        # gameplay(reset_freeze_s) as a frame count, so every peer pauses exactly as long.
        p2p["reset_freeze_frames"] = round(float(self.reset_freeze_s or 0) * self.p2p_settings.fps)
        p2p["protocol_version"] = PROTOCOL_VERSION
        # Seats of a game (players + AI seats) and the AI seats (absent without: older exports).
        if self.ai_seats:
            p2p["seats"] = self.num_seats
            p2p["ai_seats"] = self.ai_seats
        p2p.update(self.exclusion_settings.to_p2p())
        return {
            "p2p": p2p,
            "validation": validation_settings_dict(self.validation_settings),
            "impairment": None if settings.impairment is None else dict(settings.impairment),
        }

    def signaling_rules(self) -> SignalingRules:
        """What the signaling server enforces for this scene."""
        s = self.p2p_settings
        return SignalingRules(
            scene_id=self.scene_id,
            players=s.players,
            wait_timeout_s=float(self.wait_timeout_s),
            reconnect_grace_s=float(s.reconnect_grace_s),
            disconnect_policy=s.disconnect_policy,
            wait_for_known_group=bool(self.wait_for_known_group),
            group_wait_timeout_s=self.group_wait_timeout / 1000,
            ice_transport_policy=s.ice_transport_policy,
            turn=s.turn,
            agent_ids=self.agent_ids,
            export=self.validation_settings.export,
            settings=self.game_settings(),
            timeout_redirect_url=self.waitroom_timeout_redirect_url,
            seed=self.fixed_seed,
            connection_fallback=s.connection_fallback,
            matchmaking=self.matchmaking_settings,
            waiting_room=self.waiting_room_settings,
            conditions=self.condition_list,
            condition_settings={c.name: self.game_settings(c) for c in self.condition_list},
            ai_seats=tuple(self.ai_seats),
        )

    def p2p_payload(self) -> dict[str, Any]:
        """Everything the browser needs to run this scene (the ``p2p`` key of activate_scene)."""
        max_steps = self.max_steps
        return {
            "protocol_version": PROTOCOL_VERSION,
            "settings": self.game_settings(),
            "env": {
                "runtime": "pyodide",
                "code": self.environment_initialization_code,
                "packages": list(self.packages_to_install),
                "on_game_step_code": self.on_game_step_code,
                "restart_pyodide": bool(self.restart_pyodide),
                "verified": bool(self.env_code_report and self.env_code_report.verified),
                # The AI seats' policies every browser runs (their seats: settings.p2p.ai_seats).
                "ai_policies": {name: spec.code for name, spec in sorted(self.ai_policies.items())
                                if any(s["policy"] == name for s in self.ai_seats)},
                # Hosted seats' ONNX files: policy_mapping's path -> the URL this server serves it at.
                "onnx_models": {} if self._assets is None else dict(self._assets.models),
            },
            "gameplay": {
                "action_mapping": dict(self.action_mapping),
                "default_action": self.default_action,
                "num_episodes": self.num_episodes,
                "max_steps": int(max_steps) if float(max_steps).is_integer() else max_steps,
                "input_mode": self.input_mode,
                "game_has_composite_actions": bool(self.game_has_composite_actions),
                "reset_freeze_s": self.reset_freeze_s,
            },
            "rendering": {
                "fps": self.p2p_settings.fps,
                "game_width": self.game_width,
                "game_height": self.game_height,
                "background": self.background,
                "location_representation": self.location_representation,
                "state_init": self.state_init,
                "assets_dir": self.assets_dir,
                "assets_to_preload": self.assets_to_preload,
                "preload_specs": self.preload_specs,
                "animation_configs": self.animation_configs,
                "hud_score_carry_over": self.hud_score_carry_over,
                "textures": None if self._assets is None else self._assets.payload(),
            },
            "ui": {
                "scene_header": self.scene_header,
                "scene_body": self.scene_body,
                "in_game_scene_body": getattr(self, "in_game_scene_body", None),
                "waitroom_timeout_redirect_url": self.waitroom_timeout_redirect_url,
            },
            "signaling": None
            if self._binding is None
            else {"namespace": self._binding.namespace, "subject_id": self._binding.subject_id, "ticket": self._binding.ticket},
        }

    @property
    def scene_metadata(self) -> dict:
        """Interactive Gym's metadata plus the ``p2p`` block (without the signaling ticket)."""
        metadata = {k: v for k, v in super().scene_metadata.items() if not k.startswith("_")}
        p2p = self.p2p_payload()
        p2p["signaling"] = None  # metadata is also exported to files; the ticket is not
        metadata["p2p"] = p2p
        return metadata

    def activation_payload(self) -> dict:
        """What ``activate_scene`` carries for this participant (metadata with the ticket)."""
        metadata = self.scene_metadata
        metadata["p2p"]["signaling"] = self.p2p_payload()["signaling"]
        return metadata

    # ------------------------------------------------------------------ hooks

    def bind_signaling(self, binding: SignalingBinding | None) -> None:
        """Called by the server on each participant's own copy of the scene."""
        self._binding = binding

    def bind_assets(self, assets: SceneAssets | None) -> None:
        """Called by the server: the URLs it serves this scene's asset files at."""
        self._assets = assets

    def asset_specs(self) -> list[dict[str, Any]]:
        """Every texture spec of the scene: assets_to_preload, then preload_specs."""
        specs = check_asset_specs("rendering(assets_to_preload)", list(self.assets_to_preload or []))
        specs += check_asset_specs("rendering(preload_specs)", list(self.preload_specs or []))
        names = [s["name"] for s in specs]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise SceneConfigError("rendering(preload_specs)", f"texture names {twice} are also in assets_to_preload")
        return specs

    def activate(self, sio: Any, room: str | int) -> None:
        """Show the scene: send the game's settings, environment and signaling ticket."""
        self.status = SceneStatus.Active
        self.sio = sio
        self.room = room
        if self._binding is None:
            logger.warning("scene %s activated without a signaling binding: its clients cannot join a game", self.scene_id)
        sio.emit("activate_scene", self.activation_payload(), room=room)

    def deactivate(self) -> None:
        """Leave the scene: the participant's waiting place or seat is given up."""
        super().deactivate()
        if self._binding is not None:
            self._binding.release()

    def on_client_callback(self, data: Any, sio: Any, room: str | int) -> None:
        """Status reports from the P2P client (``{"type": "p2p_status", ...}``) go to the log."""
        if isinstance(data, dict) and data.get("type") == "p2p_status":
            subject = self._binding.subject_id if self._binding else None
            status = {k: data[k] for k in ("game_id", "event", "path", "detail", "package") if k in data}
            if status.get("event") == "env_load_failed" and isinstance(status.get("package"), str):
                # The researcher's line: which package of packages_to_install a browser could not install.
                logger.warning("scene %s subject %s: the browser could not install package %r of packages_to_install: %s",
                               self.scene_id, subject, status["package"][:200], str(status.get("detail", ""))[:500])
                return
            logger.info("scene %s subject %s p2p status %s", self.scene_id, subject, status)
