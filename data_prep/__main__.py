from data_prep.command import run


def _main() -> int:
    # Imported inside run, so a Ctrl-C while numpy and the rest load is one line too.
    from data_prep.cli import main

    return main()


run(_main, name="data_prep")
