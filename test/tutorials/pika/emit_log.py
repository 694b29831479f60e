"""Tutorial three, "Publish/Subscribe": broadcasts a log line (its arguments, or "info: Hello World!") on
the fanout exchange `logs`.

usage: emit_log.py AMQP_URL [--exchange logs] [WORD ...]
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
    parser.add_argument('--exchange', default='logs')
    parser.add_argument('words', nargs='*')
    args = parser.parse_intermixed_args()

    connection = pika.BlockingConnection(pika.URLParameters(args.url))
    channel = connection.channel()
    channel.exchange_declare(exchange=args.exchange, exchange_type='fanout')

    message = ' '.join(args.words) or 'info: Hello World!'
    channel.basic_publish(exchange=args.exchange, routing_key='', body=message)
    emit('sent', body=message)
    connection.close()


if __name__ == '__main__':
    main()
