from nbflow.cli import main

if __name__ == "__main__":  # Dask's worker processes import the main module again
    raise SystemExit(main())
