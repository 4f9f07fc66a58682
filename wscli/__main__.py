"""`python -m wscli` runs the CLI."""

from wscli.cli import main

if __name__ == "__main__":
    main()
