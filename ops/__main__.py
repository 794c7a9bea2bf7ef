from data_prep.command import run
from ops.cli import main

run(main, name="ops")
