"""What every other package of the service stands on: its refusals, the item schema, the assurance rules and
the DynamoDB expressions they are written in. It imports nothing of the project but :mod:`chalicelib.config`,
and nothing of HTTP or boto3 (docs/layout.md)."""
