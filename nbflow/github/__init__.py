"""GitHub: the REST client (pull requests, comments) and generated Actions workflows."""
