"""The K-step rollout and its joint path log-density, checked against independent computations."""

import math

import pytest
import torch
from torch import distributions as D
from torch import nn

from sacflow.networks.velocity import FlowGVelocity, FlowTVelocity, MLPVelocity, VelocityField
from sacflow.policies.flow import FlowPolicy

OBS, ACT, K = 5, 3, 4
LOW, HIGH = [-2.0, -1.0, 0.0], [2.0, 1.0, 3.0]  # non-symmetric box: scale and bias both matter


def tanh_affine_log_det(x):
    """log|d a / d x| through torch.distributions' own transforms (+1e-6 guard aside)."""
    low, high = torch.tensor(LOW), torch.tensor(HIGH)
    affine = D.AffineTransform((high + low) / 2, (high - low) / 2)
    tanh = D.TanhTransform()
    y = tanh(x)
    return (tanh.log_abs_det_jacobian(x, y) + affine.log_abs_det_jacobian(y, affine(y))).sum(-1)


def path_log_density(policy, obs, path, dt):
    """Recompute the pre-squash path density, one torch.distributions factor at a time."""
    logp = D.Normal(0.0, 1.0).log_prob(path[0]).sum(-1)
    ctx = policy.velocity.context(obs)
    for k in range(policy.steps):
        u, log_sigma = policy.velocity(ctx, path[k], torch.full((1, 1), k * dt, dtype=obs.dtype), k)
        sigma = torch.exp(log_sigma) if policy.noise_std is None else torch.full_like(u, policy.noise_std)
        std = sigma * dt if policy.noise_on == "velocity" else sigma
        logp = logp + D.Normal(path[k] + dt * u, std).log_prob(path[k + 1]).sum(-1)
    return logp


def pre_squash(policy, out):
    """The policy's log p with its own squash term added back (tested on its own below)."""
    return out.log_prob + policy.squash(out.path[-1])[1]


def test_squash_log_det_matches_torch_transforms():
    x = torch.linspace(-3, 3, 61).unsqueeze(-1).expand(61, ACT)
    from sacflow.policies.squash import TanhSquash

    action, log_det = TanhSquash(LOW, HIGH)(x)
    lo, hi = torch.tensor(LOW), torch.tensor(HIGH)
    torch.testing.assert_close(action, torch.tanh(x) * (hi - lo) / 2 + (hi + lo) / 2)
    # The +1e-6 guard (CleanRL's) shifts the exact value by < 1e-6 / min_j scale_j(1 - tanh^2) per dim.
    torch.testing.assert_close(log_det, tanh_affine_log_det(x), atol=1e-3, rtol=1e-5)


VELOCITIES = {
    "mlp": lambda **kw: MLPVelocity(hidden=(32, 32), **kw),
    "flow_g": lambda **kw: FlowGVelocity(candidate_hidden=(32,), gate_hidden=(32,), log_std_hidden=(32,), **kw),
    "flow_t": lambda **kw: FlowTVelocity(d_model=16, n_heads=2, **kw),
}


@pytest.mark.parametrize("name", sorted(VELOCITIES))
@pytest.mark.parametrize("noise_on", ["state", "velocity"])
def test_log_density_matches_per_factor_distributions(name, noise_on):
    torch.manual_seed(0)
    # float64 so the recomputation's (x - m) / s cancellation does not blur the comparison.
    policy = FlowPolicy(VELOCITIES[name], OBS, ACT, LOW, HIGH, steps=K, noise_on=noise_on).double().eval()
    obs = torch.randn(64, OBS, dtype=torch.float64)
    with torch.no_grad():
        out = policy(obs, keep_path=True)
        expected = path_log_density(policy, obs, [x.detach() for x in out.path], 1 / K)
    torch.testing.assert_close(pre_squash(policy, out), expected, atol=1e-9, rtol=1e-9)
    lo, hi = torch.tensor(LOW), torch.tensor(HIGH)
    assert ((out.action >= lo) & (out.action <= hi)).all()  # float32 tanh saturates to the bounds


