"""Hosted (ONNX) seats the Python peer hosts (docs/ai.md "Hosted seats").

When the game makes this peer a seat's host (the lowest participant seat), it runs the seat's
ONNX model with Python onnxruntime (``pip install onnxruntime``; one intra-op thread) and hands
each result to the session as the seat's action, which the session sends to the others as that
seat's inputs. As in the browser: the model is fed the seat's observation of the newest
simulated frame (what the environment's last reset/step returned, flattened to float32, shape
``[1, n]``); the first output is scores (argmax, lowest index on ties) or an integer action.
Here inference is synchronous, once per tick that advanced; the action is held until the next.
The first decisions per seat are kept (``decisions``), as the browser host keeps them, so a test or
a researcher can check each against the model: the observation may be of a predicted frame that
the confirmed frames never had, so the seat's column alone cannot show which state was seen.
"""

from __future__ import annotations

from typing import Any, Sequence


class HostedPolicyError(RuntimeError):
    """A hosted seat's model cannot run here (no onnxruntime, or a broken model)."""


def action_from(output: Any) -> int:
    """The action from a model's first output: an integer tensor's first value, else the argmax."""
    import numpy as np

    arr = np.asarray(output).reshape(-1)
    if np.issubdtype(arr.dtype, np.integer):
        return int(arr[0])
    return int(np.argmax(arr))


MAX_DECISIONS = 2000


class HostedPolicies:
    def __init__(self, models: Sequence[tuple[int, bytes]]) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise HostedPolicyError("this Python peer hosts an ONNX seat but onnxruntime is not installed "
                                    "(pip install onnxruntime)") from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        self._sessions = []
        for seat, model in models:
            try:
                sess = ort.InferenceSession(bytes(model), options, providers=["CPUExecutionProvider"])
            except Exception as exc:  # onnxruntime raises its own types for a model it cannot load
                raise HostedPolicyError(f"hosted seat {seat}: the model cannot be loaded: {exc}") from None
            self._sessions.append((seat, sess, sess.get_inputs()[0].name))
        self.runs: dict[int, int] = {seat: 0 for seat, _m in models}
        self.decisions: dict[int, list[tuple[list[float], int]]] = {seat: [] for seat, _m in models}
        """Per seat, its first ``MAX_DECISIONS`` (observation, action) pairs, in order."""

    def step(self, env: Any, session: Any) -> None:
        """One inference per seat from the env's current observation; the result is its action."""
        import numpy as np

        for seat, sess, name in self._sessions:
            obs = env.observation(seat)
            if obs is None:
                continue
            flat = np.asarray(obs, dtype=np.float32).reshape(1, -1)
            action = action_from(sess.run(None, {name: flat})[0])
            session.set_hosted_action(seat, action)
            self.runs[seat] += 1
            if len(self.decisions[seat]) < MAX_DECISIONS:
                self.decisions[seat].append((flat[0].tolist(), action))
