"""Tutorial six, "RPC": calls fib(n) on the RPC server for each n given (30 if none), one call after the
other, through an exclusive callback queue, matching replies by correlation_id.

usage: rpc_client.py AMQP_URL [--queue rpc_queue] [N ...]
Prints JSON lines: {"event": "ready", "callback_queue": ...}, then per call {"event": "requesting", "n": ...}
and {"event": "got", "n": ..., "result": ...}.
"""
import argparse
import json
import uuid

import pika


def emit(event, **fields):
    print(json.dumps(dict(event=event, **fields)), flush=True)


class FibonacciRpcClient(object):
    def __init__(self, url, queue):
        self.queue = queue
        self.connection = pika.BlockingConnection(pika.URLParameters(url))
        self.channel = self.connection.channel()

        result = self.channel.queue_declare(queue='', exclusive=True)
        self.callback_queue = result.method.queue

        self.channel.basic_consume(queue=self.callback_queue, on_message_callback=self.on_response, auto_ack=True)

        self.response = None
        self.corr_id = None

    def on_response(self, ch, method, props, body):
        # A reply to an earlier call (or to someone else's) is not the answer we wait for.
        if self.corr_id == props.correlation_id:
            self.response = body

    def call(self, n):
        self.response = None
        self.corr_id = str(uuid.uuid4())
        self.channel.basic_publish(
            exchange='',
            routing_key=self.queue,
            properties=pika.BasicProperties(reply_to=self.callback_queue, correlation_id=self.corr_id),
            body=str(n),
        )
        while self.response is None:
            self.connection.process_data_events(time_limit=None)
        return int(self.response)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('url')
    parser.add_argument('--queue', default='rpc_queue')
    parser.add_argument('numbers', nargs='*', type=int)
    args = parser.parse_intermixed_args()

    fibonacci_rpc = FibonacciRpcClient(args.url, args.queue)
    emit('ready', callback_queue=fibonacci_rpc.callback_queue)
    for n in args.numbers or [30]:
        emit('requesting', n=n)
        response = fibonacci_rpc.call(n)
        emit('got', n=n, result=response)
    fibonacci_rpc.connection.close()


if __name__ == '__main__':
    main()
