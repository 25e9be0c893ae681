"""A VAE with two stochastic layers (Burda et al. 2015; the HVAE of Tomczak & Welling 2018):

    q(z1, z2 | x) = q(z2 | x) q(z1 | x, z2),        p(x, z1, z2) = p(x | z1, z2) p(z1 | z2) p(z2)

with p(z2) a VampPrior (or N(0, I) with `-o components=0`), trained on the ELBO or, with `-o k=5`,
on iwae's importance-weighted bound; `-o flows=4` makes q(z1 | x, z2) an inverse autoregressive flow
(the steps of iaf-vae). The coding the core sees is z = [z1, z2]: the encoder and prior that join the
two layers are `genmodels.components.TwoLayerEncoder` and `TwoLayerPrior` (any networks that return a
Distribution fit them), here with MLPs; the decoder reads both layers; the losses, the KL (its Monte
Carlo estimate) and every command are the core's.
"""

from __future__ import annotations

from dataclasses import dataclass

from genmodels import EPOCH_IMAGES, MLPConfig, ModelSpec, TrainConfig, hookimpl, option
from genmodels.errors import ConfigError


@dataclass
class HVAEConfig(MLPConfig):
    """z1's size is latent_dim; z2's is top_dim. The conditional layers have one hidden layer of the last hidden size."""

    hidden: tuple[int, ...] = option(
        (300, 300), "Hidden layer sizes of the encoder q(z2 | x); the decoder mirrors them."
    )
    activation: str = option(
        "gated",
        "Activation of the hidden layers: gated (gated linear units, as in Tomczak & Welling's HVAE) or a Keras activation name.",
    )
    latent_dim: int = option(40, "Dimension of the bottom coding z1.")
    top_dim: int = option(40, "Dimension of the top coding z2.")
    components: int = option(500, "Pseudo-inputs of the VampPrior over z2 (0: p(z2) = N(0, I)).")
    branches: int = option(
        0,
        "Tomczak & Welling's wiring when above 0: q(z1 | x, z2) reads x and z2, and p(x | z1, z2) reads z1 and z2, "
        "through separate layers of this many units joined before one more layer, and p(z1 | z2) has all the hidden layers.",
        minimum=0,
    )
    k: int = option(1, "Importance samples per image: 1 trains on the ELBO, more on iwae's k-sample bound.")
    flows: int = option(
        0,
        "Inverse autoregressive steps after q(z1 | x, z2)'s Gaussian (0: none), as iaf-vae has after its encoder.",
        minimum=0,
    )
    made_hidden: tuple[int, ...] = option((300, 300), "With flows: hidden layers of each step's MADE, comma-separated.")
    context: int = option(100, "With flows: width of the context h that q(z1 | x, z2) gives every step.", minimum=1)

    def validate(self) -> None:
        super().validate()
        if self.top_dim < 1 or self.components < 0 or self.k < 1:
            raise ConfigError(
                f"top_dim and k must be at least 1 and components at least 0, received {self.top_dim}, {self.k} and {self.components}."
            )


def build(config: HVAEConfig):
    """Two Gaussian layers of codings between an MLP encoder and an MLP decoder (Bernoulli for binary images)."""
    from genmodels.components import (
        FlowMLPEncoder,
        GaussianMLPEncoder,
        ImportanceWeightedBound,
        KLDivergence,
        MLPDecoder,
        Reconstruction,
        StandardNormalPrior,
        TwoLayerEncoder,
        TwoLayerPrior,
        VampPrior,
        autoregressive_steps,
        dropout_of,
        likelihood_of,
    )
    from genmodels.model import GenerativeModel

    d1, d2, last = config.latent_dim, config.top_dim, config.hidden[-1:]
    options = dict(activation=config.activation, initializer=config.initializer)
    if config.flows:  # q(z1 | x, z2) as a Gaussian pushed through IAF steps, their order reversed in turn
        steps = autoregressive_steps(config.flows, d1, config.context, config.made_hidden)
        bottom = FlowMLPEncoder(d1, steps, hidden=last, **options, branches=config.branches, name="bottom")
    else:
        bottom = GaussianMLPEncoder(d1, hidden=last, **options, branches=config.branches, name="bottom")
    encoder = TwoLayerEncoder(
        top=GaussianMLPEncoder(d2, hidden=config.hidden, **options, name="top"),  # q(z2 | x)
        bottom=bottom,  # q(z1 | x, z2): x with z2 as its condition
        input_dim=config.input_dim,
    )
    # with branches (the paper's wiring) the decoder's branches and one joint layer, and a deeper p(z1 | z2)
    decoder_hidden, conditional_hidden = (last, config.hidden) if config.branches else (config.hidden[::-1], last)
    top_prior = (
        VampPrior(encoder.top, config.components, config.input_dim) if config.components else StandardNormalPrior(d2)
    )
    return GenerativeModel(
        encoder=encoder,
        decoder=MLPDecoder(
            config.input_dim,
            hidden=decoder_hidden,
            likelihood=likelihood_of(config),
            **options,
            branches=config.branches,
            split=d1,
            dropout=dropout_of(config),
        ),
        prior=TwoLayerPrior(
            top_prior, GaussianMLPEncoder(d1, hidden=conditional_hidden, **options, name="conditional")
        ),  # p(z1 | z2) p(z2)
        losses=[Reconstruction(), KLDivergence()] if config.k == 1 else [ImportanceWeightedBound(config.k)],
    )


@hookimpl
def register_models(register):
    register(
        ModelSpec(
            name="hvae",
            description="Two stochastic layers, z1 given z2, with a VampPrior over z2 (hierarchical VampPrior VAE).",
            build=build,
            config=HVAEConfig,
            # the longest run that fits 2 hours alone on a 2-core CPU; the epoch is chosen on the validation split
            train=TrainConfig(
                epochs=450,
                batch_size=150,
                learning_rate=1e-3,
                lr_schedule="cosine",
                kl_warmup=50,
                keep="best",
                epoch_images=EPOCH_IMAGES,
            ),
        )
    )
