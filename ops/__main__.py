from data_prep.command import run

run("ops")