def test_official_flow_t_log_density_drops_the_sigma_terms():
    torch.manual_seed(1)
    make = lambda flag: FlowPolicy(VELOCITIES["flow_t"], OBS, ACT, LOW, HIGH, steps=K, noise_on="velocity", logp_sigma_term=flag)
    full, official = make(True).eval(), make(False).eval()
    official.load_state_dict(full.state_dict())
    obs = torch.randn(16, OBS)
    torch.manual_seed(2)
    a = full(obs, keep_path=True)
    torch.manual_seed(2)
    b = official(obs)
    # Recover sum_k log s_k from the velocity network itself.
    with torch.no_grad():
        ctx, total = full.velocity.context(obs), torch.zeros(16)
        for k in range(K):
            _, log_sigma = full.velocity(ctx, a.path[k], torch.full((1, 1), k / K), k)
            total += (log_sigma + math.log(1 / K)).sum(-1)
    torch.testing.assert_close(b.log_prob.detach(), a.log_prob.detach() + total, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(a.action, b.action)


class LinearVelocity(VelocityField):
    """u = A x + c: the path is jointly Gaussian, so its density has a closed form."""

    learns_noise = False

    def __init__(self, obs_dim, act_dim, steps):
        super().__init__()
        g = torch.Generator().manual_seed(3)
        self.A = nn.Parameter(torch.randn(act_dim, act_dim, generator=g) * 0.5)
        self.c = nn.Parameter(torch.randn(act_dim, generator=g))

    def forward(self, ctx, x, t, k):
        return x @ self.A.T + self.c, None


def linear_path_gaussian(A, c, sigma, steps, noise_on):
    """Mean and covariance of (x_0, ..., x_K) stacked, from x_{k+1} = M x_k + dt c + s eps_k."""
    d, dt = A.shape[0], 1 / steps
    s = sigma * dt if noise_on == "velocity" else sigma
    M = torch.eye(d, dtype=torch.float64) + dt * A.double()
    n = d * (steps + 1)
    # Path = L @ [x_0; eps_0..eps_{K-1}] + m, with L block lower triangular.
    L, m = torch.zeros(n, n, dtype=torch.float64), torch.zeros(n, dtype=torch.float64)
    L[:d, :d] = torch.eye(d)
    for k in range(steps):
        rows, prev = slice((k + 1) * d, (k + 2) * d), slice(k * d, (k + 1) * d)
        L[rows] = M @ L[prev]
        L[rows, rows] = s * torch.eye(d)
        m[rows] = M @ m[prev] + dt * c.double()
    return m, L @ L.T


@pytest.mark.parametrize("noise_on", ["state", "velocity"])
def test_linear_velocity_joint_density_is_the_closed_form_gaussian(noise_on):
    torch.manual_seed(4)
    sigma = 0.3
    policy = FlowPolicy(LinearVelocity, OBS, ACT, LOW, HIGH, steps=K, noise_on=noise_on, noise_std=sigma)
    out = policy(torch.zeros(32, OBS), keep_path=True)
    path = torch.cat([x.detach() for x in out.path], dim=-1).double()
    mean, cov = linear_path_gaussian(policy.velocity.A.detach(), policy.velocity.c.detach(), sigma, K, noise_on)
    expected = D.MultivariateNormal(mean, cov).log_prob(path)
    torch.testing.assert_close(pre_squash(policy, out).detach().double(), expected, atol=1e-4, rtol=1e-5)


def test_linear_velocity_terminal_marginal_matches_sampling():
    torch.manual_seed(5)
    sigma = 0.2
    policy = FlowPolicy(LinearVelocity, OBS, ACT, [-1.0] * ACT, [1.0] * ACT, steps=K, noise_std=sigma)
    with torch.no_grad():
        out = policy(torch.zeros(200_000, OBS), keep_path=True)
    x_k = out.path[-1].double()
    mean, cov = linear_path_gaussian(policy.velocity.A.detach(), policy.velocity.c.detach(), sigma, K, "state")
    last = slice(K * ACT, (K + 1) * ACT)
    torch.testing.assert_close(x_k.mean(0), mean[last], atol=0.02, rtol=0)
    torch.testing.assert_close(torch.cov(x_k.T), cov[last, last], atol=0.03, rtol=0.02)


def test_deterministic_rollout_is_plain_euler_from_zero():
    torch.manual_seed(6)
    policy = FlowPolicy(VELOCITIES["flow_g"], OBS, ACT, LOW, HIGH, steps=K).eval()
    obs = torch.randn(8, OBS)
    with torch.no_grad():
        out = policy(obs, deterministic=True)
        x, ctx = torch.zeros(8, ACT), policy.velocity.context(obs)
        for k in range(K):
            x = x + policy.velocity(ctx, x, torch.full((1, 1), k / K), k)[0] / K
    torch.testing.assert_close(out.action, policy.squash(x)[0])
    assert out.log_prob is None
    torch.testing.assert_close(policy(obs, deterministic=True).action, out.action)


def test_drift_correction_preserves_the_terminal_marginal():
    """For x_1 ~ N(mu, tau^2) the exact rectified-flow velocity is known; with App. A's
    drift the noisy rollout must still end at N(mu, tau^2), without it the variance grows."""
    mu, tau = 0.7, 0.5

    class ExactVelocity(VelocityField):
        learns_noise = False

        def forward(self, ctx, x, t, k):
            gain = (t * tau**2 - (1 - t)) / ((1 - t) ** 2 + (t * tau) ** 2)
            return mu + gain * (x - t * mu), None

    torch.manual_seed(7)
    results = {}
    for corrected in (True, False):
        policy = FlowPolicy(lambda **kw: ExactVelocity(), 1, 1, [-10.0], [10.0], steps=100, noise_std=0.05, drift_correction=corrected)
        with torch.no_grad():
            x_k = policy(torch.zeros(20_000, 1), keep_path=True).path[-1]
        results[corrected] = (x_k.mean().item(), x_k.std().item())
    assert abs(results[True][0] - mu) < 0.02 and abs(results[True][1] - tau) < 0.02
    assert results[False][1] > tau + 0.1
