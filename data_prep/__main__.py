from data_prep.cli import main
from data_prep.command import run

run(main, name="data_prep")
