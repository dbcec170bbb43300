"""One repository per DynamoDB table. `ClientError` becomes a domain error here and nowhere else."""
