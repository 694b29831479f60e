"""Tutorial one, "Hello World!": prints every message that arrives on the queue `hello`, until SIGINT.

usage: receive.py AMQP_URL [--queue hello]
Prints JSON lines: {"event": "waiting"} once it consumes, {"event": "received", ...} per message,
{"event": "interrupted"} on SIGINT.
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

    def callback(ch, method, properties, body):
        emit('received', body=body.decode())

    channel.basic_consume(queue=args.queue, on_message_callback=callback, auto_ack=True)
    emit('waiting', queue=args.queue)
    try:
        channel.start_consuming()
    except KeyboardInterrupt:
        emit('interrupted')
        connection.close()


if __name__ == '__main__':
    main()
