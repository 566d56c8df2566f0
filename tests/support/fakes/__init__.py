"""Local stand-ins for servers outside this machine (Langfuse, MLflow) and a real Phoenix launcher."""
