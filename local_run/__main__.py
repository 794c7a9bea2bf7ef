from data_prep.command import run

run("local_run")
