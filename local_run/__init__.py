"""The synthesized workflow run on this machine with no AWS account (`make demo`, `make local`; docs/LOCAL.md)."""
