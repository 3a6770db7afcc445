"""The handoff hub: the customer channel, each conversation's owner, the second-level queue and the agent console."""
