"""Everyone's result files as frames (only those that pass validation), and what is drawn from them: compare and advise."""
