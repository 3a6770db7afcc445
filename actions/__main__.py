"""`python -m actions`: the action server with /metrics (see actions/server.py)."""

if __name__ == "__main__":
    from actions.server import main

    main()
