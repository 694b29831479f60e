"""Tutorial three, "Publish/Subscribe": binds an exclusive, server-named queue to the fanout exchange
`logs` and prints every log line, until SIGINT.

usage: receive_logs.py AMQP_URL [--exchange logs]
Prints JSON lines: {"event": "waiting", "queue": ...} once it consumes, {"event": "received", ...} per
line, {"event": "interrupted"} on SIGINT.
"""
import argparse
import json

import pika


def emit(event, **fields):
    print(json.dumps(dict(event=event, **fields)), flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('url')
    parser.add_argument('--exchange', default='logs')
    args = parser.parse_args()

    connection = pika.BlockingConnection(pika.URLParameters(args.url))
    channel = connection.channel()
    channel.exchange_declare(exchange=args.exchange, exchange_type='fanout')

    result = channel.queue_declare(queue='', exclusive=True)
    queue_name = result.method.queue
    channel.queue_bind(exchange=args.exchange, queue=queue_name)

    def callback(ch, method, properties, body):
        emit('received', body=body.decode())

    channel.basic_consume(queue=queue_name, on_message_callback=callback, auto_ack=True)
    emit('waiting', queue=queue_name)
    try:
        channel.start_consuming()
    except KeyboardInterrupt:
        emit('interrupted')
        connection.close()


if __name__ == '__main__':
    main()
