"""Every Interactive Gym setting a Pyodide scene can use, and what a P2P scene does with it.

Interactive Gym 0.1.1 configures a scene through chained calls (``GymScene().rendering(...)``)
and an experiment through ``ExperimentConfig``. A ``P2PGymScene`` inherits all of them, so each
one is either **honoured** (it works with Interactive Gym's meaning) or **refused** (setting it
to anything but its do-nothing default raises :class:`SceneConfigError` saying why and what to
use instead). Nothing is accepted and then ignored.

:data:`SETTINGS` is the table; ``P2PGymScene``'s setters call :func:`check_given` with the
values they were given, ``P2PGymScene.check()`` calls :func:`check_scene` (which also catches
attributes assigned directly), and ``docs/porting.md`` holds :func:`markdown_table`'s output
(a test keeps the two equal, and another fails when Interactive Gym grows a setting this table
does not list).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .scene_settings import SceneConfigError

HONOURED = "honoured"
REFUSED = "refused"
INTERNAL = "internal"

_UNSET = object()


@dataclass(frozen=True)
class SettingRow:
    """One Interactive Gym setting and what a P2P scene does with it."""

    call: str
    """Where it is set: ``GymScene.gameplay``, ``ExperimentConfig.hosting``, ... (``GymScene``
    alone: an attribute with no setter)."""
    name: str
    """The parameter (or attribute) name."""
    verdict: str
    """:data:`HONOURED`, :data:`REFUSED` or :data:`INTERNAL` (bookkeeping, not a setting)."""
    p2p: str
    """What the P2P scene does with it (one line, for the docs table)."""
    attribute: str | None = None
    """The scene attribute the setter writes (default: ``name``); None: writes none."""
    allowed: Callable[[Any], bool] | None = None
    """For a refused setting, the values still accepted (default: Interactive Gym's default)."""
    default: Any = _UNSET
    """Interactive Gym's default (what ``allowed`` compares with when it is None)."""
    why: str = ""
    """For a refused setting: the error message (why, and what to use instead)."""

    @property
    def attr(self) -> str:
        return self.name if self.attribute is None else self.attribute

    @property
    def restricted(self) -> bool:
        """Some values are refused (a refused setting, or an honoured one with limits)."""
        return self.verdict == REFUSED or self.allowed is not None

    def accepts(self, value: Any) -> bool:
        if self.allowed is not None:
            return self.allowed(value)
        if self.verdict != REFUSED:
            return True
        return value == self.default


def _human_or_named(mapping: Any) -> bool:
    # "human" or the name of the scene's ai_policy (checked against the defined names in check()).
    return isinstance(mapping, dict) and all(isinstance(p, str) and p for p in mapping.values())


_PEER = ("an AI partner is an AI seat: policy_mapping names it and P2PGymScene.ai_policy(name, code=...) gives the "
         "Python policy every browser runs (docs/ai.md); a scripted participant joins as a Python peer (docs/peer.md)")

SETTINGS: tuple[SettingRow, ...] = (
    # ------------------------------------------------------------------ Scene.scene
    SettingRow("Scene.scene", "scene_id", HONOURED, "names the scene; also the exports' scene id (a plain identifier)"),
    SettingRow("Scene.scene", "experiment_config", HONOURED, "kept in the scene metadata, as in Interactive Gym"),
    SettingRow("Scene.scene", "should_export_metadata", HONOURED,
               "metadata written to data/<scene_id>/<subject>_metadata.json (unless save_experiment_data is off)"),
    # ------------------------------------------------------------------ GymScene.environment
    SettingRow("GymScene.environment", "env_creator", HONOURED,
               "a CPython env factory (P2PGymScene.create_env() checks it); browsers run environment_initialization_code"),
    SettingRow("GymScene.environment", "env_config", HONOURED, "keyword arguments of env_creator"),
    SettingRow("GymScene.environment", "seed", HONOURED,
               "every game of the scene uses it as its shared seed (else a fresh one per game); episode seeds derive from it",
               attribute="seed"),
    # ------------------------------------------------------------------ GymScene.policies
    SettingRow("GymScene.policies", "policy_mapping", HONOURED,
               "its keys, in order, are the seats' agents; 'human' is a participant, any other value names an AI seat's "
               "policy given with P2PGymScene.ai_policy(name, code=...), run inside every browser's simulated step, or an "
               ".onnx file: a hosted seat, whose model the lowest participant seat's page runs (docs/ai.md)",
               allowed=_human_or_named,
               why=f"maps each agent to 'human' or the name of an AI policy (a non-empty string); {_PEER}"),
    SettingRow("GymScene.policies", "load_policy_fn", REFUSED, "refused: a server-side callable; use ai_policy(name, code=...)",
               default=None, why=f"loads a policy on Interactive Gym's server, but a P2P game runs in the browsers; {_PEER}"),
    SettingRow("GymScene.policies", "policy_inference_fn", REFUSED, "refused: a server-side callable; use ai_policy(name, code=...)",
               default=None, why=f"runs a policy on Interactive Gym's server, but a P2P game runs in the browsers; {_PEER}"),
    SettingRow("GymScene.policies", "frame_skip", REFUSED, "refused unless 4 (its default): an AI seat acts every frame",
               default=4, why="sets how often a server-side policy acts; an AI seat's policy acts on every frame "
               "(a policy that wants to act less often repeats its last action, docs/ai.md)"),
    # ------------------------------------------------------------------ GymScene.gameplay
    SettingRow("GymScene.gameplay", "action_mapping", HONOURED,
               "key (or sorted composite keys) -> action, read by the keyboard; actions are signed 32-bit integers"),
    SettingRow("GymScene.gameplay", "human_id", REFUSED, "refused: player i controls agent_ids[i]",
               default=None, why="names the single human agent; in a P2P scene player i controls p2p(agent_ids)[i] "
               "(or the i-th human key of policy_mapping)"),
    SettingRow("GymScene.gameplay", "num_episodes", HONOURED, "episodes per game"),
    SettingRow("GymScene.gameplay", "max_steps", HONOURED, "an episode ends after this many frames (the env may end it sooner)"),
    SettingRow("GymScene.gameplay", "default_action", HONOURED,
               "required: each player's frames before max(1, its input delay), and a disconnected player under disconnect_policy='default_action'"),
    SettingRow("GymScene.gameplay", "action_population_method", REFUSED,
               "'default_action' only: no input is ever missing (rollback corrects predictions)",
               default="default_action",
               why="fills in a bot's missing action; a P2P game has every participant's input for every frame "
               "(late ones are predicted and corrected by rollback), and a player who left plays "
               "default_action under p2p(disconnect_policy='default_action')"),
    SettingRow("GymScene.gameplay", "input_mode", HONOURED, "'pressed_keys' or 'single_keystroke', as in Interactive Gym"),
    SettingRow("GymScene.gameplay", "callback", REFUSED, "refused: server-side hooks; the game runs in the browsers",
               default=None,
               why="Interactive Gym calls it on its server around each tick of a server-side game; a P2P game runs "
               "in the participants' browsers. Put per-step logic in pyodide(on_game_step_code) or the env; each "
               "player's export records every confirmed frame's rewards and the info keys of validation(record_info=[...])"),
    SettingRow("GymScene.gameplay", "reset_freeze_s", HONOURED,
               "the last frame of an episode stays on screen round(reset_freeze_s * fps) frames on every peer before the next starts"),
    # ------------------------------------------------------------------ GymScene.rendering
    SettingRow("GymScene.rendering", "fps", HONOURED, "frames per second of the simulation and the drawing"),
    SettingRow("GymScene.rendering", "env_to_state_fn", REFUSED, "refused: server-side rendering",
               default=None, why="renders a server-side env on Interactive Gym's server; in a P2P scene each browser "
               "draws what the env's render() returns (object contexts or an RGB frame)"),
    SettingRow("GymScene.rendering", "preload_specs", HONOURED,
               "loaded before the game like assets_to_preload (ImgSpec/AtlasSpec/MultiAtlasSpec dicts)"),
    SettingRow("GymScene.rendering", "hud_text_fn", REFUSED, "refused: server-side callable",
               default=None, why="is called on Interactive Gym's server for server-side games; in a P2P scene draw "
               "the text from the env's render() with a Text object context"),
    SettingRow("GymScene.rendering", "hud_score_carry_over", REFUSED,
               "refused when True: no score HUD is drawn (use a Text object)", default=False,
               why="carries Interactive Gym's score HUD over episodes, but P2P scenes draw no score HUD; draw the "
               "score from the env's render() with a Text object context (keep the running score in the env state)"),
    SettingRow("GymScene.rendering", "location_representation", HONOURED,
               "'relative' (fractions of width/height) or 'pixels'"),
    SettingRow("GymScene.rendering", "game_width", HONOURED, "canvas width in CSS pixels"),
    SettingRow("GymScene.rendering", "game_height", HONOURED, "canvas height in CSS pixels"),
    SettingRow("GymScene.rendering", "background", HONOURED, "a colour, or the name of a preloaded image drawn centred"),
    SettingRow("GymScene.rendering", "state_init", HONOURED, "object contexts drawn before the first frame"),
    SettingRow("GymScene.rendering", "assets_dir", HONOURED,
               "not read, as in Interactive Gym 0.1.1: each spec's path is used as written"),
    SettingRow("GymScene.rendering", "assets_to_preload", HONOURED,
               "every image and atlas is fetched from this server and decoded before the game starts"),
    SettingRow("GymScene.rendering", "animation_configs", REFUSED,
               "refused unless empty: Interactive Gym's renderer plays no animations either",
               default=[], why="defines Phaser animations, which Interactive Gym's renderer does not play either; "
               "show each animation frame with the Sprite's frame from the env's render()"),
    # ------------------------------------------------------------------ GymScene.user_experience
    SettingRow("GymScene.user_experience", "scene_header", HONOURED, "shown above the game"),
    SettingRow("GymScene.user_experience", "scene_body", HONOURED, "shown while loading and waiting"),
    SettingRow("GymScene.user_experience", "scene_body_filepath", HONOURED, "read into scene_body", attribute="scene_body"),
    SettingRow("GymScene.user_experience", "in_game_scene_body", HONOURED, "replaces scene_body once the game runs"),
    SettingRow("GymScene.user_experience", "in_game_scene_body_filepath", HONOURED, "read into in_game_scene_body",
               attribute="in_game_scene_body"),
    SettingRow("GymScene.user_experience", "waitroom_timeout", HONOURED, "waiting-room timeout in ms (unless p2p(wait_timeout_s))"),
    SettingRow("GymScene.user_experience", "waitroom_timeout_redirect_url", HONOURED, "where a participant goes after the waiting room times out"),
    SettingRow("GymScene.user_experience", "game_page_html_fn", REFUSED, "refused: server-side page hook",
               default=None, why="builds Interactive Gym's own game page on its server; the P2P page shows "
               "scene_header, scene_body and in_game_scene_body: put the HTML there"),
    # ------------------------------------------------------------------ GymScene.pyodide
    SettingRow("GymScene.pyodide", "run_through_pyodide", HONOURED, "must be True (every browser runs the env)",
               allowed=lambda v: v is True,
               why="must stay True: every participant's browser runs the environment"),
    SettingRow("GymScene.pyodide", "multiplayer", REFUSED, "refused when True: P2PGymScene replaces it",
               attribute="pyodide_multiplayer", default=False,
               why="is Interactive Gym's server-coordinated multiplayer; P2PGymScene replaces it, leave it False "
               "(docs/porting.md shows the port)"),
    SettingRow("GymScene.pyodide", "environment_initialization_code", HONOURED,
               "the Python every browser runs; it must define env with reset/step/get_state/set_state"),
    SettingRow("GymScene.pyodide", "environment_initialization_code_filepath", HONOURED,
               "read into environment_initialization_code", attribute="environment_initialization_code"),
    SettingRow("GymScene.pyodide", "on_game_step_code", HONOURED,
               "runs in the env's module right before every env.step, inside the simulated step (rollback re-runs it; "
               "the hash covers its effects); reading the page (import js) is refused"),
    SettingRow("GymScene.pyodide", "packages_to_install", HONOURED,
               "installed with micropip, exactly as listed (Interactive Gym's own package is not added)"),
    SettingRow("GymScene.pyodide", "restart_pyodide", HONOURED, "a fresh Pyodide interpreter for this scene"),
    SettingRow("GymScene.pyodide", "server_authoritative", REFUSED,
               "refused when True: peers are symmetric and hash-checked", default=False,
               why="is Interactive Gym's server-coordinated multiplayer; P2PGymScene replaces it, leave it False "
               "(peers compare a hash of every confirmed frame: validation(hash_interval))"),
    SettingRow("GymScene.pyodide", "state_broadcast_interval", REFUSED,
               "refused unless 30 (its default): use validation(hash_interval)", default=30,
               why="sets how often Interactive Gym's multiplayer clients sync state; P2P peers exchange a hash of "
               "every N-th confirmed frame instead: use validation(hash_interval=N)"),
    # ------------------------------------------------------------------ GymScene.player_grouping
    SettingRow("GymScene.player_grouping", "wait_for_known_group", HONOURED, "players of an earlier game wait for each other"),
    SettingRow("GymScene.player_grouping", "group_wait_timeout", HONOURED, "ms to wait for the known group"),
    SettingRow("GymScene.player_pairing", "wait_for_known_partner", HONOURED, "alias of wait_for_known_group",
               attribute="wait_for_known_group"),
    SettingRow("GymScene.player_pairing", "partner_wait_timeout", HONOURED, "alias of group_wait_timeout",
               attribute="group_wait_timeout"),
    # ------------------------------------------------------------------ attributes without a setter
    SettingRow("GymScene", "max_ping", REFUSED, "refused unless None: not read (Interactive Gym reads ExperimentConfig's)",
               default=None, why="is not read by Interactive Gym or P2P scenes; the ping limit is ExperimentConfig.hosting(max_ping)"),
    SettingRow("GymScene", "min_ping_measurements", REFUSED, "refused unless 5: not read", default=5,
               why="is not read by Interactive Gym or P2P scenes"),
    SettingRow("GymScene", "reset_timeout", REFUSED, "refused unless 3000: the pause between episodes is reset_freeze_s",
               default=3000, why="is the countdown of Interactive Gym's server-side games between episodes; a P2P "
               "scene pauses between episodes for gameplay(reset_freeze_s)"),
    SettingRow("GymScene", "env_seed", REFUSED, "refused unless 42: not read; use environment(seed)", default=42,
               why="is not read by Interactive Gym or P2P scenes; fix the shared seed with environment(seed=...)"),
    SettingRow("GymScene", "available_policies", REFUSED, "refused unless empty: AI seats use ai_policy()", default={},
               why=f"lists Interactive Gym's server-side policies; {_PEER}"),
    SettingRow("GymScene", "policy_configs", REFUSED, "refused unless empty: AI seats use ai_policy()", default={},
               why=f"configures Interactive Gym's server-side policies; {_PEER}"),
    SettingRow("GymScene", "game_has_composite_actions", INTERNAL, "derived from action_mapping"),
    SettingRow("Scene", "element_ids", INTERNAL, "static scenes' input elements; a GymScene has none"),
    SettingRow("Scene", "sio", INTERNAL, "set by the server"),
    SettingRow("Scene", "room", INTERNAL, "set by the server"),
    SettingRow("Scene", "status", INTERNAL, "set by the server"),
    # ------------------------------------------------------------------ ExperimentConfig
    SettingRow("ExperimentConfig.experiment", "experiment_id", HONOURED, "names the experiment (exports, health)"),
    SettingRow("ExperimentConfig.experiment", "stager", HONOURED, "the scenes served"),
    SettingRow("ExperimentConfig.experiment", "save_experiment_data", HONOURED, "False: no scene data or metadata files"),
    SettingRow("ExperimentConfig.hosting", "host", HONOURED,
               "interface server.run() binds without a ServerConfig (the command line binds its --host)"),
    SettingRow("ExperimentConfig.hosting", "port", HONOURED,
               "port server.run() binds without a ServerConfig (the command line binds its --port)"),
    SettingRow("ExperimentConfig.hosting", "max_ping", REFUSED,
               "refused unless 100000 (its default): no server-ping screening", default=100000,
               why="screens participants by their ping to Interactive Gym's server, which this server does not "
               "measure; leave it at its default (the peers' round trip is in each export's stats.rtt_ms)"),
    SettingRow("ExperimentConfig", "min_ping_measurements", REFUSED, "refused unless 5: goes with max_ping", default=5,
               why="goes with max_ping's server-ping screening, which this server does not do"),
)
"""The audit: every setting of Interactive Gym 0.1.1's Scene, GymScene and ExperimentConfig."""


def rows(call: str | None = None) -> list[SettingRow]:
    return [r for r in SETTINGS if call is None or r.call == call]


def _row(call: str, name: str) -> SettingRow:
    for r in SETTINGS:
        if r.call == call and r.name == name:
            return r
    raise KeyError(f"{call}({name}) is not in the porting table")


def refusal(row: SettingRow, value: Any) -> SceneConfigError:
    where = row.call.rsplit(".", 1)[-1]
    setting = f"{where}({row.name})" if "." in row.call else f"{row.call}.{row.name}"
    return SceneConfigError(setting, f"{row.why} (got {value!r})")


def check_given(call: str, given: dict[str, Any]) -> None:
    """Raise for the first refused value among a setter's given arguments."""
    for name, value in given.items():
        row = _row(call, name)
        if not row.accepts(value):
            raise refusal(row, value)


def check_scene(scene: Any) -> None:
    """Raise if any scene attribute holds a value its row refuses (however it got there)."""
    for row in SETTINGS:
        if row.call.startswith("ExperimentConfig") or not row.restricted:
            continue
        value = getattr(scene, row.attr, row.default)
        if value is not _UNSET and not row.accepts(value):
            raise refusal(row, value)


def check_experiment_config(config: Any) -> None:
    """Raise if an ExperimentConfig sets something this server refuses."""
    for row in rows():
        if not row.call.startswith("ExperimentConfig") or not row.restricted:
            continue
        value = getattr(config, row.attr, row.default)
        if not row.accepts(value):
            raise refusal(row, value)


def markdown_table() -> str:
    """The table of ``docs/porting.md`` (settings that are not bookkeeping)."""
    lines = ["| where | setting | in a P2P scene |", "|---|---|---|"]
    for r in SETTINGS:
        if r.verdict == INTERNAL:
            continue
        lines.append(f"| `{r.call}` | `{r.name}` | {r.p2p} |")
    return "\n".join(lines) + "\n"
