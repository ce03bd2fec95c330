"""The config reference, generated from the schema: ``configs/default.yaml`` (every key with its
default and a comment) and the docs' tables of keys, values, defaults and flags (in README.md
and docs/events.md, between marker comments).

``python -m bgsub.config_reference`` rewrites them in the checkout it is run from (the current
folder, or ``--root``); a test fails when one is stale. Paths below are relative to that root.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bgsub.atomic import write_atomic
from bgsub.config import DEFAULTS, PRESET_HELP, SECTION_CLASSES, Config, default_text
from bgsub.models import MODELS
from bgsub.schema import Option, option_of, options, yaml_text

DEFAULT_YAML = Path("configs") / "default.yaml"
# Each doc with a generated block, and the sections its tables show (None: the whole config).
DOCS: dict[Path, tuple[str, ...] | None] = {Path("README.md"): None,
                                            Path("docs") / "events.md": ("events",)}
BEGIN, END = "<!-- generated: config-reference -->", "<!-- /generated -->"
REGENERATE = "python -m bgsub.config_reference"

_YAML_HEADER = f"""\
# bgsub configuration: every option with its default. Use with `bgsub run --config FILE`,
# `bgsub live --config FILE`, `bgsub eval --config FILE`, or as `defaults:` in a batch file.
# Flags on the command line override the file. Unknown keys are errors.
# Generated from the schema (bgsub/config.py, bgsub/models/params.py):
# `{REGENERATE}` rewrites it.
"""


def _settings(section: str) -> list[tuple[str, Option, str]]:
    """``(key, option, models)`` of each key of ``section``: the model section lists the default
    model's parameters after its own keys, ``models`` naming the models that take a parameter
    when not all do."""
    if section != "model":
        return [(key, opt, "") for key, opt, _ in options(SECTION_CLASSES[section])]
    default_model = MODELS[DEFAULTS["model"]["name"]].params_class
    rows = [(key, opt, "") for key, opt, _ in options(SECTION_CLASSES["model"])]
    for key, opt, _ in options(default_model):
        takers = [name for name, model in MODELS.items() if key in model.params_class.names()]
        rows.append((key, opt, "" if len(takers) == len(MODELS) else ", ".join(takers)))
    return rows


def _line(text: str, comment: str) -> str:
    return f"{text.ljust(24)} # {comment}" if len(text) < 24 else f"{text} # {comment}"


def default_yaml() -> str:
    """The text of ``configs/default.yaml``: the default model's values, one comment a key."""
    lines = [_YAML_HEADER, _line(f"preset: {DEFAULTS['preset']}", option_of(Config, "preset").help)]
    for section, cls in SECTION_CLASSES.items():
        lines.append("")
        lines.append(_line(f"{section}:", cls.summary) if cls.summary else f"{section}:")
        defaults = Config().to_dict()[section]
        group = ""
        for key, opt, models in _settings(section):
            if models != group:
                lines.append(f"  # {models} only:")
                group = models
            lines.append(_line(f"  {key}: {yaml_text(defaults[key])}", _comment(section, key, opt)))
    return "\n".join(lines) + "\n"


def _comment(section: str, key: str, opt: Option) -> str:
    """A key's help, with each model's default when they differ."""
    default = default_text((section, key))
    return f"{opt.help} (defaults: {default})" if "(" in default else opt.help


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def reference_tables(sections: tuple[str, ...] | None = None) -> str:
    """The docs' tables: for each of ``sections`` (None: all, and the preset), every key with its
    default, values, flag and meaning."""
    preset = option_of(Config, "preset").kind
    blocks = [] if sections else [
        f"`preset`: {_cell(preset.describe())} (default `{DEFAULTS['preset']}`, flag `--preset`): "
        + "; ".join(f"`{name}`: {text}" for name, text in PRESET_HELP.items()) + "."]
    for section, cls in SECTION_CLASSES.items():
        if sections and section not in sections:
            continue
        rows = [f"**`{section}`**: {_cell(cls.summary)}.", "",
                "| key | default | values | flag | meaning |", "|---|---|---|---|---|"]
        for key, opt, models in _settings(section):
            flag = f"`{opt.flag}`" if opt.flag else ""
            meaning = opt.help + (f" ({models} only)" if models else "")
            rows.append(f"| `{key}` | {_cell(default_text((section, key)))} | "
                        f"{_cell(opt.kind.describe())} | {flag} | {_cell(meaning)} |")
        blocks.append("\n".join(rows))
    return "\n\n".join(blocks) + "\n"


def with_block(text: str, block: str) -> str:
    """``text`` with what lies between the :data:`BEGIN` and :data:`END` markers replaced by
    ``block``; ValueError when the markers are missing."""
    head, begin, rest = text.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not begin or not end:
        raise ValueError(f"the markers {BEGIN} ... {END} are missing")
    return f"{head}{BEGIN}\n{block}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    """Rewrite ``configs/default.yaml`` and the docs' generated blocks from the schema."""
    parser = argparse.ArgumentParser(prog="python -m bgsub.config_reference",
                                     description=main.__doc__)
    parser.add_argument("--root", type=Path, default=Path.cwd(),
                        help="the bgsub checkout (default: the current folder)")
    root = parser.parse_args(argv).root
    if not (root / DEFAULT_YAML).parent.is_dir() or not all((root / d).is_file() for d in DOCS):
        print(f"{root} is not a bgsub checkout (no configs/ or docs)", file=sys.stderr)
        return 2
    write_atomic(root / DEFAULT_YAML, default_yaml())
    print(f"wrote {root / DEFAULT_YAML}")
    for doc, sections in DOCS.items():
        path = root / doc
        write_atomic(path, with_block(path.read_text(encoding="utf-8"), reference_tables(sections)))
        print(f"wrote the config reference in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
