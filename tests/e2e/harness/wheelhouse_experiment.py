"""An experiment whose environment imports the researcher's own package, installed in each
browser by micropip from the server's wheelhouse (the Tug game; the push size and a label
come from the package ``tug_rules`` the test builds as a wheel)."""

from __future__ import annotations

from typing import Any

from interactive_gym_p2p.examples import tug



def environment_code(max_steps: int) -> str:
    base = tug.environment_initialization_code(num_players=2, max_steps=max_steps)
    return base + '''
import tug_rules  # from the wheelhouse (packages_to_install)


class RulesTug(TugEnv):
    """Tug whose push size and info label come from the researcher's package."""

    def step(self, actions):
        for agent in self.possible_agents:
            a = int(actions.get(agent, NOOP))
            if a in (LEFT, RIGHT):
                self._x = min(WIDTH - 10, max(10, self._x + tug_rules.push(a == RIGHT)))
                self._pushes[agent] += 1
        self._t += 1
        done = self._t >= self.max_steps
        obs = self._observations()
        info = {a: {"rules": tug_rules.LABEL} for a in obs}
        return obs, {a: 0 for a in obs}, {a: done for a in obs}, {a: False for a in obs}, info


env = RulesTug(num_players=2, max_steps=%d)
''' % max_steps


def build_stager(max_steps: int = 90, **p2p: Any):
    from interactive_gym.scenes.stager import Stager
    from interactive_gym.scenes.static_scene import EndScene, StartScene

    from interactive_gym_p2p.scene import P2PGymScene

    start = StartScene().scene(scene_id="welcome").display(scene_header="Tug", scene_body="<p>Press Continue.</p>")
    game = (
        P2PGymScene()
        .scene(scene_id="tug_rules")
        .pyodide(environment_initialization_code=environment_code(max_steps), packages_to_install=["tug-rules"])
        .gameplay(default_action=tug.NOOP, action_mapping=tug.ACTION_MAPPING, num_episodes=1, max_steps=max_steps)
        .rendering(fps=30, game_width=tug.WIDTH, game_height=tug.HEIGHT, background="#111827")
        .validation(record_info=["rules"])
        .p2p(players=2, **p2p)
    )
    end = EndScene().scene(scene_id="thanks").display(scene_header="Thank you!", scene_body="<p>Done.</p>")
    return Stager(scenes=[start, game, end])
