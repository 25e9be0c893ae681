"""The regularized autoencoder (RAE-L2, Ghosh et al. 2020): a deterministic autoencoder made a generative model
by a penalty on its codings, weight decay on its decoder, and a density fitted to the codings after training.

The cost is the reconstruction, `-o coding_weight` times ||z||^2 / 2 (the codings kept near the origin and
small, in place of the VAE's noise and KL) and `-o decay` times the decoder's summed squared weights (a smooth
decoder, so that codings between the training ones decode well). The weight decay is an auxiliary term: `loss`
is the reconstruction plus the coding penalty. Samples decode draws of the Gaussian mixture fitted to the training
codings after training (`genmodels fit-sampler`): the ex-post density estimation the paper proposes.
"""

from __future__ import annotations

from dataclasses import dataclass

from genmodels import EPOCH_IMAGES, MLPConfig, ModelSpec, TrainConfig, hookimpl, option
from genmodels.errors import ConfigError


@dataclass
class RAEConfig(MLPConfig):
    """The VAE's architecture, the weight of the coding penalty and the decoder's weight decay."""

    coding_weight: float = option(1.0, "Weight (beta) of ||z||^2 / 2 in the cost.")
    decay: float = option(1e-4, "Weight (lambda) of the decoder's summed squared weights in the cost.")

    def validate(self) -> None:
        super().validate()
        for name in ("coding_weight", "decay"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"{name} must be 0 or more, received {getattr(self, name)!r}.")


def build(config: RAEConfig):
    """The VAE's MLPs with a deterministic coding, a Gaussian fitted to the codings as its prior, and the penalties."""
    from genmodels.components import FittedGaussianPrior, Reconstruction, mlp_autoencoder
    from genmodels.interfaces import Loss

    from keras import ops  # after genmodels, which imports TensorFlow quietly

    class CodingPenalty(Loss):
        """||z||^2 / 2 of each image's coding."""

        name = "coding"

        def __init__(self, weight: float):
            self.weight = weight

        def __call__(self, forward):
            return 0.5 * ops.sum(ops.square(forward.z), axis=-1)

    class DecoderDecay(Loss):
        """The decoder's summed squared kernel weights, given to every image (auxiliary: a regulariser)."""

        name, auxiliary = "decay", True

        def __init__(self, weight: float):
            self.weight = weight

        def __call__(self, forward):
            kernels = [w for w in forward.decoder.trainable_weights if "kernel" in w.path]
            total = sum(ops.sum(ops.square(kernel)) for kernel in kernels)
            return ops.zeros_like(forward.z[:, 0]) + total

    return mlp_autoencoder(
        config,
        prior=FittedGaussianPrior(config.latent_dim),
        losses=[Reconstruction(), CodingPenalty(config.coding_weight), DecoderDecay(config.decay)],
    )


@hookimpl
def register_models(register):
    register(
        ModelSpec(
            name="rae",
            description="Regularized autoencoder (RAE-L2): a coding penalty, decoder weight decay, a density fitted after.",
            build=build,
            config=RAEConfig,
            train=TrainConfig(epochs=50, batch_size=150, learning_rate=1e-3, epoch_images=EPOCH_IMAGES),
        )
    )
