"""Scripted pick-and-place controllers for robosuite Lift and PickPlaceCan.

They stand in for robomimic's human MH demonstrations, which cannot be downloaded here. Each
is a small phase machine that steers the end effector with a proportional controller on
(waypoint - eef position) through the OSC_POSE delta action (7-D: dxyz, drot, gripper with
+1 = close). A per-demo ``Style`` (noise level, gain, pauses) makes the demos differ in
quality the way MH's better/okay/worse operators do; the controllers only see the robosuite
observation dict and read the can's target bin from the env (as a human operator sees it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

OPEN, CLOSE = -1.0, 1.0


@dataclass(frozen=True)
class Style:
    """How a demo is driven: a rough stand-in for an operator's skill."""

    noise: float  # std of Gaussian noise on the position action (rotation gets a third of it)
    gain: float  # proportional gain: action = gain * (waypoint - eef)
    pause_prob: float  # per-step chance to start a pause of 3-10 idle steps

    @classmethod
    def sample(cls, rng: np.random.Generator) -> Style:
        return cls(noise=float(rng.uniform(0.02, 0.3)), gain=float(rng.uniform(6.0, 14.0)),
                   pause_prob=float(rng.uniform(0.0, 0.08)))

    @property
    def quality(self) -> str:
        """better / okay / worse, by noise level (the MH operator tiers)."""
        return "better" if self.noise < 0.11 else "okay" if self.noise < 0.2 else "worse"

    def as_dict(self) -> dict:
        return {**asdict(self), "quality": self.quality}


class _PhaseController:
    """Walks through phases; each phase gives a waypoint and a gripper command."""

    def __init__(self, env, rng: np.random.Generator, style: Style):
        self.env, self.rng, self.style = env, rng, style
        self.phase, self.phase_steps, self.pause_left = 0, 0, 0
        self.memory: dict[str, np.ndarray] = {}

    def waypoint(self, obs) -> tuple[np.ndarray | None, float, bool]:
        """(target position or None to hold still, gripper command, phase finished?)."""
        raise NotImplementedError

    def act(self, obs) -> np.ndarray:
        eef = obs["robot0_eef_pos"]
        target, grip, finished = self.waypoint(obs)
        self.phase_steps += 1
        if finished:
            self.phase, self.phase_steps = self.phase + 1, 0
        action = np.zeros(7)
        action[6] = grip
        if self.pause_left > 0:  # an idle operator: arm still, gripper held
            self.pause_left -= 1
            return action
        if self.rng.uniform() < self.style.pause_prob:
            self.pause_left = int(self.rng.integers(3, 11))
        if target is not None:
            action[:3] = self.style.gain * (target - eef)
        action[:3] += self.rng.normal(0.0, self.style.noise, 3)
        action[3:6] = self.rng.normal(0.0, self.style.noise / 3, 3)
        return np.clip(action, -1.0, 1.0)


def _near(a, b, tol) -> bool:
    return bool(np.linalg.norm(np.asarray(a) - np.asarray(b)) < tol)


class ScriptedLift(_PhaseController):
    """Above the cube -> down to it -> close -> lift 20 cm."""

    def waypoint(self, obs):
        cube, eef = obs["cube_pos"], obs["robot0_eef_pos"]
        if "hover" not in self.memory:
            self.memory["hover"] = np.array([0.0, 0.0, self.rng.uniform(0.06, 0.12)])
        if self.phase == 0:  # approach from above, gripper open
            target = cube + self.memory["hover"]
            return target, OPEN, _near(eef, target, 0.015) or self.phase_steps > 80
        if self.phase == 1:  # descend onto the cube
            target = cube + np.array([0.0, 0.0, -0.005])
            return target, OPEN, _near(eef, target, 0.01) or self.phase_steps > 60
        if self.phase == 2:  # close the gripper in place
            return None, CLOSE, self.phase_steps >= 10
        self.memory.setdefault("lift", eef + np.array([0.0, 0.0, 0.2]))
        return self.memory["lift"], CLOSE, False


class ScriptedCan(_PhaseController):
    """Above the can -> down -> close -> lift -> over its bin -> lower -> open -> retreat up."""

    def waypoint(self, obs):
        can, eef = obs["Can_pos"], obs["robot0_eef_pos"]
        env = self.env
        bin_xyz = env.target_bin_placements[env.object_to_id["can"]]
        carry_z = bin_xyz[2] + 0.25
        if self.phase == 0:
            target = can + np.array([0.0, 0.0, 0.1])
            return target, OPEN, _near(eef, target, 0.015) or self.phase_steps > 80
        if self.phase == 1:
            target = can + np.array([0.0, 0.0, -0.01])
            return target, OPEN, _near(eef, target, 0.01) or self.phase_steps > 60
        if self.phase == 2:
            return None, CLOSE, self.phase_steps >= 10
        if self.phase == 3:  # straight up to carrying height
            target = np.array([eef[0], eef[1], carry_z])
            return target, CLOSE, abs(eef[2] - carry_z) < 0.02 or self.phase_steps > 60
        if self.phase == 4:  # across to above the bin
            target = np.array([bin_xyz[0], bin_xyz[1], carry_z])
            return target, CLOSE, _near(eef, target, 0.02) or self.phase_steps > 120
        if self.phase == 5:  # lower into the bin
            target = np.array([bin_xyz[0], bin_xyz[1], bin_xyz[2] + 0.12])
            return target, CLOSE, _near(eef, target, 0.02) or self.phase_steps > 60
        if self.phase == 6:  # let go
            return None, OPEN, self.phase_steps >= 8
        # Back off: robosuite counts the can as placed only once the gripper is > ~4 cm away.
        return np.array([bin_xyz[0], bin_xyz[1], carry_z]), OPEN, False


CONTROLLERS = {"Lift": ScriptedLift, "PickPlaceCan": ScriptedCan}
