"""amqpish: a RabbitMQ-compatible AMQP 0-9-1 broker on Trio."""

__version__ = "0.1.0"
