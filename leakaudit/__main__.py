"""`python -m leakaudit`: the same as the `leakaudit` command."""

from leakaudit.cli.main import main

main()
