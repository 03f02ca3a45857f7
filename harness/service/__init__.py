"""`meek serve`: the record as a web service (FastAPI on uvicorn) over the database of harness/record/."""
