from amqpish.cli import main

main()
