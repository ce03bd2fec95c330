"""The files generated from the config schema are current, and everything the schema states is
enforced: each key is validated, each flag is offered."""

import re
import subprocess
import sys

import pytest

from bgsub.cli.options import FLAGS
from bgsub.config import PRESET_HELP, PRESETS, SECTION_CLASSES, resolve
from bgsub.config_reference import (BEGIN, DEFAULT_YAML, DOCS, END, REGENERATE, default_yaml,
                                    reference_tables, with_block)
from bgsub.errors import ConfigError
from bgsub.models import FeedbackParams

STALE = f"is stale: regenerate it with `{REGENERATE}` (and commit the result)"


def test_default_yaml_is_what_the_schema_generates():
    assert DEFAULT_YAML.read_text(encoding="utf-8") == default_yaml(), f"{DEFAULT_YAML} {STALE}"


@pytest.mark.parametrize("doc", DOCS, ids=[doc.name for doc in DOCS])
def test_docs_config_reference_is_what_the_schema_generates(doc):
    text = doc.read_text(encoding="utf-8")
    block = re.search(re.escape(BEGIN) + r"\n(.*?)" + re.escape(END), text, re.S)
    assert block, f"{doc} lacks the markers {BEGIN} ... {END}"
    assert block[1] == reference_tables(DOCS[doc]), f"the config reference in {doc} {STALE}"


def test_the_reference_names_every_key_and_flag():
    tables = reference_tables()
    for section, cls in SECTION_CLASSES.items():
        assert f"**`{section}`**" in tables
        for key in cls.keys():
            assert f"| `{key}` |" in tables, key
    for key in FeedbackParams.names():
        assert f"| `{key}` |" in tables, key
    for _, opt in FLAGS.values():
        assert f"`{opt.flag}`" in tables, opt.flag


def test_with_block_replaces_only_between_the_markers():
    text = f"head\n{BEGIN}\nold\nlines\n{END}\ntail\n"
    assert with_block(text, "new\n") == f"head\n{BEGIN}\nnew\n{END}\ntail\n"
    with pytest.raises(ValueError, match="markers"):
        with_block("no markers here\n", "new\n")


KEYS = ([(section, key) for section, cls in SECTION_CLASSES.items() for key in cls.keys()]
        + [("model", key) for key in FeedbackParams.names()])


@pytest.mark.parametrize("section, key", KEYS, ids=[".".join(k) for k in KEYS])
def test_every_key_refuses_a_value_of_the_wrong_type_in_one_line(section, key):
    with pytest.raises(ConfigError) as err:
        resolve({section: {key: {"not": "a value"}}})
    message = str(err.value)
    assert message.startswith(f"{section}.{key}: must ") and "\n" not in message


def test_run_help_offers_every_flag_and_every_preset():
    result = subprocess.run([sys.executable, "-m", "bgsub", "run", "--help"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    help_text = " ".join(result.stdout.split())
    for _, opt in FLAGS.values():
        for flag in opt.flag.split("/"):
            assert flag in help_text, flag
    assert PRESET_HELP.keys() == PRESETS.keys()  # every preset explained, none that is not one
    assert f"--preset [{'|'.join(PRESETS)}]" in help_text
    for name, text in PRESET_HELP.items():
        assert f"{name}: {text}" in help_text
