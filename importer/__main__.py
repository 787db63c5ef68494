"""Allow ``python -m importer``."""

from importer.cli import main

main()
