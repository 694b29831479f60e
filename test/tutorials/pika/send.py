"""Tutorial one, "Hello World!": puts one message on the queue `hello` through the default exchange.

usage: send.py AMQP_URL [--queue hello]
Prints JSON lines: {"event": "sent", ...}.
"""
import argparse
import json

import pika


def emit(event, **fields):
    print(json.dumps(dict(event=event, **fields)), flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('url')
    parser.add_argument('--queue', default='hello')
    args = parser.parse_args()

    connection = pika.BlockingConnection(pika.URLParameters(args.url))
    channel = connection.channel()
    channel.queue_declare(queue=args.queue)

    channel.basic_publish(exchange='', routing_key=args.queue, body='Hello World!')
    emit('sent', body='Hello World!')
    connection.close()


if __name__ == '__main__':
    main()
