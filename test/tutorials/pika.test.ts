// RabbitMQ's six classic tutorials, written with pika's BlockingConnection the way the tutorial programs
// are (test/tutorials/pika/*.py), run unchanged against warren as child processes of Debian's python3:
// each test checks the JSON lines the programs print. They need /usr/bin/python3 with Debian's python3-pika
// (1.2); without it every test here fails saying so. Against RabbitMQ:
//   TUTORIAL_AMQP_URL=amqp://guest:guest@127.0.0.1:5672/ npx vitest run test/tutorials
//
// Where a test waits for "everything" to arrive, the last message published is one every consumer gets:
// a queue delivers in publish order, so once that one is there, any message routed before it (rightly or
// wrongly) is there too, and the output is final.
import { afterAll, beforeAll, describe, it } from 'vitest';
import { unique, untilQueueGone, useTutorialBroker, withChannel } from './support/broker.js';
import { untilAll } from './support/output.js';
import { killAll, type Line, pikaMissing, run, start } from './support/python.js';

const broker = useTutorialBroker();
let missing: string | undefined;
beforeAll(() => {
  missing = pikaMissing();
});
afterAll(killAll);

/** Fails the test, saying what to install, when pika is not there: these tests must run in CI, not skip. */
function requirePika(): void {
  if (missing !== undefined) throw new Error(missing);
}

const is = (event: string) => (line: Line) => line.event === event;
const received = is('received');
const done = is('done');
const waiting = is('waiting');

