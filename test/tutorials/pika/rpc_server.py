"""Tutorial six, "RPC": answers requests on `rpc_queue` with fib(n), one at a time, replying to each
request's reply_to queue with its correlation_id; runs until SIGINT.

usage: rpc_server.py AMQP_URL [--queue rpc_queue]
Prints JSON lines: {"event": "waiting"} once it consumes, {"event": "request", "n": ...} per request,
{"event": "interrupted"} on SIGINT.
"""
import argparse
import json

import pika


def emit(event, **fields):
    print(json.dumps(dict(event=event, **fields)), flush=True)


def fib(n):
    if n == 0:
        return 0
    elif n == 1:
        return 1
    else:
        return fib(n - 1) + fib(n - 2)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('url')
    parser.add_argument('--queue', default='rpc_queue')
    args = parser.parse_args()

    connection = pika.BlockingConnection(pika.URLParameters(args.url))
    channel = connection.channel()
    channel.queue_declare(queue=args.queue)

    def on_request(ch, method, props, body):
        n = int(body)
        emit('request', n=n)
        response = fib(n)
        ch.basic_publish(
            exchange='',
            routing_key=props.reply_to,
            properties=pika.BasicProperties(correlation_id=props.correlation_id),
            body=str(response),
        )
        ch.basic_ack(delivery_tag=method.delivery_tag)

    channel.basic_qos(prefetch_count=1)
    channel.basic_consume(queue=args.queue, on_message_callback=on_request)
    emit('waiting', queue=args.queue)
    try:
        channel.start_consuming()
    except KeyboardInterrupt:
        emit('interrupted')
        connection.close()


if __name__ == '__main__':
    main()
