"""The documentation generator: man pages, shell completions and the reference (docs/reference.md).

Everything is derived from the click definitions at run time, so the generated files cannot
list an option the CLI lacks (or miss one it has). Layout:

- :mod:`wscli.docgen.model` — plain data describing commands and options (no click);
- :mod:`wscli.cli.describe` — builds that data from the click command tree;
- :mod:`wscli.docgen.roff` and :mod:`wscli.docgen.manpage` — pure groff rendering;
- :mod:`wscli.docgen.markdown` — the generated reference block of docs/reference.md;
- :mod:`wscli.docgen.content` — hand-written prose (examples, environment, files);
- :mod:`wscli.docgen.__main__` — the only part doing file I/O: ``--write`` / ``--check``.

Regenerate with ``python -m wscli.docgen --write``; ``--check`` exits 1 with a diff on drift.
"""
