"""retryproof: retry-safe AI operations on AWS Lambda (the shared library, deployed as a layer)."""