describe.concurrent('the six tutorials, with pika', () => {
  describe('1. "Hello World!"', () => {
    it('receive.py prints the message send.py put on the queue, whether sent before or while it listens', async ({
      expect,
      onTestFinished,
    }) => {
      requirePika();
      const queue = unique('hello');
      onTestFinished(() => broker.deleteAll({ queues: [queue] }));

      expect(await run('send.py', [broker.url, '--queue', queue])).toEqual([
        { event: 'sent', body: 'Hello World!' },
      ]);
      const receiver = start('receive.py', [broker.url, '--queue', queue]);
      await receiver.output.untilCount(1, received);
      await run('send.py', [broker.url, '--queue', queue]);
      await receiver.output.untilCount(2, received);
      expect(await receiver.interrupt()).toBe(0);

      expect(receiver.output.lines).toEqual([
        { event: 'waiting', queue },
        { event: 'received', body: 'Hello World!' },
        { event: 'received', body: 'Hello World!' },
        { event: 'interrupted' },
      ]);
    });
  });

  describe('2. Work queues', () => {
    it("workers take turns; a busy worker gets nothing more (prefetch 1); a killed worker's task goes to another", async ({
      expect,
      onTestFinished,
    }) => {
      requirePika();
      const queue = unique('task_queue');
      onTestFinished(() => broker.deleteAll({ queues: [queue] }));
      const heavy = 'A very hard task which takes a long time..........';
      const light = ['First message.', 'Second message..', 'Third message...', 'Fourth message....'];

      // One worker alone takes the heavy task, and at a minute per dot will not finish it here.
      const busy = start('worker.py', [broker.url, '--queue', queue, '--seconds-per-dot', '60']);
      await busy.output.untilCount(1, waiting);
      await run('new_task.py', [broker.url, '--queue', queue, ...heavy.split(' ')]);
      await busy.output.untilCount(1, received);

      // Two quick workers join; the busy one must get none of the light tasks.
      const quick = [
        start('worker.py', [broker.url, '--queue', queue, '--seconds-per-dot', '0']),
        start('worker.py', [broker.url, '--queue', queue, '--seconds-per-dot', '0']),
      ];
      const outputs = quick.map((worker) => worker.output);
      const doneCount = () => outputs.flatMap((output) => output.lines).filter(done).length;
      await untilAll(outputs, 'both quick workers', () =>
        outputs.every((output) => output.lines.some(waiting)),
      );
      for (const [i, task] of light.entries()) {
        expect(await run('new_task.py', [broker.url, '--queue', queue, task])).toEqual([
          { event: 'sent', body: task },
        ]);
        await untilAll(outputs, `task ${i + 1} done`, () => doneCount() === i + 1);
      }
      expect(busy.output.lines).toEqual([
        { event: 'waiting', queue },
        { event: 'received', body: heavy, redelivered: false, delivery_mode: 2 },
      ]);
      // Each idle worker in turn: the two split every pair of consecutive tasks.
      const bodies = (lines: Line[]) => lines.filter(done).map((line) => line.body);
      const got = outputs.map((output) => bodies(output.lines));
      expect(got[0][0] === light[0] ? got : [got[1], got[0]]).toEqual([
        [light[0], light[2]],
        [light[1], light[3]],
      ]);

      await busy.kill(); // dies mid-task without acknowledging: the broker gives the task to another worker
      await untilAll(outputs, 'the heavy task done', () => doneCount() === light.length + 1);
      for (const worker of quick) expect(await worker.interrupt()).toBe(0);

      const redelivered = outputs.flatMap((output) => output.lines).filter((line) => line.body === heavy);
      expect(redelivered).toEqual([
        { event: 'received', body: heavy, redelivered: true, delivery_mode: 2 },
        { event: 'done', body: heavy },
      ]);
      for (const output of outputs) {
        const [first, ...rest] = output.lines;
        expect(first).toEqual({ event: 'waiting', queue });
        expect(rest.at(-1)).toEqual({ event: 'interrupted' });
        const tasks = rest.slice(0, -1);
        // prefetch 1: each task is done before the next one arrives
        expect(tasks).toEqual(
          bodies(tasks).flatMap((body) => [
            { event: 'received', body, redelivered: body === heavy, delivery_mode: 2 },
            { event: 'done', body },
          ]),
        );
      }
      const left = await withChannel(broker.url, (channel) => channel.checkQueue(queue));
      expect(left).toMatchObject({ queue, messageCount: 0, consumerCount: 0 });
    });
  });

  describe('3. Publish/Subscribe', () => {
    it('every receive_logs.py gets every line emitted while it listens, on a queue of its own that goes with it', async ({
      expect,
      onTestFinished,
    }) => {
      requirePika();
      const exchange = unique('logs');
      onTestFinished(() => broker.deleteAll({ exchanges: [exchange] }));

      // No queue is bound yet: the fanout exchange drops this one.
      await run('emit_log.py', [broker.url, '--exchange', exchange, 'info: nobody is listening yet']);
      const receivers = [
        start('receive_logs.py', [broker.url, '--exchange', exchange]),
        start('receive_logs.py', [broker.url, '--exchange', exchange]),
      ];
      const outputs = receivers.map((receiver) => receiver.output);
      await untilAll(outputs, 'both receivers', () => outputs.every((output) => output.lines.some(waiting)));
      const logs = ['info: Hello World!', 'warning: disk almost full', 'error: disk full'];
      expect(await run('emit_log.py', [broker.url, '--exchange', exchange])).toEqual([
        { event: 'sent', body: logs[0] },
      ]);
      for (const log of logs.slice(1)) await run('emit_log.py', [broker.url, '--exchange', exchange, log]);
      await untilAll(outputs, 'every log line', () =>
        outputs.every((output) => output.lines.filter(received).length >= logs.length),
      );
      for (const receiver of receivers) expect(await receiver.interrupt()).toBe(0);

      const queues = outputs.map((output) => String(output.lines[0].queue));
      for (const [i, output] of outputs.entries()) {
        expect(output.lines).toEqual([
          { event: 'waiting', queue: queues[i] },
          ...logs.map((body) => ({ event: 'received', body })),
          { event: 'interrupted' },
        ]);
        expect(queues[i]).toMatch(/^amq\.gen-/);
      }
      expect(queues[0]).not.toBe(queues[1]);
      for (const queue of queues) await untilQueueGone(broker.url, queue);
    });
  });

  describe('4. Routing', () => {
    it('each receive_logs_direct.py gets the severities it bound, once each, in order', async ({
      expect,
      onTestFinished,
    }) => {
      requirePika();
      const exchange = unique('direct_logs');
      onTestFinished(() => broker.deleteAll({ exchanges: [exchange] }));
      const receivers = [
        start('receive_logs_direct.py', [broker.url, '--exchange', exchange, 'warning', 'error']),
        start('receive_logs_direct.py', [broker.url, '--exchange', exchange, 'info', 'warning', 'error']),
      ];
      const outputs = receivers.map((receiver) => receiver.output);
      await untilAll(outputs, 'both receivers', () => outputs.every((output) => output.lines.some(waiting)));

      const sent = [
        [],
        ['warning', 'Disk almost full'],
        ['debug', 'Nobody binds debug'],
        ['error', 'Run. Run. Or it will explode.'],
        ['error', 'Disk full'], // bound by both: the last line each waits for
      ];
      const emitted: Line[] = [];
      for (const args of sent) {
        emitted.push(...(await run('emit_log_direct.py', [broker.url, '--exchange', exchange, ...args])));
      }
      await untilAll(outputs, 'the last error', () =>
        outputs.every((output) => output.lines.some((line) => line.body === 'Disk full')),
      );
      for (const receiver of receivers) expect(await receiver.interrupt()).toBe(0);

      const log = (routing_key: string, body: string) => ({ routing_key, body });
      expect(emitted).toEqual(
        [
          log('info', 'Hello World!'),
          log('warning', 'Disk almost full'),
          log('debug', 'Nobody binds debug'),
          log('error', 'Run. Run. Or it will explode.'),
          log('error', 'Disk full'),
        ].map((line) => ({ event: 'sent', ...line })),
      );
      const receivedLines = (...logs: { routing_key: string; body: string }[]) =>
        logs.map((line) => ({ event: 'received', ...line }));
      expect(outputs[0].lines.slice(1)).toEqual([
        ...receivedLines(
          log('warning', 'Disk almost full'),
          log('error', 'Run. Run. Or it will explode.'),
          log('error', 'Disk full'),
        ),
        { event: 'interrupted' },
      ]);
      expect(outputs[1].lines.slice(1)).toEqual([
        ...receivedLines(
          log('info', 'Hello World!'),
          log('warning', 'Disk almost full'),
          log('error', 'Run. Run. Or it will explode.'),
          log('error', 'Disk full'),
        ),
        { event: 'interrupted' },
      ]);
    });
  });

  describe('5. Topics', () => {
    it('receivers of "#", "kern.*", "*.critical" and of both of the latter get what their patterns match, once', async ({
      expect,
      onTestFinished,
    }) => {
      requirePika();
      const exchange = unique('topic_logs');
      onTestFinished(() => broker.deleteAll({ exchanges: [exchange] }));
      const patterns = [['#'], ['kern.*'], ['*.critical'], ['kern.*', '*.critical']];
      const receivers = patterns.map((keys) =>
        start('receive_logs_topic.py', [broker.url, '--exchange', exchange, ...keys]),
      );
      const outputs = receivers.map((receiver) => receiver.output);
      await untilAll(outputs, 'the receivers', () => outputs.every((output) => output.lines.some(waiting)));

      const sent: [string, string][] = [
        ['anonymous.info', 'Hello World!'],
        ['kern.info', 'Kernel booted'],
        ['cron.critical', 'Cron died'],
        ['kern.critical', 'A critical kernel error'],
        ['kern.disk.critical', 'Three words: only # matches'],
        ['kern', 'One word: only # matches'],
        ['kern.critical', 'Last words'], // matched by every receiver: the last line each waits for
      ];
      expect(await run('emit_log_topic.py', [broker.url, '--exchange', exchange])).toEqual([
        { event: 'sent', routing_key: 'anonymous.info', body: 'Hello World!' },
      ]);
      for (const args of sent.slice(1))
        await run('emit_log_topic.py', [broker.url, '--exchange', exchange, ...args]);
      await untilAll(outputs, 'the last words', () =>
        outputs.every((output) => output.lines.some((line) => line.body === 'Last words')),
      );
      for (const receiver of receivers) expect(await receiver.interrupt()).toBe(0);

      const lines = (...indexes: number[]) => [
        ...indexes.map((i) => ({ event: 'received', routing_key: sent[i][0], body: sent[i][1] })),
        { event: 'interrupted' },
      ];
      expect(outputs[0].lines.slice(1)).toEqual(lines(0, 1, 2, 3, 4, 5, 6));
      expect(outputs[1].lines.slice(1)).toEqual(lines(1, 3, 6));
      expect(outputs[2].lines.slice(1)).toEqual(lines(2, 3, 6));
      // kern.critical matches both bindings of the fourth queue, and still arrives there once.
      expect(outputs[3].lines.slice(1)).toEqual(lines(1, 2, 3, 6));
    });
  });

  describe('6. RPC', () => {
    it('rpc_client.py calls fib(n) on two rpc_server.py, matching replies by correlation_id', async ({
      expect,
      onTestFinished,
    }) => {
      requirePika();
      const queue = unique('rpc_queue');
      onTestFinished(() => broker.deleteAll({ queues: [queue] }));
      const servers = [
        start('rpc_server.py', [broker.url, '--queue', queue]),
        start('rpc_server.py', [broker.url, '--queue', queue]),
      ];
      const outputs = servers.map((server) => server.output);
      await untilAll(outputs, 'both servers', () => outputs.every((output) => output.lines.some(waiting)));

      // The tutorial's own call (no argument: fib(30)) and two clients calling one n after the other.
      const fibonacci: Record<number, number> = {
        0: 0,
        1: 1,
        2: 1,
        3: 2,
        5: 5,
        8: 21,
        10: 55,
        20: 6765,
        30: 832040,
      };
      const calls = [[], ['0', '1', '2', '3', '5'], ['8', '10', '20']];
      const clients = await Promise.all(
        calls.map((ns) => run('rpc_client.py', [broker.url, '--queue', queue, ...ns])),
      );
      for (const server of servers) expect(await server.interrupt()).toBe(0);

      const callbackQueues = clients.map((lines) => String(lines[0].callback_queue));
      for (const [i, ns] of [[30], [0, 1, 2, 3, 5], [8, 10, 20]].entries()) {
        expect(clients[i]).toEqual([
          { event: 'ready', callback_queue: callbackQueues[i] },
          ...ns.flatMap((n) => [
            { event: 'requesting', n },
            { event: 'got', n, result: fibonacci[n] },
          ]),
        ]);
        expect(callbackQueues[i]).toMatch(/^amq\.gen-/);
      }
      expect(new Set(callbackQueues).size).toBe(3);

      // Each request was computed once, and the two servers shared them.
      const requests = outputs.map((output) =>
        output.lines.filter(is('request')).map((line) => Number(line.n)),
      );
      expect(requests.flat().sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 5, 8, 10, 20, 30]);
      expect(requests[0].length).toBeGreaterThan(0);
      expect(requests[1].length).toBeGreaterThan(0);
      for (const output of outputs) {
        expect(output.lines[0]).toEqual({ event: 'waiting', queue });
        expect(output.lines.at(-1)).toEqual({ event: 'interrupted' });
      }
    });
  });
});
