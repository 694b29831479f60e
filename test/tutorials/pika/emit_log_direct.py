"""Tutorial four, "Routing": publishes a log line on the direct exchange `direct_logs` with its severity
as routing key.

usage: emit_log_direct.py AMQP_URL [--exchange direct_logs] [SEVERITY [WORD ...]]
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
    parser.add_argument('--exchange', default='direct_logs')
    parser.add_argument('words', nargs='*')
    args = parser.parse_intermixed_args()

    connection = pika.BlockingConnection(pika.URLParameters(args.url))
    channel = connection.channel()
    channel.exchange_declare(exchange=args.exchange, exchange_type='direct')

    severity = args.words[0] if args.words else 'info'
    message = ' '.join(args.words[1:]) or 'Hello World!'
    channel.basic_publish(exchange=args.exchange, routing_key=severity, body=message)
    emit('sent', routing_key=severity, body=message)
    connection.close()


if __name__ == '__main__':
    main()
