"""Tutorial two, "Work Queues": puts a task (its arguments, or "Hello World!") on the durable queue
`task_queue` as a persistent message.

usage: new_task.py AMQP_URL [--queue task_queue] [WORD ...]
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
    parser.add_argument('--queue', default='task_queue')
    parser.add_argument('words', nargs='*')
    args = parser.parse_intermixed_args()

    connection = pika.BlockingConnection(pika.URLParameters(args.url))
    channel = connection.channel()
    channel.queue_declare(queue=args.queue, durable=True)

    message = ' '.join(args.words) or 'Hello World!'
    channel.basic_publish(
        exchange='',
        routing_key=args.queue,
        body=message,
        properties=pika.BasicProperties(delivery_mode=2),  # persistent
    )
    emit('sent', body=message)
    connection.close()


if __name__ == '__main__':
    main()
