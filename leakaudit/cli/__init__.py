"""The command-line shell: click commands that parse flags, call `leakaudit.api`, render."""
