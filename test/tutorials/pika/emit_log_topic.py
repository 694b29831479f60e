"""Tutorial five, "Topics": publishes a log line on the topic exchange `topic_logs` with a routing key
such as `kern.critical`.

usage: emit_log_topic.py AMQP_URL [--exchange topic_logs] [ROUTING_KEY [WORD ...]]
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
    parser.add_argument('--exchange', default='topic_logs')
    parser.add_argument('words', nargs='*')
    args = parser.parse_intermixed_args()

    connection = pika.BlockingConnection(pika.URLParameters(args.url))
    channel = connection.channel()
    channel.exchange_declare(exchange=args.exchange, exchange_type='topic')

    routing_key = args.words[0] if args.words else 'anonymous.info'
    message = ' '.join(args.words[1:]) or 'Hello World!'
    channel.basic_publish(exchange=args.exchange, routing_key=routing_key, body=message)
    emit('sent', routing_key=routing_key, body=message)
    connection.close()


if __name__ == '__main__':
    main()
