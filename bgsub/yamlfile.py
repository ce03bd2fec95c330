"""Reading YAML config and batch files safely: one-line errors that name the file, line and key,
and limits that refuse alias bombs, deep nesting and huge files before they are expanded."""

import os
import re
from dataclasses import dataclass

import yaml

from bgsub.errors import ConfigError


@dataclass(frozen=True)
class Location:
    """Where a key was written: ``file:line`` for error messages (empty when not from a file)."""

    file: str = ""
    line: int = 0

    def prefix(self):
        if self.file and self.line:
            return f"{self.file}:{self.line}: "
        return f"{self.file}: " if self.file else ""


class Locator:
    """Maps key paths such as ``("jobs", 1, "model", "k")`` to the YAML line they came from."""

    def __init__(self, file="", node=None):
        self.file = file
        self._lines = {}
        if node is not None:
            self._walk(node, ())

    def _walk(self, node, path):
        self._lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                self._lines[path + (key.value,)] = key.start_mark.line + 1
                self._walk_value(value, path + (key.value,))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._walk(item, path + (index,))

    def _walk_value(self, node, path):
        line = self._lines[path]
        self._walk(node, path)
        self._lines[path] = line  # a key's own line beats its value's

    def at(self, path):
        """The best location for ``path``: its own line, else the nearest parent's."""
        path = tuple(path)
        while path and path not in self._lines:
            path = path[:-1]
        return Location(self.file, self._lines.get(path, 0))


def key_path(path):
    """``("jobs", 1, "model", "k")`` -> ``jobs[1].model.k``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def fail(locator, path, message):
    """Raise the one-line error for the value at ``path``."""
    where = locator.at(path).prefix() if locator else ""
    raise ConfigError(f"{where}{key_path(path)}: {message}")


# A config is a few levels deep and a batch file lists at most thousands of values: anything far
# past this is an attack (an alias bomb expands 9 aliases of 9 aliases ... to billions of values,
# deep nesting exhausts the recursion of every walk over the data).
MAX_DEPTH = 64
MAX_ALIAS_VALUES = 10_000
MAX_COORDINATE = 1_000_000


_BASE_60 = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, stopping at the first value nested past :data:`MAX_DEPTH` (its
    composer recurses once per level, and its scanner's cost per token grows with the depth)."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def resolve(self, kind, value, implicit):
        # YAML 1.1 reads 00:00:01.5 as the base-60 number 1.5 and 01:30 as 90: keep them text,
        # timecodes (bgsub.units), so that 01:30 is never taken for 90 frames.
        if kind is yaml.ScalarNode and implicit[0] and _BASE_60.fullmatch(value):
            return "tag:yaml.org,2002:str"
        return super().resolve(kind, value, implicit)

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_DEPTH} "
                                                  "levels", self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _check_size(path, root):
    """Refuse a document whose aliases nest it past :data:`MAX_DEPTH` or expand it to more than
    :data:`MAX_ALIAS_VALUES` values beyond the ones written, without expanding it."""
    sizes, depths, written = {}, {}, set()
    stack = [(root, False)]
    while stack:  # iterative post-order: the document may be deeper than Python's recursion
        node, children_done = stack.pop()
        key = id(node)
        if key in sizes:
            continue
        children = _children(node)
        if not children_done:
            if key in written:  # met again below itself
                raise ConfigError(f"{path}:{node.start_mark.line + 1}: invalid YAML: an alias "
                                  "refers to the value that contains it")
            written.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in sizes)
            continue
        sizes[key] = 1 + sum(sizes[id(child)] for child in children)
        depths[key] = 1 + max((depths[id(child)] for child in children), default=0)
        if depths[key] > MAX_DEPTH:
            raise ConfigError(f"{path}:{node.start_mark.line + 1}: invalid YAML: nested deeper "
                              f"than {MAX_DEPTH} levels")
    if sizes[id(root)] - len(written) > MAX_ALIAS_VALUES:
        raise ConfigError(f"{path}: invalid YAML: its aliases expand to more than "
                          f"{MAX_ALIAS_VALUES} values")


def _children(node):
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return node.value
    return []


def parse_yaml(text, where):
    """Parse YAML ``text``: ``(data, node)``, both None for an empty document.

    Any syntax error, nesting past :data:`MAX_DEPTH` or alias expansion past
    :data:`MAX_ALIAS_VALUES` is one ConfigError starting with ``where``.
    """
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        _check_size(where, node)
        return loader.construct_document(node), node
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{where}{line}: invalid YAML: {problem}") from None
    finally:
        loader.dispose()


def load_yaml(path, what="config file"):
    """Parse a YAML file: ``(data, locator)``; any read or syntax error is one ConfigError
    (naming the file as ``what``)."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise ConfigError(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"{path} is a folder, not a {what}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read {what} {path}: {err}") from None
    data, node = parse_yaml(text, path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys to values")
    return data, Locator(path, node)
