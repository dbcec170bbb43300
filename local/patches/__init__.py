"""The local stack's patches of library internals, one AWS behaviour each.

Each module patches one thing, globally and idempotently, and says which behaviour of AWS it
restores. Nothing under layers/ or functions/ knows about them.

- `lambda_timeout`: botocore's `BaseClient._make_api_call`. Lambda ends an invocation at its
  timeout; locally a thread cannot be stopped, so it ends at its next AWS call.
- `dex_reinvoke`: the local durable runner's `Executor._finish_invocation` (aws-durable-execution-
  sdk-python-testing). A step whose retry came due is run again, even when the invocation that
  scheduled it ended just then (the runner's timer was cancelled; `local/dex_runner.py`).
- `moto_transactions`: moto's `DynamoDBBackend.transact_write_items`. A DynamoDB transaction
  costs the same however large its tables are; moto's deep copy of every touched table does not.
"""
