"""Store-and-forward delivery of journalled transactions to the backend."""
