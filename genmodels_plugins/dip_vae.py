"""DIP-VAE (Kumar et al. 2018): the VAE plus a penalty that moves the covariance of its codings towards the identity.

The aggregate posterior q(z) of a disentangled model should have independent dimensions of unit variance. DIP-VAE
penalises the batch's covariance C of the encoder's means (-o variant=i) or of q(z) itself, C + the mean of the
posterior covariances (-o variant=ii): lambda_od times the sum of its squared off-diagonal entries plus lambda_d
times the sum of (C_ii - 1)^2. The `dip` term is that batch estimate, given to every image; it is auxiliary, so
`loss` stays the negative ELBO and the likelihood estimate is the VAE's.
"""

from __future__ import annotations

from dataclasses import dataclass

from genmodels import EPOCH_IMAGES, MLPConfig, ModelSpec, TrainConfig, hookimpl, option
from genmodels.errors import ConfigError


@dataclass
class DIPVAEConfig(MLPConfig):
    """The VAE's architecture and the covariance penalty: its variant and weights."""

    variant: str = option("i", "i: the covariance of the encoder's means; ii: of the aggregate posterior q(z).")
    lambda_od: float = option(10.0, "Weight of the squared off-diagonal covariances.")
    lambda_d: float = option(100.0, "Weight of the squared differences of the variances from 1.")

    def validate(self) -> None:
        super().validate()
        if self.variant not in ("i", "ii"):
            raise ConfigError(f"variant must be i or ii, received {self.variant!r}.")
        if not (self.lambda_od >= 0 and self.lambda_d >= 0):
            raise ConfigError(
                f"lambda_od and lambda_d must be 0 or more, received {self.lambda_od!r} and {self.lambda_d!r}."
            )


def build(config: DIPVAEConfig):
    """The seed's VAE with the auxiliary covariance penalty."""
    from genmodels.components import KLDivergence, Reconstruction, mlp_vae
    from genmodels.interfaces import Loss

    from keras import ops  # after genmodels, which imports TensorFlow quietly

    class DisentangledPrior(Loss):
        """lambda_od * sum_{i != j} C_ij^2 + lambda_d * sum_i (C_ii - 1)^2 of the batch's covariance C."""

        name, auxiliary = "dip", True

        def __call__(self, forward):
            mean = forward.posterior.mean()
            centred = mean - ops.mean(mean, axis=0, keepdims=True)
            rows = ops.cast(ops.shape(mean)[0], mean.dtype)
            covariance = ops.matmul(ops.transpose(centred), centred) / rows
            if config.variant == "ii":
                covariance = covariance + ops.diag(ops.mean(ops.exp(forward.posterior.log_var), axis=0))
            diagonal = ops.diagonal(covariance)
            off = ops.sum(ops.square(covariance)) - ops.sum(ops.square(diagonal))
            penalty = config.lambda_od * off + config.lambda_d * ops.sum(ops.square(diagonal - 1.0))
            return ops.zeros(ops.shape(mean)[:1], mean.dtype) + penalty

    return mlp_vae(config, losses=[Reconstruction(), KLDivergence(), DisentangledPrior()])


@hookimpl
def register_models(register):
    register(
        ModelSpec(
            name="dip-vae",
            description="DIP-VAE: the VAE with a penalty moving the covariance of its codings towards the identity.",
            build=build,
            config=DIPVAEConfig,
            train=TrainConfig(epochs=50, batch_size=150, learning_rate=1e-3, epoch_images=EPOCH_IMAGES),
        )
    )
