"""`python -m genmodels` runs the command line."""

from genmodels.cli.program import main

if __name__ == "__main__":
    main()
