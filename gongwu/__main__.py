"""`python -m gongwu` runs the CLI (the same as the `gongwu` command)."""

from gongwu.cli import main

main()
