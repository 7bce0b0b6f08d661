"""Convolutional networks: shapes at every resolution, both designs, both conditionings."""

import pytest
import torch

from cgpgan.config import load_config
from cgpgan.networks import ConvFactory, build_networks
from cgpgan.networks.conv import MinibatchStd


def network_config(*overrides: str):
    return load_config(
        None,
        [
            "data.name=digits",
            "network.channels=4",
            "network.max_channels=16",
            "network.latent_dim=8",
            *overrides,
        ],
    ).network


@pytest.mark.parametrize("resolution", [8, 16, 28, 32, 64, 128, 256])
@pytest.mark.parametrize("channels", [1, 3])
def test_generator_and_critic_shapes_at_every_resolution(resolution, channels):
    factory = build_networks(
        network_config(), (channels, resolution, resolution), num_labels=2, num_categories=5
    )
    assert isinstance(factory, ConvFactory)
    generator, critic = factory.generator(), factory.critic(2, 5)
    category = torch.nn.functional.one_hot(torch.randint(5, (3, 2)), 5).float()
    images = generator(torch.randn(3, 8), category)
    assert images.shape == (3, channels, resolution, resolution)
    assert critic(images).shape == (3, 2, 5)


@pytest.mark.parametrize("architecture", ["dcgan", "resnet"])
@pytest.mark.parametrize("conditioning", ["plain", "codebook"])
def test_designs_and_conditionings(architecture, conditioning):
    config = network_config(
        f"network.architecture={architecture}", f"network.conditioning={conditioning}"
    )
    factory = build_networks(config, (1, 16, 16), num_labels=2, num_categories=4)
    generator = factory.generator()
    adversarial, classification = factory.two_head((1, 1))(torch.randn(5, 1, 16, 16))
    assert adversarial.shape == (5, 1, 1) and classification.shape == (5, 2, 4)
    latent = torch.randn(2, 8).repeat_interleave(4, dim=0)
    category = torch.zeros(8, 2, 4)
    category[torch.arange(8), 0, torch.arange(8) % 4] = 1
    category[:, 1, 0] = 1
    images = generator(latent, category)
    assert images.shape == (8, 1, 16, 16)
    # the category changes the image for the same z
    assert not torch.allclose(images[0], images[1])
    if conditioning == "codebook":
        assert generator.codebook.table.shape == (16 // 2 * 16, 2, 4)


def test_resnet_has_residual_blocks_and_blur():
    factory = build_networks(network_config("network.architecture=resnet"), (3, 32, 32), 1, 4)
    names = [type(m).__name__ for m in factory.critic(1, 4).modules()]
    assert "Resample" in names and names.count("Block") == 4
    blocks = [m for m in factory.generator().modules() if type(m).__name__ == "Block"]
    assert all(block.residual for block in blocks)


def test_non_square_or_odd_sizes_are_refused():
    with pytest.raises(ValueError, match="4 to 7 times a power of two"):
        build_networks(network_config(), (1, 18, 18), 1, 4)


def test_batch_norm_and_tanh_options():
    config = network_config(
        "network.generator_batch_norm=true",
        "network.critic_batch_norm=true",
        "network.tanh_output=true",
    )
    factory = build_networks(config, (1, 16, 16), num_labels=1, num_categories=3)
    generator, critic = factory.generator(), factory.critic(1, 3)
    for network in (generator, critic):
        assert any(
            isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)) for m in network.modules()
        )
    category = torch.nn.functional.one_hot(torch.randint(3, (6, 1)), 3).float()
    images = generator(torch.randn(6, 8) * 100, category)
    assert images.abs().max() <= 1.0 and critic(images).shape == (6, 1, 3)


def test_critic_batch_norm_skips_only_the_layer_reading_the_image():
    """DCGAN: no normalisation on the first strided convolution; resnet: the 1x1 lift
    reads the image, so every block is normalised, even when it is as narrow as the image."""

    def normalised_blocks(architecture):
        config = network_config(
            f"network.architecture={architecture}",
            "network.critic_batch_norm=true",
            "network.channels=1",
        )
        critic = build_networks(config, (1, 16, 16), 1, 3).critic(1, 3)
        blocks = [m for m in critic.modules() if type(m).__name__ == "Block"]
        return [isinstance(block.norm1, torch.nn.BatchNorm2d) for block in blocks]

    assert normalised_blocks("dcgan") == [False, True]
    assert normalised_blocks("resnet") == [True, True, True]


