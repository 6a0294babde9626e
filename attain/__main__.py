"""`python -m attain` is the `attain` command."""

from attain.cli import main

if __name__ == "__main__":
    main()
