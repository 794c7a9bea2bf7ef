"""Run the synthesized workflow on this machine, with no AWS account (`make demo`, `make local`).

The state machine definition comes from the synthesized template and runs in moto's Step Functions
interpreter; its Lambda tasks run the synthesized handler code in-process (`local_run.moto_lambda_seam`); the
classifier reaches a local SageMaker-runtime emulator (`local_run.sagemaker_emulator`) that serves a small
scikit-learn stand-in model (`local_run.standin_model`) and writes data capture into the local bucket.
"""
