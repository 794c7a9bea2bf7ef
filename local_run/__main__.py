from data_prep.command import run
from local_run.cli import main

run(main, name="local_run")
