"""Tutorial two, "Work Queues": takes one task at a time from the durable queue `task_queue`, "works"
on it for a while per dot in it, and acknowledges it when done; runs until SIGINT.

usage: worker.py AMQP_URL [--queue task_queue] [--seconds-per-dot 1]
Prints JSON lines: {"event": "waiting"} once it consumes, {"event": "received", ...} per task,
{"event": "done", ...} once a task is acknowledged, {"event": "interrupted"} on SIGINT.
"""
import argparse
import json
import time

import pika


def emit(event, **fields):
    print(json.dumps(dict(event=event, **fields)), flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('url')
    parser.add_argument('--queue', default='task_queue')
    parser.add_argument('--seconds-per-dot', type=float, default=1.0)
    args = parser.parse_args()

    connection = pika.BlockingConnection(pika.URLParameters(args.url))
    channel = connection.channel()
    channel.queue_declare(queue=args.queue, durable=True)

    def callback(ch, method, properties, body):
        task = body.decode()
        emit('received', body=task, redelivered=method.redelivered, delivery_mode=properties.delivery_mode)
        time.sleep(task.count('.') * args.seconds_per_dot)
        ch.basic_ack(delivery_tag=method.delivery_tag)
        emit('done', body=task)

    channel.basic_qos(prefetch_count=1)
    channel.basic_consume(queue=args.queue, on_message_callback=callback)
    emit('waiting', queue=args.queue)
    try:
        channel.start_consuming()
    except KeyboardInterrupt:
        emit('interrupted')
        connection.close()


if __name__ == '__main__':
    main()
