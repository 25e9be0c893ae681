"""Configs: JSON round trips, typed overrides from the command line, and clear refusals."""

import pytest

from genmodels import MLPConfig, TrainConfig
from genmodels.core.errors import ConfigError


def test_round_trip_through_a_dict_keeps_every_value():
    config = MLPConfig(latent_dim=7, hidden=(32, 16), activation="relu")
    assert MLPConfig.from_dict(config.to_dict()) == config


def test_a_stored_config_without_a_newer_option_means_the_value_runs_were_built_with_before_it():
    from dataclasses import dataclass

    from genmodels.core.config import option

    @dataclass
    class Widened(MLPConfig):
        width: int = option(300, "A newer option whose default differs from what older runs used.", absent=0)

    stored = MLPConfig(latent_dim=7).to_dict()  # written before `width` existed
    assert Widened.from_dict(stored).width == 0 and Widened().width == 300
    assert Widened.from_dict({**stored, "width": 300}).width == 300


def test_strings_from_the_command_line_are_coerced_to_the_field_type():
    config = MLPConfig().replace(latent_dim="3", hidden="64, 32")
    assert config.latent_dim == 3 and config.hidden == (64, 32)
    assert TrainConfig().replace(learning_rate="2e-4").learning_rate == pytest.approx(2e-4)


def test_an_unknown_field_is_refused_with_the_list_of_fields():
    with pytest.raises(ConfigError, match="no option 'depth'.*latent_dim"):
        MLPConfig.from_dict({"depth": 3})


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("latent_dim", "two", "latent_dim must be an integer, received 'two'"),
        ("latent_dim", 0, "latent_dim must be positive, received 0"),
        ("latent_dim", 2.5, "latent_dim must be an integer"),
        ("hidden", "500,-1", "hidden must list positive layer sizes"),
    ],
)
def test_bad_model_values_say_what_was_received(field, value, message):
    with pytest.raises(ConfigError, match=message):
        MLPConfig().replace(**{field: value})


def test_bad_training_values_are_refused():
    with pytest.raises(ConfigError, match="learning_rate must be positive"):
        TrainConfig().replace(learning_rate=0.0)
    with pytest.raises(ConfigError, match="epochs must be an integer"):
        TrainConfig().replace(epochs=True)


def test_an_option_with_a_minimum_refuses_smaller_values_in_every_built_in_plugin():
    import dataclasses

    from genmodels.plugins.loader import get_registry

    checked = set()
    for spec in get_registry().models:
        config = spec.config()
        for field in dataclasses.fields(config):
            minimum = field.metadata.get("minimum")
            if minimum is None:
                continue
            assert config.replace(**{field.name: minimum}).to_dict()[field.name] == minimum
            with pytest.raises(ConfigError, match=f"{field.name} must be at least {minimum}, received {minimum - 1}"):
                config.replace(**{field.name: minimum - 1})
            checked.add(f"{spec.name}.{field.name}")
    assert {"cvae.classes", "iwae.k", "vamp.components"} <= checked


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: TrainConfig(epochs=0), "epochs must be at least 1, received 0"),
        (lambda: TrainConfig(keep="worst"), "keep must be one of last, best, received 'worst'"),
        (lambda: TrainConfig(precision="float16"), "precision must be one of float32, bfloat16"),
        (lambda: TrainConfig(epochs="5"), "epochs must be an integer, received '5'"),
        (lambda: TrainConfig(xla="no"), "xla must be true or false"),
        (lambda: MLPConfig(hidden="500"), "hidden must be a list of integers"),
        (lambda: MLPConfig(latent_dim=-2), "latent_dim must be positive"),
    ],
)
def test_a_config_built_directly_in_python_is_checked_as_strictly_as_config_json(build, message):
    with pytest.raises(ConfigError, match=message):
        build()


def test_a_config_built_directly_stores_values_as_their_field_types():
    config = TrainConfig(learning_rate=1, image_size=[32, 32])
    assert isinstance(config.learning_rate, float) and config.image_size == (32, 32)
    assert MLPConfig(hidden=[64, 32]).hidden == (64, 32)
