"""The local stack: the SAM template served on one machine, no AWS account, no Docker."""
