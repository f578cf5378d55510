"""amqpish's AMQP 0-9-1 conformance suite: scenarios run against any broker URL.

Outcomes recorded from a real RabbitMQ (conformance/expected/) are what every other
broker must reproduce. See conformance/README.md.
"""