@pytest.mark.parametrize("architecture", ["dcgan", "resnet"])
def test_critic_group_norm_and_elu_option(architecture):
    """The structural-objectives paper's critic: GroupNorm where batch norm would be, ELU;
    no batch statistics, so each sample's output depends on that sample alone."""
    config = network_config(
        f"network.architecture={architecture}",
        "network.critic_group_norm=true",
        "network.critic_activation=elu",
    )
    critic = build_networks(config, (1, 16, 16), 1, 3).critic(1, 3)
    kinds = {type(m).__name__ for m in critic.modules()}
    assert "GroupNorm" in kinds and "ELU" in kinds
    assert not kinds & {"BatchNorm2d", "BatchNorm1d", "LeakyReLU"}
    images = torch.randn(5, 1, 16, 16)
    alone = critic(images[:1])
    assert torch.allclose(critic(images)[:1], alone, atol=1e-5)
    with pytest.raises(Exception, match="critic_group_norm"):
        network_config("network.critic_group_norm=true", "network.critic_batch_norm=true")


def test_minibatch_std_groups_samples_and_scores_leftovers_like_whole_groups():
    layer = MinibatchStd(group=4)
    x = torch.randn(10, 3, 2, 2)
    feature = layer(x)[:, -1, 0, 0]
    assert layer(x).shape == (10, 4, 2, 2)
    # 8 samples in 2 groups: sample i is grouped with i + 2, i + 4, i + 6
    for start in range(2):
        expected = x[start:8:2].var(dim=0, unbiased=False).add(1e-8).sqrt().mean()
        assert torch.allclose(feature[start:8:2], expected.expand(4))
    # the 2 samples left over get the mean of the groups' deviations, not "no spread"
    assert torch.allclose(feature[8:], feature[:2].mean().expand(2))
    # a batch of whole groups is unchanged by appending leftovers
    assert torch.allclose(layer(x[:8])[:, -1], layer(x)[:8, -1])
    # identical samples have no spread; a critic with the option runs at any batch size
    assert torch.allclose(layer(x[:1].expand(4, -1, -1, -1))[:, -1], torch.tensor(1e-4))
    critic = build_networks(
        network_config("network.minibatch_std=true"), (1, 28, 28), 1, 10
    ).critic(1, 10)
    for batch in (1, 3, 5, 64):
        assert critic(torch.randn(batch, 1, 28, 28)).shape == (batch, 1, 10)


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("direction", ["up", "down"])
def test_blur_is_the_depthwise_binomial_convolution_also_in_double_backward(direction, layout):
    """The blurred resampling (bilinear up-sampling; before down-sampling, sums of shifted
    copies on contiguous batches and box means on channels-last ones) gives the numbers of
    the depthwise 3x3 convolution with the [1, 2, 1] x [1, 2, 1] / 16 kernel and replicated
    edges, and so do its gradient and the gradient of a gradient penalty through it."""
    import torch.nn.functional as F

    from cgpgan.networks.layers import Resample

    kernel = torch.tensor([1.0, 2.0, 1.0])
    kernel = (kernel[:, None] * kernel[None, :] / 16).view(1, 1, 3, 3)

    def depthwise(x):
        padded = F.pad(x, (1, 1, 1, 1), mode="replicate")
        return F.conv2d(padded, kernel.expand(x.shape[1], 1, 3, 3), groups=x.shape[1])

    def reference(x):
        if direction == "up":
            return depthwise(F.interpolate(x, scale_factor=2, mode="nearest"))
        return F.avg_pool2d(depthwise(x), 2)

    def penalty_gradient(resample, x, weights):
        x = x.clone().requires_grad_(True)
        out = resample(x)
        (first,) = torch.autograd.grad((out * weights).sum(), x, create_graph=True)
        (second,) = torch.autograd.grad((out.square().sum() + first.square().sum()), x)
        return out, first, second

    x = torch.randn(3, 5, 8, 8, generator=torch.Generator().manual_seed(0))
    x = x.contiguous(memory_format=layout)
    size = 16 if direction == "up" else 4
    weights = torch.randn(3, 5, size, size, generator=torch.Generator().manual_seed(1))
    ours = penalty_gradient(Resample(direction, blur=True), x, weights)
    expected = penalty_gradient(reference, x, weights)
    for value, wanted in zip(ours, expected):
        torch.testing.assert_close(value, wanted, rtol=1e-5, atol=1e-6)
