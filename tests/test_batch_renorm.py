"""BatchRenorm against a hand-written reference of CrossQ's formulas."""

import pytest
import torch

from sacflow.networks.batch_renorm import BatchRenorm


def reference(x, ra_mean, ra_var, steps, w, b, eps=1e-3, r_max=3.0, d_max=5.0, warmup=100_000):
    mu = x.mean(0)
    var = x.var(0, unbiased=False)
    if steps >= warmup:
        ra_std = torch.sqrt(ra_var + eps)
        r = torch.clamp(torch.sqrt(var + eps) / ra_std, 1 / r_max, r_max)
        d = torch.clamp((mu - ra_mean) / ra_std, -d_max, d_max)
        mean_star, var_star = mu - d * torch.sqrt(var) / r, var / r**2
    else:
        mean_star, var_star = mu, var
    y = w * (x - mean_star) / torch.sqrt(var_star + eps) + b
    return y, 0.99 * ra_mean + 0.01 * mu, 0.99 * ra_var + 0.01 * var


def test_training_mode_before_warmup_is_batchnorm_with_biased_variance():
    torch.manual_seed(0)
    brn = BatchRenorm(5)
    x = torch.randn(64, 5) * 3 + 1
    y = brn(x)
    expected, ra_mean, ra_var = reference(x, torch.zeros(5), torch.ones(5), 0, brn.weight, brn.bias)
    torch.testing.assert_close(y, expected)
    torch.testing.assert_close(brn.running_mean, ra_mean)
    torch.testing.assert_close(brn.running_var, ra_var)
    assert brn.steps.item() == 1


@pytest.mark.parametrize("shift", [0.5, 40.0])  # 40 forces both r and d into their clips
def test_renormalisation_after_warmup_matches_formula(shift):
    torch.manual_seed(1)
    brn = BatchRenorm(4, warmup_steps=3)
    with torch.no_grad():
        brn.weight.uniform_(0.5, 2.0)
        brn.bias.uniform_(-1, 1)
    for _ in range(3):
        brn(torch.randn(32, 4))
    ra_mean, ra_var = brn.running_mean.clone(), brn.running_var.clone()
    x = torch.randn(32, 4) * (1 + shift / 10) + shift
    expected, new_mean, new_var = reference(x, ra_mean, ra_var, 3, brn.weight, brn.bias, warmup=3)
    torch.testing.assert_close(brn(x), expected)
    torch.testing.assert_close(brn.running_mean, new_mean)
    torch.testing.assert_close(brn.running_var, new_var)


def test_eval_mode_uses_running_statistics_and_leaves_them_alone():
    brn = BatchRenorm(3)
    brn.running_mean.fill_(2.0)
    brn.running_var.fill_(4.0)
    brn.eval()
    x = torch.randn(7, 3)
    torch.testing.assert_close(brn(x), (x - 2.0) / torch.sqrt(torch.tensor(4.0 + 1e-3)))
    assert brn.steps.item() == 0 and brn.running_mean[0].item() == 2.0


def test_step_counter_counts_calls_and_tokens_count_as_batch():
    brn = BatchRenorm(6)
    x = torch.randn(8, 1, 6)
    for _ in range(4):  # a module shared by K = 4 flow steps
        assert brn(x).shape == x.shape
    assert brn.steps.item() == 4
    torch.testing.assert_close(BatchRenorm(6)(x).squeeze(1), BatchRenorm(6)(x.squeeze(1)))


def test_gradients_stay_finite_for_a_constant_feature_after_warmup():
    brn = BatchRenorm(2, warmup_steps=0)
    x = torch.cat([torch.randn(16, 1), torch.full((16, 1), 0.25)], dim=1).requires_grad_(True)
    brn(x).pow(2).sum().backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(brn.weight.grad).all()


def test_differs_from_torch_batchnorm_running_variance():
    """torch's BatchNorm stores the unbiased variance: exactly why it is not a substitute."""
    x = torch.randn(4, 3)
    brn, bn = BatchRenorm(3), torch.nn.BatchNorm1d(3, momentum=0.01)
    brn(x)
    bn(x)
    torch.testing.assert_close(brn.running_mean, bn.running_mean)
    assert not torch.allclose(brn.running_var, bn.running_var)
