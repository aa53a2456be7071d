"""The TOML keys of issue 11: chattiness, max_actions_per_day and learn_hours, in defaults
and per guild, with errors that name the key and the valid range."""

from __future__ import annotations

import pytest

from runtime.config import decode_config
from runtime.errors import ConfigError
from runtime.settings import guild_settings

DOC = """
[defaults]
chattiness = 0.5
max_actions_per_day = 12
learn_hours = false

[guilds.111]
autonomous_channel_id = 222
chattiness = 2

[guilds.333]
autonomous_channel_id = 444
max_actions_per_day = 0
learn_hours = true
"""


def test_chattiness_cap_and_learning_merge_over_the_defaults() -> None:
    """Each key reaches the guild's engine settings, a guild's table overriding the
    defaults key by key; without the keys the engine's defaults apply."""
    cfg = decode_config(DOC)
    a, _, _ = guild_settings(cfg, 111)
    assert (a.chattiness, a.max_actions_per_day, a.learn_hours) == (2.0, 12, False)
    b, _, _ = guild_settings(cfg, 333)
    assert (b.chattiness, b.max_actions_per_day, b.learn_hours) == (0.5, 0, True)
    plain, _, _ = guild_settings(decode_config(""), 5)
    assert (plain.chattiness, plain.max_actions_per_day, plain.learn_hours) == (1.0, None, True)


@pytest.mark.parametrize(("doc", "message"), [
    ("[defaults]\nchattiness = 2.5",
     "defaults.chattiness: expected a number from 0 to 2 (0: no autonomous action, 1: the "
     "default, 2: about twice as many), got 2.5"),
    ("[guilds.7]\nautonomous_channel_id = 8\nchattiness = -1", "guilds.7.chattiness: expected "
     "a number from 0 to 2"),
    ('[defaults]\nchattiness = "loud"', "defaults.chattiness: expected `float`, got `str`"),
    ("[defaults]\nmax_actions_per_day = -3", "defaults.max_actions_per_day: expected a whole "
     "number from 0 to 1000 (leave it out for no cap), got -3"),
    ("[defaults]\nmax_actions_per_day = 1.5", "defaults.max_actions_per_day: expected `int`"),
    ('[defaults]\nlearn_hours = "yes"', "defaults.learn_hours: expected `bool`"),
])
def test_bad_chattiness_or_cap_names_the_key_and_the_range(doc: str, message: str) -> None:
    """A chattiness outside [0, 2] or a cap outside 0..1000 is refused at the dotted key,
    saying what is valid."""
    with pytest.raises(ConfigError) as info:
        decode_config(doc)
    assert str(info.value).startswith(message), str(info.value)


def test_affinity_is_a_setting_of_the_file_per_guild() -> None:
    """``affinity`` in [defaults] and a guild table reaches the engine's GuildConfig; on by
    default."""
    cfg = decode_config("[defaults]\naffinity = false\n[guilds.7]\naffinity = true\n")
    assert guild_settings(cfg, 7)[0].affinity is True
    assert guild_settings(cfg, 8)[0].affinity is False
    assert guild_settings(decode_config(""), 8)[0].affinity is True


def test_tone_is_a_setting_of_the_file_per_guild() -> None:
    """``tone`` in [defaults] and a guild table reaches the engine's GuildConfig; on by
    default."""
    cfg = decode_config("[defaults]\ntone = false\n[guilds.7]\ntone = true\n")
    assert guild_settings(cfg, 7)[0].tone is True
    assert guild_settings(cfg, 8)[0].tone is False
    assert guild_settings(decode_config(""), 8)[0].tone is True
