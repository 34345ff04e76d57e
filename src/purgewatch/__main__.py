"""``python -m purgewatch`` runs the command line (same as the ``purgewatch`` script)."""

from purgewatch.cli import main

if __name__ == "__main__":
    main()
