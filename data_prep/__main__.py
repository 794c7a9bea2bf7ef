from data_prep.command import run

run("data_prep")
