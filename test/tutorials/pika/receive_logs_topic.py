"""Tutorial five, "Topics": binds an exclusive, server-named queue to the topic exchange `topic_logs` with
each binding key given (`*` stands for one word, `#` for any number) and prints every log line, until
SIGINT.

usage: receive_logs_topic.py AMQP_URL [--exchange topic_logs] BINDING_KEY ...
Prints JSON lines: {"event": "waiting", "queue": ...} once it consumes, {"event": "received", ...} per
line, {"event": "interrupted"} on SIGINT.
"""
import argparse
import json
import sys

import pika


def emit(event, **fields):
    print(json.dumps(dict(event=event, **fields)), flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('url')
    parser.add_argument('--exchange', default='topic_logs')
    parser.add_argument('binding_keys', nargs='*')
    args = parser.parse_intermixed_args()
    if not args.binding_keys:
        sys.stderr.write('Usage: %s AMQP_URL [binding_key]...\n' % sys.argv[0])
        sys.exit(1)

    connection = pika.BlockingConnection(pika.URLParameters(args.url))
    channel = connection.channel()
    channel.exchange_declare(exchange=args.exchange, exchange_type='topic')

    result = channel.queue_declare(queue='', exclusive=True)
    queue_name = result.method.queue
    for binding_key in args.binding_keys:
        channel.queue_bind(exchange=args.exchange, queue=queue_name, routing_key=binding_key)

    def callback(ch, method, properties, body):
        emit('received', routing_key=method.routing_key, body=body.decode())

    channel.basic_consume(queue=queue_name, on_message_callback=callback, auto_ack=True)
    emit('waiting', queue=queue_name)
    try:
        channel.start_consuming()
    except KeyboardInterrupt:
        emit('interrupted')
        connection.close()


if __name__ == '__main__':
    main()
