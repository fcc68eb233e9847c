"""curate: web-scale pretraining data curation (FineWeb / Llama 3 recipes) on local, Ray and Spark engines."""

__version__ = "0.1.0"
