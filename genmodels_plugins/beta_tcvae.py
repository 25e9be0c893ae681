"""beta-TCVAE (Chen et al. 2018): the VAE with the total correlation of its codings weighted by beta.

The KL term splits into the mutual information between images and codings, the total correlation of the
aggregate posterior q(z) (how far its dimensions are from independent) and the dimension-wise KL to the prior;
beta-TCVAE weights only the total correlation, so the codings are pressed towards independent factors without
the information loss of beta-VAE's whole-KL weight. The cost is the reconstruction, the KL and (beta - 1) times
the `tc` term, the batch's estimate of the total correlation: log q(z_i) - sum_d log q(z_id), each density the
mean of q(z | x_j) over the batch's images x_j (the batch as the sample of the aggregate posterior; Chen et al.'s
minibatch-weighted sampling differs by constants that move no gradient). `tc` is auxiliary, so `loss` stays the
negative ELBO and the likelihood estimate is the VAE's.
"""

from __future__ import annotations

from dataclasses import dataclass

from genmodels import EPOCH_IMAGES, MLPConfig, ModelSpec, TrainConfig, hookimpl, option
from genmodels.errors import ConfigError


@dataclass
class BetaTCVAEConfig(MLPConfig):
    """The VAE's architecture and the weight of the total correlation."""

    beta: float = option(6.0, "Weight of the total correlation in the cost (1: the plain VAE).")

    def validate(self) -> None:
        super().validate()
        if not self.beta >= 1:
            raise ConfigError(f"beta must be 1 or more, received {self.beta!r}.")


def build(config: BetaTCVAEConfig):
    """The seed's VAE with an auxiliary total-correlation term weighted by beta - 1."""

    from genmodels.components import KLDivergence, Reconstruction, mlp_vae
    from genmodels.distributions import LOG_2PI
    from genmodels.interfaces import Loss

    from keras import ops  # after genmodels, which imports TensorFlow quietly

    class TotalCorrelation(Loss):
        """log q(z_i) - sum_d log q(z_id) of each image's coding: their mean over the batch estimates TC(q(z))."""

        name, auxiliary = "tc", True

        def __init__(self, weight: float):
            self.weight = weight

        def __call__(self, forward):
            z, posterior = forward.z, forward.posterior
            # log q(z_id | x_j) for every coding i, image j and dimension d: (batch, batch, dims)
            each = -0.5 * (
                LOG_2PI
                + posterior.log_var[None, :, :]
                + ops.square(z[:, None, :] - posterior.loc[None, :, :]) * ops.exp(-posterior.log_var[None, :, :])
            )
            log_batch = ops.log(ops.cast(ops.shape(z)[0], z.dtype))
            joint = ops.logsumexp(ops.sum(each, axis=2), axis=1) - log_batch
            marginals = ops.sum(ops.logsumexp(each, axis=1) - log_batch, axis=1)
            return joint - marginals  # each image's share; their mean is the estimate

    return mlp_vae(config, losses=[Reconstruction(), KLDivergence(), TotalCorrelation(config.beta - 1.0)])


@hookimpl
def register_models(register):
    register(
        ModelSpec(
            name="beta-tcvae",
            description="beta-TCVAE: the VAE with the total correlation of its codings weighted by beta (-o beta=6).",
            build=build,
            config=BetaTCVAEConfig,
            train=TrainConfig(epochs=50, batch_size=150, learning_rate=1e-3, epoch_images=EPOCH_IMAGES),
        )
    )
