"""A genmodels plugin: a VAE whose prior is a Laplace distribution instead of N(0, I), and a metric of sample brightness."""

from dataclasses import dataclass

from genmodels import MetricSpec, ModelConfig, ModelSpec, TrainConfig, hookimpl, option
from genmodels.errors import ConfigError, NotApplicableError


@dataclass
class LaplaceConfig(ModelConfig):
    hidden: int = option(300, "Units of the encoder's and decoder's single hidden layer.")
    scale: float = option(1.0, "Scale b of the Laplace prior, density exp(-|z|/b) / 2b.")

    def validate(self):
        super().validate()
        if self.scale <= 0:
            raise ConfigError(f"scale must be positive, received {self.scale}.")


def build(config: LaplaceConfig):
    # TensorFlow is imported here, not at the top, so that `genmodels list` stays instant.
    import keras
    from keras import ops

    from genmodels import DiagonalGaussian, Encoder, GenerativeModel, LatentPrior
    from genmodels.components import BernoulliMLPDecoder, KLDivergence, Reconstruction

    class OneLayerEncoder(Encoder):
        """One hidden layer, then the mean and log-variance of a Gaussian q(z|x)."""

        def __init__(self, latent_dim, hidden, **kwargs):
            super().__init__(**kwargs)
            self.body = keras.layers.Dense(hidden, activation="relu")
            self.mean = keras.layers.Dense(latent_dim)
            self.log_var = keras.layers.Dense(latent_dim)

        def call(self, x, training=False):
            h = self.body(x)
            return DiagonalGaussian(self.mean(h), self.log_var(h))

    class LaplacePrior(LatentPrior):
        """p(z) = prod_i exp(-|z_i| / b) / 2b; the KL is the default Monte Carlo estimate."""

        def __init__(self, latent_dim, scale, **kwargs):
            super().__init__(latent_dim, **kwargs)
            self.scale = scale

        def sample(self, n, seed=None):
            u = keras.random.uniform((n, self.latent_dim), minval=-0.5, maxval=0.5, seed=seed)
            return -self.scale * ops.sign(u) * ops.log1p(-2.0 * ops.abs(u))

        def log_prob(self, z):
            return ops.sum(-ops.abs(z) / self.scale - ops.log(2.0 * self.scale), axis=-1)

    return GenerativeModel(
        encoder=OneLayerEncoder(config.latent_dim, config.hidden),
        decoder=BernoulliMLPDecoder(config.input_dim, hidden=(config.hidden,)),
        prior=LaplacePrior(config.latent_dim, config.scale),
        losses=[Reconstruction(), KLDivergence()],
    )


@hookimpl
def register_models(register):
    register(
        ModelSpec(
            name="laplace-vae",
            description="VAE with a Laplace prior and one hidden layer each way.",
            build=build,
            config=LaplaceConfig,
            train=TrainConfig(epochs=20, batch_size=100),
        )
    )


def intensity(context):
    """The samples' mean pixel value against the real images': a crude check that a model got the brightness right."""
    if context.samples < 2:
        raise NotApplicableError("it needs at least 2 samples")
    samples, real = context.generated(), context.images
    return {
        "samples": len(samples),
        "sample_mean": float(samples.mean()),
        "real_mean": float(real.mean()),
        "gap": float(abs(samples.mean() - real.mean())),
    }


@hookimpl
def register_metrics(register):
    register(MetricSpec("intensity", "Mean pixel value of the samples against the real images'.", compute=intensity))
