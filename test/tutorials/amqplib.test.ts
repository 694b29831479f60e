// RabbitMQ's six classic tutorials, written with amqplib's promise API the way the tutorial programs are,
// run unchanged against warren: each test checks what the programs print. Against RabbitMQ:
//   TUTORIAL_AMQP_URL=amqp://guest:guest@127.0.0.1:5672/ npx vitest run test/tutorials
//
// Where a test waits for "everything" to arrive, the last message published is one every consumer gets:
// a queue delivers in publish order, so once that one is there, any message routed before it (rightly or
// wrongly) is there too, and the lines are final.
import amqp from 'amqplib';
import { afterAll, describe, it } from 'vitest';
import { receive, send } from './amqplib/hello-world.js';
import { stopAll } from './amqplib/program.js';
import { emitLog, receiveLogs } from './amqplib/publish-subscribe.js';
import { emitLogDirect, receiveLogsDirect } from './amqplib/routing.js';
import { rpcClient, rpcServer } from './amqplib/rpc.js';
import { emitLogTopic, receiveLogsTopic } from './amqplib/topics.js';
import { newTask, type Work, worker } from './amqplib/work-queues.js';
import { replyCode, unique, untilQueueGone, useTutorialBroker, withChannel } from './support/broker.js';
import { Terminal, untilAll, within } from './support/output.js';

const broker = useTutorialBroker();
afterAll(stopAll);

const received = (line: string) => line.startsWith(' [x] Received');
const done = (line: string) => line === ' [x] Done';
const logLine = (line: string) => line.startsWith(' [x] ');

