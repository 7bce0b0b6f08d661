import torch

from cgpgan.config import NetworkConfig
from cgpgan.networks import build_networks
from cgpgan.networks.layers import EqualizedLinear, centred_one_hot


def test_centred_one_hot_has_zero_mean_and_unit_variance_over_categories():
    category = torch.eye(5).unsqueeze(1)  # all 5 categories, L = 1
    encoded = centred_one_hot(category)
    assert encoded.shape == (5, 5)
    assert torch.allclose(encoded.mean(dim=0), torch.zeros(5), atol=1e-6)
    assert torch.allclose(encoded.var(dim=0, unbiased=False), torch.ones(5), atol=1e-6)


def test_equalized_linear_scales_weights_at_run_time():
    layer = EqualizedLinear(4, 2)
    assert layer.weight.std() > 0.5  # stored as N(0, 1)
    x = torch.randn(3, 4)
    expected = x @ (layer.weight / 2).t() + layer.bias
    assert torch.allclose(layer(x), expected)


def test_critic_and_two_head_output_shapes():
    factory = build_networks(
        NetworkConfig(hidden_dim=8, depth=2), (2,), num_labels=3, num_categories=5
    )
    x = torch.randn(7, 2)
    assert factory.critic(3, 5)(x).shape == (7, 3, 5)
    adversarial, classification = factory.two_head((1, 1))(x)
    assert adversarial.shape == (7, 1, 1) and classification.shape == (7, 3, 5)


def _one_hot(index, labels, categories):
    return torch.nn.functional.one_hot(index, categories).float().view(-1, labels, categories)


def test_codebook_generator_selects_columns_of_the_table():
    config = NetworkConfig(
        hidden_dim=8, depth=2, conditioning="codebook", codebook_dim=6, latent_dim=3
    )
    generator = build_networks(config, (2,), num_labels=2, num_categories=4).generator()
    assert generator.codebook.table.shape == (6, 2, 4)
    category = _one_hot(torch.tensor([1, 3]), 2, 4)  # label 0 -> 1, label 1 -> 3
    codes = generator.codebook(category)
    assert torch.equal(codes[0, 0], generator.codebook.table[:, 0, 1])
    assert torch.equal(codes[0, 1], generator.codebook.table[:, 1, 3])

    latent = torch.randn(1, 3)
    out = generator(latent, category)
    assert out.shape == (1, 2)
    out.sum().backward()
    gradient = generator.codebook.table.grad
    # only the selected columns receive gradients
    assert gradient[:, 0, 1].abs().sum() > 0 and gradient[:, 1, 3].abs().sum() > 0
    assert gradient[:, 0, 0].abs().sum() == 0 and gradient[:, 1, 2].abs().sum() == 0


def test_generator_output_depends_on_the_category():
    for conditioning in ("plain", "codebook"):
        config = NetworkConfig(hidden_dim=8, depth=2, conditioning=conditioning, latent_dim=3)
        generator = build_networks(config, (2,), 1, 4).generator()
        latent = torch.randn(1, 3).expand(4, 3)
        out = generator(latent, torch.eye(4).unsqueeze(1))
        assert torch.unique(out, dim=0).shape[0] == 4, conditioning
