"""The files generated from the config schema are current, and everything the schema states is
enforced: each key is validated, each flag is offered."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bgsub.cli.options import FLAGS
from bgsub.config import PRESET_HELP, PRESETS, SECTION_CLASSES, resolve
from bgsub.config_reference import (BEGIN, DEFAULT_YAML, DOCS, END, REGENERATE, default_yaml,
                                    reference_tables, with_block)
from bgsub.errors import ConfigError
from bgsub.models import FeedbackParams

ROOT = Path(__file__).resolve().parents[1]  # the checkout under test, installed or not
STALE = f"is stale: regenerate it with `{REGENERATE}` (and commit the result)"


def test_default_yaml_is_what_the_schema_generates():
    path = ROOT / DEFAULT_YAML
    assert path.read_text(encoding="utf-8") == default_yaml(), f"{path} {STALE}"


@pytest.mark.parametrize("doc", DOCS, ids=[doc.name for doc in DOCS])
def test_docs_config_reference_is_what_the_schema_generates(doc):
    text = (ROOT / doc).read_text(encoding="utf-8")
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


def test_the_regenerator_rewrites_stale_files_in_the_checkout_it_is_given(tmp_path):
    for relative in (DEFAULT_YAML, *DOCS):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        current = (ROOT / relative).read_text(encoding="utf-8")
        stale = (with_block(current, "stale\n") if relative in DOCS
                 else current.replace("median: 4%", "median: 5"))
        assert stale != current
        (tmp_path / relative).write_text(stale, encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "bgsub.config_reference", "--root", tmp_path],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for relative in (DEFAULT_YAML, *DOCS):
        assert (tmp_path / relative).read_text(encoding="utf-8") == \
            (ROOT / relative).read_text(encoding="utf-8"), relative


def test_the_regenerator_refuses_a_folder_that_is_not_a_checkout(tmp_path):
    result = subprocess.run([sys.executable, "-m", "bgsub.config_reference", "--root", tmp_path],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == f"{tmp_path} is not a bgsub checkout (no configs/ or docs)"