describe.concurrent('the six tutorials, with amqplib', () => {
  describe('1. "Hello World!"', () => {
    it('receive prints the message send put on the queue, whether it was sent before or while it listens', async ({
      expect,
      onTestFinished,
    }) => {
      const queue = unique('hello');
      onTestFinished(() => broker.deleteAll({ queues: [queue] }));
      const sender = new Terminal();
      const receiver = new Terminal();

      await send(broker.url, sender, queue); // nobody listens yet: the queue keeps it
      const receiving = await receive(broker.url, receiver, queue);
      await receiver.untilCount(1, received);
      await send(broker.url, sender, queue);
      await receiver.untilCount(2, received);
      await receiving.stop();

      expect(sender.lines).toEqual([' [x] Sent Hello World!', ' [x] Sent Hello World!']);
      expect(receiver.lines).toEqual([
        ` [*] Waiting for messages in ${queue}. To exit press CTRL+C`,
        ' [x] Received Hello World!',
        ' [x] Received Hello World!',
      ]);
      const left = await withChannel(broker.url, (channel) => channel.checkQueue(queue));
      expect(left).toMatchObject({ queue, messageCount: 0, consumerCount: 0 });
    });
  });

  describe('2. Work queues', () => {
    const noWaiting: Work = async () => {};
    const tasks = [
      'First message.',
      'Second message..',
      'Third message...',
      'Fourth message....',
      'Fifth message.....',
      'Sixth message......',
    ];

    it('two idle workers take turns: each task goes to the next worker in line', async ({
      expect,
      onTestFinished,
    }) => {
      const queue = unique('task_queue');
      onTestFinished(() => broker.deleteAll({ queues: [queue] }));
      const producer = new Terminal();
      const terminals = [new Terminal(), new Terminal()];
      const workers = [
        await worker(broker.url, terminals[0], { queue, work: noWaiting }),
        await worker(broker.url, terminals[1], { queue, work: noWaiting }),
      ];

      for (const [i, task] of tasks.entries()) {
        await newTask(broker.url, producer, [task], queue);
        await untilAll(
          terminals,
          `task ${i + 1} done`,
          () => terminals.flatMap((t) => t.lines).filter(done).length === i + 1,
        );
      }
      for (const running of workers) await running.stop();

      expect(producer.lines).toEqual(tasks.map((task) => ` [x] Sent '${task}'`));
      const got = workers.map((w) => w.deliveries.map((d) => d.content.toString()));
      const odd = tasks.filter((_, i) => i % 2 === 0);
      const even = tasks.filter((_, i) => i % 2 === 1);
      expect(got[0][0] === tasks[0] ? got : [got[1], got[0]]).toEqual([odd, even]);
      for (const [i, terminal] of terminals.entries()) {
        expect(terminal.lines).toEqual([
          ` [*] Waiting for messages in ${queue}. To exit press CTRL+C`,
          ...got[i].flatMap((task) => [` [x] Received '${task}'`, ' [x] Done']),
        ]);
      }
      for (const w of workers) {
        for (const delivery of w.deliveries) {
          expect(delivery.properties.deliveryMode).toBe(2);
          expect(delivery.fields.redelivered).toBe(false);
        }
      }
    });

    it('a busy worker gets no new task (prefetch 1); its task goes to another worker when it dies unacked', async ({
      expect,
      onTestFinished,
    }) => {
      const queue = unique('task_queue');
      onTestFinished(() => broker.deleteAll({ queues: [queue] }));
      const producer = new Terminal();
      const busyTerminal = new Terminal();
      const idleTerminal = new Terminal();
      const heavy = 'A very hard task which takes a long time..........';

      // The busy worker never finishes its task, so never acknowledges it.
      const busy = await worker(broker.url, busyTerminal, { queue, work: () => new Promise(() => {}) });
      await newTask(broker.url, producer, [heavy], queue);
      await busyTerminal.untilCount(1, received);

      const idle = await worker(broker.url, idleTerminal, { queue, work: noWaiting });
      const light = tasks.slice(0, 4);
      for (const task of light) await newTask(broker.url, producer, [task], queue);
      await idleTerminal.untilCount(light.length, done);
      expect(busyTerminal.lines).toEqual([
        ` [*] Waiting for messages in ${queue}. To exit press CTRL+C`,
        ` [x] Received '${heavy}'`,
      ]);

      await busy.stop(); // the worker dies without acknowledging: the broker requeues its task
      await idleTerminal.untilCount(light.length + 1, done);

      expect(idleTerminal.lines).toEqual([
        ` [*] Waiting for messages in ${queue}. To exit press CTRL+C`,
        ...[...light, heavy].flatMap((task) => [` [x] Received '${task}'`, ' [x] Done']),
      ]);
      expect(idle.deliveries.map((d) => d.fields.redelivered)).toEqual([false, false, false, false, true]);
      expect(busy.deliveries[0].fields.redelivered).toBe(false);
      for (const delivery of [...busy.deliveries, ...idle.deliveries]) {
        expect(delivery.properties.deliveryMode).toBe(2);
      }
      const left = await withChannel(broker.url, (channel) => channel.checkQueue(queue));
      expect(left).toMatchObject({ queue, messageCount: 0, consumerCount: 1 });
      // "RabbitMQ doesn't allow you to redefine an existing queue with different parameters"
      expect(await replyCode(broker.url, (channel) => channel.assertQueue(queue, { durable: false }))).toBe(
        406,
      );
      await idle.stop();
    });
  });

  describe('3. Publish/Subscribe', () => {
    it('every receiver gets every log line emitted while it listens, on a queue of its own that goes with it', async ({
      expect,
      onTestFinished,
    }) => {
      const exchange = unique('logs');
      onTestFinished(() => broker.deleteAll({ exchanges: [exchange] }));
      const emitter = new Terminal();
      const terminals = [new Terminal(), new Terminal()];

      // No queue is bound yet: the fanout exchange drops this one.
      await emitLog(broker.url, emitter, ['info: nobody is listening yet'], exchange);
      const receivers = [
        await receiveLogs(broker.url, terminals[0], exchange),
        await receiveLogs(broker.url, terminals[1], exchange),
      ];
      const logs = [[], ['warning: disk almost full'], ['error: disk full'], ['info: cleaned up']];
      for (const args of logs) await emitLog(broker.url, emitter, args, exchange);
      await untilAll(terminals, 'every log line', () =>
        terminals.every((terminal) => terminal.lines.filter(logLine).length >= logs.length),
      );
      for (const receiver of receivers) await receiver.stop();

      const lines = [
        'info: Hello World!',
        'warning: disk almost full',
        'error: disk full',
        'info: cleaned up',
      ];
      expect(emitter.lines).toEqual(['info: nobody is listening yet', ...lines].map((l) => ` [x] Sent ${l}`));
      for (const terminal of terminals) {
        expect(terminal.lines).toEqual([
          ' [*] Waiting for logs. To exit press CTRL+C',
          ...lines.map((l) => ` [x] ${l}`),
        ]);
      }
      const [first, second] = receivers.map((receiver) => receiver.queue);
      expect(first).toMatch(/^amq\.gen-/);
      expect(second).toMatch(/^amq\.gen-/);
      expect(first).not.toBe(second);
      await untilQueueGone(broker.url, first);
      await untilQueueGone(broker.url, second);
    });
  });

  describe('4. Routing', () => {
    it('each receiver gets the severities it bound, once each, in order; unbound severities are dropped', async ({
      expect,
      onTestFinished,
    }) => {
      const exchange = unique('direct_logs');
      onTestFinished(() => broker.deleteAll({ exchanges: [exchange] }));
      const emitter = new Terminal();
      const toFile = new Terminal();
      const toScreen = new Terminal();
      const receivers = [
        await receiveLogsDirect(broker.url, toFile, ['warning', 'error'], exchange),
        await receiveLogsDirect(broker.url, toScreen, ['info', 'warning', 'error'], exchange),
      ];

      const sent = [
        [],
        ['warning', 'Disk almost full'],
        ['debug', 'Nobody binds debug'],
        ['error', 'Run. Run. Or it will explode.'],
        ['info', 'Backup done'],
        ['error', 'Disk full'], // bound by both: the last line each waits for
      ];
      for (const args of sent) await emitLogDirect(broker.url, emitter, args, exchange);
      await toFile.untilCount(1, (line) => line === " [x] error: 'Disk full'");
      await toScreen.untilCount(1, (line) => line === " [x] error: 'Disk full'");
      for (const receiver of receivers) await receiver.stop();

      expect(emitter.lines).toEqual([
        " [x] Sent info: 'Hello World!'",
        " [x] Sent warning: 'Disk almost full'",
        " [x] Sent debug: 'Nobody binds debug'",
        " [x] Sent error: 'Run. Run. Or it will explode.'",
        " [x] Sent info: 'Backup done'",
        " [x] Sent error: 'Disk full'",
      ]);
      expect(toFile.lines).toEqual([
        ' [*] Waiting for logs. To exit press CTRL+C',
        " [x] warning: 'Disk almost full'",
        " [x] error: 'Run. Run. Or it will explode.'",
        " [x] error: 'Disk full'",
      ]);
      expect(toScreen.lines).toEqual([
        ' [*] Waiting for logs. To exit press CTRL+C',
        " [x] info: 'Hello World!'",
        " [x] warning: 'Disk almost full'",
        " [x] error: 'Run. Run. Or it will explode.'",
        " [x] info: 'Backup done'",
        " [x] error: 'Disk full'",
      ]);
    });
  });

  describe('5. Topics', () => {
    it('receivers of "#", "kern.*", "*.critical" and both of the latter get what their patterns match, once', async ({
      expect,
      onTestFinished,
    }) => {
      const exchange = unique('topic_logs');
      onTestFinished(() => broker.deleteAll({ exchanges: [exchange] }));
      const emitter = new Terminal();
      const patterns = [['#'], ['kern.*'], ['*.critical'], ['kern.*', '*.critical']];
      const terminals = patterns.map(() => new Terminal());
      const receivers = [];
      for (const [i, keys] of patterns.entries()) {
        receivers.push(await receiveLogsTopic(broker.url, terminals[i], keys, exchange));
      }

      const sent = [
        [],
        ['kern.info', 'Kernel booted'],
        ['cron.critical', 'Cron died'],
        ['kern.critical', 'A critical kernel error'],
        ['kern.disk.critical', 'Three words: only # matches'],
        ['critical', 'One word: only # matches'],
        ['kern', 'Just kern: only # matches'],
        ['kern.critical', 'Last words'], // matched by every receiver: the last line each waits for
      ];
      for (const args of sent) await emitLogTopic(broker.url, emitter, args, exchange);
      await untilAll(terminals, 'the last words', () =>
        terminals.every((terminal) => terminal.lines.includes(" [x] kern.critical: 'Last words'")),
      );
      for (const receiver of receivers) await receiver.stop();

      const line = (key: string, text: string) => ` [x] ${key}: '${text}'`;
      const all = [
        line('anonymous.info', 'Hello World!'),
        line('kern.info', 'Kernel booted'),
        line('cron.critical', 'Cron died'),
        line('kern.critical', 'A critical kernel error'),
        line('kern.disk.critical', 'Three words: only # matches'),
        line('critical', 'One word: only # matches'),
        line('kern', 'Just kern: only # matches'),
        line('kern.critical', 'Last words'),
      ];
      expect(emitter.lines).toEqual(all.map((l) => l.replace(' [x] ', ' [x] Sent ')));
      const waiting = ' [*] Waiting for logs. To exit press CTRL+C';
      expect(terminals[0].lines).toEqual([waiting, ...all]);
      expect(terminals[1].lines).toEqual([waiting, all[1], all[3], all[7]]);
      expect(terminals[2].lines).toEqual([waiting, all[2], all[3], all[7]]);
      // kern.critical matches both bindings of the fourth queue, and still arrives there once.
      expect(terminals[3].lines).toEqual([waiting, all[1], all[2], all[3], all[7]]);
    });

    it("the tutorial's animals: * is exactly one word, # zero or more, and a message matching two bindings of a queue arrives once", async ({
      expect,
      onTestFinished,
    }) => {
      const exchange = unique('topic_logs');
      onTestFinished(() => broker.deleteAll({ exchanges: [exchange] }));
      const emitter = new Terminal();
      const q1 = new Terminal();
      const q2 = new Terminal();
      const receivers = [
        await receiveLogsTopic(broker.url, q1, ['*.orange.*'], exchange),
        await receiveLogsTopic(broker.url, q2, ['*.*.rabbit', 'lazy.#'], exchange),
      ];

      const keys = [
        'quick.orange.rabbit',
        'lazy.orange.elephant',
        'quick.orange.fox',
        'lazy.brown.fox',
        'lazy.pink.rabbit',
        'quick.brown.fox',
        'orange',
        'quick.orange.new.rabbit',
        'lazy.orange.new.rabbit',
        'lazy',
        'lazy.orange.rabbit', // both queues: the last line each waits for
      ];
      for (const key of keys) await emitLogTopic(broker.url, emitter, [key, `a ${key}`], exchange);
      await untilAll([q1, q2], 'the lazy orange rabbit', () =>
        [q1, q2].every((t) => t.lines.includes(" [x] lazy.orange.rabbit: 'a lazy.orange.rabbit'")),
      );
      for (const receiver of receivers) await receiver.stop();

      const lines = (...routed: string[]) => [
        ' [*] Waiting for logs. To exit press CTRL+C',
        ...routed.map((key) => ` [x] ${key}: 'a ${key}'`),
      ];
      expect(q1.lines).toEqual(
        lines('quick.orange.rabbit', 'lazy.orange.elephant', 'quick.orange.fox', 'lazy.orange.rabbit'),
      );
      expect(q2.lines).toEqual(
        lines(
          'quick.orange.rabbit',
          'lazy.orange.elephant',
          'lazy.brown.fox',
          'lazy.pink.rabbit',
          'lazy.orange.new.rabbit',
          'lazy',
          'lazy.orange.rabbit',
        ),
      );
    });
  });

  describe('6. RPC', () => {
    const fibonacci: Record<number, number> = {
      0: 0,
      1: 1,
      2: 1,
      3: 2,
      4: 3,
      5: 5,
      6: 8,
      7: 13,
      8: 21,
      9: 34,
      10: 55,
      30: 832040,
    };

    it('concurrent clients each get fib(n) for their own n back on their own callback queue', async ({
      expect,
      onTestFinished,
    }) => {
      const queue = unique('rpc_queue');
      onTestFinished(() => broker.deleteAll({ queues: [queue] }));
      const serverTerminals = [new Terminal(), new Terminal()];
      const servers = [
        await rpcServer(broker.url, serverTerminals[0], queue),
        await rpcServer(broker.url, serverTerminals[1], queue),
      ];

      // The tutorial's own call first, then eleven clients at once.
      const tutorialClient = new Terminal();
      const thirty = await within(rpcClient(broker.url, tutorialClient, 30, queue), 'fib(30)');
      expect(thirty.result).toBe(832040);
      expect(tutorialClient.lines).toEqual([' [x] Requesting fib(30)', ' [.] Got 832040']);

      const ns = [10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0];
      const clientTerminals = ns.map(() => new Terminal());
      const calls = await within(
        Promise.all(ns.map((n, i) => rpcClient(broker.url, clientTerminals[i], n, queue))),
        'eleven replies',
      );
      for (const server of servers) await server.stop();

      expect(calls.map((call) => call.result)).toEqual(ns.map((n) => fibonacci[n]));
      for (const [i, n] of ns.entries()) {
        expect(clientTerminals[i].lines).toEqual([` [x] Requesting fib(${n})`, ` [.] Got ${fibonacci[n]}`]);
      }
      const callbackQueues = [thirty, ...calls].map((call) => call.callbackQueue);
      for (const callbackQueue of callbackQueues) expect(callbackQueue).toMatch(/^amq\.gen-/);
      expect(new Set(callbackQueues).size).toBe(callbackQueues.length);

      // Each request was computed once, and the two servers shared them.
      const computed = serverTerminals.map((t) => t.lines.slice(1));
      for (const terminal of serverTerminals) expect(terminal.lines[0]).toBe(' [x] Awaiting RPC requests');
      expect(computed.flat().sort()).toEqual([30, ...ns].map((n) => ` [.] fib(${n})`).sort());
      expect(computed[0].length).toBeGreaterThan(0);
      expect(computed[1].length).toBeGreaterThan(0);
    });

    it('a client takes only the reply with its correlation_id, whatever else comes to its callback queue', async ({
      expect,
      onTestFinished,
    }) => {
      const queue = unique('rpc_queue');
      onTestFinished(() => broker.deleteAll({ queues: [queue] }));
      // A server that answers each request three times: for someone else, for no one, then rightly.
      const connection = await amqp.connect(broker.url);
      onTestFinished(() => connection.close().catch(() => {}));
      const channel = await connection.createChannel();
      await channel.assertQueue(queue, { durable: false });
      await channel.consume(queue, (message) => {
        if (!message) return;
        const { replyTo, correlationId } = message.properties;
        channel.sendToQueue(replyTo, Buffer.from('-1'), { correlationId: `not ${correlationId}` });
        channel.sendToQueue(replyTo, Buffer.from('-2'));
        channel.sendToQueue(replyTo, Buffer.from('55'), { correlationId });
        channel.ack(message);
      });

      const client = new Terminal();
      const call = await within(rpcClient(broker.url, client, 10, queue), 'fib(10)');
      expect(call.result).toBe(55);
      expect(client.lines).toEqual([' [x] Requesting fib(10)', ' [.] Got 55']);
    });
  });
});
