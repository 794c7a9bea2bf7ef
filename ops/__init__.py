"""Operations tools: run the workflow on test images and monitor the endpoint from its captured data."""
