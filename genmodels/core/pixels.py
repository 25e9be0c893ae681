"""What image values are, and which likelihoods fit them. No TensorFlow here: configs and the CLI use it.

A dataset's values are of one kind: "binary" (0/1 pixels), "8bit" (levels 0..255, which a model sees
as k / 255) or "continuous" (floats in [0, 1]). A decoder's likelihood p(x|z) is chosen by name
(`-o likelihood=NAME`); `auto` picks the one that fits the data when training starts.
"""

from __future__ import annotations

from dataclasses import dataclass

from genmodels.core.errors import ConfigError

BINARY, EIGHT_BIT, CONTINUOUS = "binary", "8bit", "continuous"
PIXELS = (BINARY, EIGHT_BIT, CONTINUOUS)
GREY_LEVELS = 256
AUTO = "auto"

DESCRIBED = {BINARY: "0/1 pixels", EIGHT_BIT: "8-bit levels 0..255", CONTINUOUS: "floats in [0, 1]"}


@dataclass(frozen=True)
class LikelihoodKind:
    """A likelihood by name: raw decoder outputs per value (`params`), and the data it is a likelihood of."""

    name: str
    params: int
    support: str  # "binary": a mass on {0, 1}; "8bit": a mass on the 256 levels; "continuous": a density
    description: str

    def fits(self, pixels: str) -> bool:
        """Whether this likelihood's figures on data of kind `pixels` are a likelihood of that data."""
        return fits(self.support, pixels)


def fits(support: str | None, pixels: str) -> bool:
    """Whether a likelihood of `support` scores data of kind `pixels` as what it is: a mass on exactly the
    values the data can take (0/1 pixels are levels 0 and 255 of 8-bit data), or a density of floats."""
    return pixels == support or (support == EIGHT_BIT and pixels == BINARY)


def fit_note(support: str | None, pixels: str) -> str:
    """Why figures of a likelihood of `support` on data of kind `pixels` are not a likelihood of that data ("" when they are)."""
    if fits(support, pixels):
        return ""
    data = DESCRIBED.get(pixels, pixels)
    if support == BINARY:
        return (
            f"The decoder's likelihood is Bernoulli, a probability of 0/1 pixels, but the data holds {data}: its figures "
            "score greys as probabilities and are not a likelihood of this data. Train with -o likelihood=auto for one that is."
        )
    if support == CONTINUOUS:
        return (
            f"The decoder's likelihood is a density over real values, but the data holds {data}: its figures are densities "
            "of the values scaled to [0, 1], not probabilities of the discrete data, and compare only with other densities."
        )
    if support == EIGHT_BIT:
        return (
            f"The decoder's likelihood is a probability over 8-bit levels, but the data holds {data}, off that grid: "
            "its figures are not a likelihood of this data."
        )
    return f"The decoder's likelihood has no declared support, so whether its figures are a likelihood of {data} is unknown."


MIXTURE_COMPONENTS = 5  # of `logistic-mixture`, as in PixelCNN++'s default of 5 to 10

LIKELIHOODS = {
    kind.name: kind
    for kind in (
        LikelihoodKind(
            "bernoulli", 1, BINARY, "independent Bernoulli pixels (binary images; greys are read as probabilities)"
        ),
        LikelihoodKind("gaussian", 2, CONTINUOUS, "a normal density per value, with a learned scale per value"),
        LikelihoodKind("gaussian-shared", 1, CONTINUOUS, "a normal density per value, one learned scale for all"),
        LikelihoodKind("logistic", 2, EIGHT_BIT, "discretized logistic over the 256 levels (Salimans et al. 2017)"),
        LikelihoodKind(
            "logistic-mixture",
            3 * MIXTURE_COMPONENTS,
            EIGHT_BIT,
            f"a mixture of {MIXTURE_COMPONENTS} discretized logistics per value (PixelCNN++)",
        ),
    )
}
# What `auto` becomes for each kind of data.
AUTOMATIC = {BINARY: "bernoulli", EIGHT_BIT: "logistic-mixture", CONTINUOUS: "gaussian"}


def likelihood_kind(name: str) -> LikelihoodKind:
    """The likelihood called `name`, or a ConfigError listing the known ones."""
    try:
        return LIKELIHOODS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"likelihood must be one of {AUTO}, {', '.join(LIKELIHOODS)}; received {name!r}.") from None


def likelihood_for(name: str, pixels: str, what: str) -> str:
    """The likelihood a model trains with on data of kind `pixels`: `name`, or the fitting one for `auto`.

    Refuses (ConfigError) a likelihood of 8-bit levels on data that is not on that grid: its figures
    would be neither a mass nor a density of the data. Bernoulli on greys stays allowed (the seed's
    recipe for grey MNIST), and `evaluate` says that its figures are not a likelihood of such data.
    """
    if name == AUTO:
        return AUTOMATIC[pixels]
    kind = likelihood_kind(name)
    if kind.support == EIGHT_BIT and pixels == CONTINUOUS:
        raise ConfigError(
            f"likelihood={name} is a probability over 8-bit levels, but {what} holds {DESCRIBED[pixels]}; "
            f"use likelihood=gaussian (or gaussian-shared) for such data, or give the images as uint8."
        )
    return name
