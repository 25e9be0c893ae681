"""`python -m genmodels.cli` runs the command line, as `python -m genmodels` and the `genmodels` script do."""

from genmodels.cli.program import main

if __name__ == "__main__":
    main()
