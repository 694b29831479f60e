// One client connection (spec 2.2.4): protocol header, start/start-ok, tune/tune-ok, open, then channels
// until close/close-ok from either side. Heartbeats per the negotiated interval. A connection error
// sends connection.close and waits for close-ok; a channel error closes only that channel.
//
// Reading is bounded and fair: a connection handles at most READ_SLICE bytes per turn of the event loop
// before the others have theirs, and a publisher stops being read (its socket paused, the rest of its
// read kept unparsed) while a queue it publishes to holds it back (credit flow: that queue's consumers
// are behind) or the broker is over its memory budget.
import type { Socket } from 'node:net';
import type { Broker, MemoryWaiter } from '../broker/broker.js';
import { amqpError, truncateShortstr } from '../broker/errors.js';
import type { Queue } from '../broker/queue/queue.js';
import type { Publisher } from '../broker/router.js';
import type { VirtualHost } from '../broker/vhost.js';
import type { Log } from '../log.js';
import {
  type FieldTable,
  FRAME_MIN_SIZE,
  type FrameHandler,
  FrameParser,
  FrameWriter,
  type Method,
  MethodId,
  methodName,
  type ProtocolError,
  ReplyCode,
  writeChannelOpenOk,
  writeConnectionBlocked,
  writeConnectionClose,
  writeConnectionCloseOk,
  writeConnectionOpenOk,
  writeConnectionStart,
  writeConnectionTune,
  writeConnectionUnblocked,
  writeConnectionUpdateSecretOk,
} from '../protocol/index.js';
import type { Store } from '../store/store.js';
import { MECHANISMS, parseCredentials } from './auth.js';
import { Channel } from './channel.js';
import { type DirectReplyTo, directReplyTo } from './direct-reply-to.js';

/** What a connection needs from the listener that accepted it. */
export interface ConnectionHost {
  readonly channelMax: number;
  readonly frameMax: number;
  readonly heartbeat: number;
  readonly handshakeTimeoutMs: number;
  /** How long a delivery may stay unacked before its channel is closed, in milliseconds; 0: for ever. */
  readonly consumerTimeout: number;
  readonly log: Log;
  serverProperties(): FieldTable;
  connectionClosed(connection: Connection): void;
}

type State = 'header' | 'start' | 'tune' | 'open' | 'running' | 'closing' | 'closed';

const PROTOCOL_HEADER = Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1]);
// RabbitMQ also takes the 0-9 header (class 1, instance 1, version 0-9) as 0-9-1.
const PROTOCOL_HEADER_0_9 = Buffer.from([0x41, 0x4d, 0x51, 0x50, 1, 1, 0, 9]);
// How long to wait for close-ok after sending connection.close before dropping the socket.
const CLOSE_OK_TIMEOUT_MS = 3000;
// Output not yet taken by the socket beyond which deliveries to this connection's consumers wait.
const OUTPUT_LIMIT = 1024 * 1024;
/**
 * Bytes a connection may have handled in one turn of the event loop before it waits for the next, so
 * that a busy publisher's reads cannot keep the acks, deliveries and heartbeats of other connections
 * waiting (a read is at most 64 KiB; Node hands over up to 32 of them for one socket at a time).
 */
const READ_SLICE = 128 * 1024;
/**
 * How often a publisher held back by credit flow asks the queues that hold it again: one whose consumers
 * have stopped taking messages (they may be waiting for this very connection, publishing to the
 * other's queue) lets it go.
 */
const FLOW_RECHECK_MS = 250;

// When output leaves. Output waits for the event loop's check phase (setImmediate), so that what the
// reads of one turn cause for one connection goes out in one write. One exception: the first read of a
// turn, if small (at most QUICK_READ bytes: a client that is not busy), has what it caused written at the
// end of its callback. A delivery to a waiting consumer then leaves without the hop to the check phase,
// which costs a few microseconds at the median and tens in the tail. A turn with many small reads (many
// quiet publishers) still makes at most two writes per connection: the first read's and the check's.
const QUICK_READ = 4 * 1024;
/** Connections with output to write, in the order they asked. */
const outputWaiting: Connection[] = [];
/** Set while a read is handled: output waits for its end. */
let reading = false;
/** A read of this turn has written its output at once. */
let quickFlushUsed = false;
let checkScheduled = false;
/** Counts turns of the event loop in which something was read: READ_SLICE applies per turn. */
let readTurn = 0;

function writeWaitingOutput(): void {
  // The length is read on each pass, so that a connection added while the loop runs is written too.
  for (let i = 0; i < outputWaiting.length; i++) outputWaiting[i].flush();
  outputWaiting.length = 0;
}

function onCheck(): void {
  checkScheduled = false;
  quickFlushUsed = false;
  readTurn++;
  writeWaitingOutput();
}

function scheduleCheck(): void {
  if (checkScheduled) return;
  checkScheduled = true;
  setImmediate(onCheck);
}

export class Connection implements FrameHandler, Publisher, MemoryWaiter {
  readonly writer: FrameWriter;
  readonly log: Log;
  readonly socket: Socket;
  channelMax: number;
  frameMax: number;
  heartbeat: number;
  vhost: VirtualHost | undefined;
  user: string | undefined;
  clientProperties: FieldTable = {};
  /** The client's capabilities table from start-ok (consumer_cancel_notify and the like). */
  clientCapabilities: FieldTable = {};
  /** The broker's direct reply-to consumers, which this connection's channels reply to and register in. */
  readonly replyTo: DirectReplyTo;

  private state: State = 'header';
  private readonly parser: FrameParser;
  private headerBytes: Buffer | undefined;
  private readonly channels = new Map<number, Channel>();
  private flushScheduled = false;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private handshakeTimer: NodeJS.Timeout | undefined;
  private closeTimer: NodeJS.Timeout | undefined;
  private receivedSinceTick = false;
  private sentSinceTick = false;
  private missedTicks = 0;
  private mechanism = '';
  /** Channels in confirm mode with acks to write before the next flush. */
  private readonly confirmChannels = new Set<Channel>();
  /** Reading is paused while the broker is over its memory budget. */
  blocked = false;
  /** The queues that hold this publisher back (credit flow); it is not read while any does. */
  private readonly holders = new Set<Queue>();
  private flowRecheck: NodeJS.Timeout | undefined;
  /** The socket and the parser are paused: by the memory budget, credit flow, or a spent read slice. */
  private readPaused = false;
  private resumeScheduled = false;
  /** Bytes handled in read turn sliceTurn. */
  private sliceBytes = 0;
  private sliceTurn = -1;
  private waitingForDefinitions = false;
  /**
   * The generation of definitions this connection's output may depend on (its declare-ok, or the confirm
   * of a message routed to a new queue): set by dependOnDefinitions.
   */
  private definitionsNeeded = 0;
  private readonly definitionsSaved = (): void => {
    this.waitingForDefinitions = false;
    this.scheduleFlush();
  };

  constructor(
    private readonly host: ConnectionHost,
    private readonly broker: Broker,
    socket: Socket,
    readonly id: number,
  ) {
    this.log = host.log.child({ conn: id });
    this.replyTo = directReplyTo(broker);
    this.channelMax = host.channelMax;
    this.frameMax = host.frameMax;
    this.heartbeat = host.heartbeat;
    this.writer = new FrameWriter(FRAME_MIN_SIZE);
    // Until tune-ok, frames up to the server's frame_max are accepted (start-ok can be large).
    this.parser = new FrameParser(this, host.frameMax);
    this.socket = socket;
    socket.on('data', this.onData);
    socket.setNoDelay(true);
    socket.on('error', (err) => this.log.debug({ err }, 'socket error'));
    socket.on('close', () => this.onSocketClose());
    socket.on('drain', () => this.resumeDeliveries());
    this.handshakeTimer = setTimeout(() => {
      this.log.warn({ remote: socket.remoteAddress }, 'handshake timeout, closing socket');
      socket.destroy();
    }, host.handshakeTimeoutMs);
  }

  get isOpen(): boolean {
    return this.state === 'running';
  }

  private get closed(): boolean {
    return this.state === 'closed';
  }

  /** The broker's consumer timeout in milliseconds (0: none); queues and consumers may set their own. */
  get consumerTimeout(): number {
    return this.host.consumerTimeout;
  }

  get store(): Store {
    return this.broker.store;
  }

  /** Held back by credit flow (RabbitMQ's `flow` connection state). */
  get flow(): boolean {
    return this.holders.size > 0;
  }

  /** Too much output is waiting for the socket: consumers of this connection get nothing more for now. */
  get congested(): boolean {
    return this.writer.pendingBytes + this.socket.writableLength > OUTPUT_LIMIT;
  }

  private resumeDeliveries(): void {
    for (const ch of this.channels.values()) ch.resumeDeliveries();
  }

  confirmsPending(channel: Channel): void {
    this.confirmChannels.add(channel);
    this.scheduleFlush();
  }

  /**
   * After each publish (or a transaction's): stop reading while a queue it reached holds this publisher
   * back, or the broker is over its memory budget (TCP backpressure; connection.blocked to clients that
   * asked for it).
   */
  afterPublish(): void {
    if (this.holders.size > 0) {
      this.pauseReading();
      return;
    }
    if (this.broker.overMemoryBudget && !this.blocked) {
      this.blocked = true;
      this.pauseReading();
      if (this.clientCapabilities['connection.blocked'] === true) {
        writeConnectionBlocked(this.writer, 0, 'low on memory');
        this.scheduleFlush();
      }
      this.broker.waitForMemory(this);
    }
  }

  // Publisher

  holdFor(queue: Queue): void {
    this.holders.add(queue);
    if (this.holders.size > 1) return;
    this.log.debug({ queue: queue.name }, "flow: publisher held back, the queue's consumers are behind");
    this.flowRecheck = setInterval(this.recheckHolds, FLOW_RECHECK_MS);
    this.flowRecheck.unref();
  }

  releasedBy(queue: Queue): void {
    if (!this.holders.delete(queue) || this.holders.size > 0) return;
    this.log.debug({ queue: queue.name }, 'flow: publisher let go');
    clearInterval(this.flowRecheck);
    this.flowRecheck = undefined;
    this.scheduleResume();
  }

  private readonly recheckHolds = (): void => {
    for (const queue of [...this.holders]) queue.recheckHold(this);
  };

  // MemoryWaiter

  /** The broker is back under its memory budget. */
  memoryAvailable(): void {
    if (!this.blocked) return;
    this.blocked = false;
    if (this.state === 'running' && this.clientCapabilities['connection.blocked'] === true) {
      writeConnectionUnblocked(this.writer, 0);
      this.scheduleFlush();
    }
    this.scheduleResume();
  }

  // Reading

  private pauseReading(): void {
    this.parser.pause();
    if (this.readPaused) return;
    this.readPaused = true;
    this.socket.pause();
  }

  /** Resumes reading in the check phase of this turn, not inside the call that let it go. */
  private scheduleResume(): void {
    if (!this.readPaused || this.resumeScheduled) return;
    this.resumeScheduled = true;
    setImmediate(this.resumeScheduledRead);
  }

  private readonly resumeScheduledRead = (): void => {
    this.resumeScheduled = false;
    this.resumeReading();
  };

  /** Parses what was kept while paused, then reads the socket again, unless something pauses it anew. */
  private resumeReading(): void {
    if (!this.readPaused || this.state === 'closed') return;
    if (this.blocked || this.holders.size > 0) return;
    this.readPaused = false;
    this.sliceBytes = 0;
    this.handleInput(undefined);
    if (!this.parser.isPaused && !this.readPaused) this.socket.resume();
  }

  private readonly onData = (chunk: Buffer): void => {
    this.receivedSinceTick = true;
    if (this.state === 'header') {
      const rest = this.readProtocolHeader(chunk);
      if (rest === undefined) return;
      chunk = rest;
      if (chunk.length === 0) return;
    }
    if (this.state === 'closed') return;
    if (this.sliceTurn !== readTurn) {
      this.sliceTurn = readTurn;
      this.sliceBytes = 0;
    }
    this.sliceBytes += chunk.length;
    this.handleInput(chunk);
    if (this.sliceBytes >= READ_SLICE && !this.readPaused && !this.closed) {
      // This turn's share is spent: the rest waits for the next turn, after the other connections.
      this.pauseReading();
      this.scheduleResume();
    }
  };

  /** Parses a read (or, with undefined, what the parser kept while paused) and sends what it caused. */
  private handleInput(chunk: Buffer | undefined): void {
    reading = true;
    try {
      if (chunk === undefined) this.parser.resume();
      else this.parser.push(chunk);
    } catch (err) {
      // A bug, not bad input: bad input is answered with AMQP errors. Keep the broker up for everyone
      // else and tell this client, as RabbitMQ does with 541.
      this.log.error({ err }, 'internal error while handling a frame');
      this.parser.stop();
      this.closeWithError(amqpError(ReplyCode.INTERNAL_ERROR, 'internal error'));
    } finally {
      reading = false;
    }
    if (outputWaiting.length === 0) {
      scheduleCheck();
      return;
    }
    if (chunk !== undefined && chunk.length <= QUICK_READ && !quickFlushUsed) {
      quickFlushUsed = true;
      writeWaitingOutput();
    }
    // The check phase ends the turn (quickFlushUsed) and writes what later reads of it cause.
    scheduleCheck();
  }

  /** Accumulates the 8-byte protocol header (spec 4.2.2); returns the bytes after it once it is complete. */
  private readProtocolHeader(chunk: Buffer): Buffer | undefined {
    const bytes = this.headerBytes ? Buffer.concat([this.headerBytes, chunk]) : chunk;
    if (bytes.length < 8) {
      this.headerBytes = bytes;
      return undefined;
    }
    this.headerBytes = undefined;
    const header = bytes.subarray(0, 8);
    if (!header.equals(PROTOCOL_HEADER) && !header.equals(PROTOCOL_HEADER_0_9)) {
      // Tell the client which protocol we speak, then close (spec 4.2.2).
      this.log.debug({ header: bytes.subarray(0, 8).toString('hex') }, 'unsupported protocol header');
      this.state = 'closed';
      this.socket.end(PROTOCOL_HEADER);
      return undefined;
    }
    this.state = 'start';
    writeConnectionStart(this.writer, 0, 0, 9, this.host.serverProperties(), MECHANISMS.join(' '), 'en_US');
    this.scheduleFlush();
    return bytes.subarray(8);
  }

  // FrameHandler

  onMethod(channel: number, method: Method): void {
    switch (this.state) {
      case 'running':
        if (channel === 0) this.onConnectionMethod(method);
        else this.onChannelMethod(channel, method);
        return;
      case 'closing':
        // After sending connection.close only close and close-ok matter (spec 2.2.4).
        if (channel !== 0) return;
        if (method.id === MethodId.ConnectionCloseOk) this.destroy();
        else if (method.id === MethodId.ConnectionClose) {
          writeConnectionCloseOk(this.writer, 0);
          this.flushAndEnd();
        }
        return;
      case 'start':
      case 'tune':
      case 'open':
        this.onHandshakeMethod(channel, method);
        return;
      default:
        return;
    }
  }

  onHeader(channel: number, classId: number, bodySize: number, properties: Buffer): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    const ch = this.state === 'running' ? this.channels.get(channel) : undefined;
    if (!ch) {
      this.closeWithError(this.unexpectedContent(channel, 'header'));
      return;
    }
    const err = ch.onHeader(classId, bodySize, properties);
    if (err) this.channelError(ch, err);
  }

  onBody(channel: number, payload: Buffer): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    const ch = this.state === 'running' ? this.channels.get(channel) : undefined;
    if (!ch) {
      this.closeWithError(this.unexpectedContent(channel, 'body'));
      return;
    }
    const err = ch.onBody(payload);
    if (err) this.channelError(ch, err);
  }

  /** A content frame outside a publish: on channel 0, or on a channel that is not open (RabbitMQ's codes). */
  private unexpectedContent(channel: number, kind: 'header' | 'body'): ProtocolError {
    if (channel === 0) {
      return amqpError(ReplyCode.UNEXPECTED_FRAME, `content ${kind} frame on channel 0`);
    }
    return amqpError(ReplyCode.UNEXPECTED_FRAME, 'expected method frame, got non method frame instead');
  }

  onHeartbeat(channel: number): void {
    if (channel !== 0) {
      this.closeWithError(amqpError(ReplyCode.UNEXPECTED_FRAME, `heartbeat frame on channel ${channel}`));
    }
  }

  onFrameError(error: ProtocolError): void {
    this.closeWithError(error);
  }

  // Handshake

  private onHandshakeMethod(channel: number, method: Method): void {
    const expected =
      this.state === 'start'
        ? MethodId.ConnectionStartOk
        : this.state === 'tune'
          ? MethodId.ConnectionTuneOk
          : MethodId.ConnectionOpen;
    if (channel !== 0 || method.id !== expected) {
      const got = methodName(Math.floor(method.id / 65536), method.id % 65536);
      const want = methodName(Math.floor(expected / 65536), expected % 65536);
      this.closeWithError(
        amqpError(ReplyCode.COMMAND_INVALID, `expected '${want}', got '${got}' on channel ${channel}`),
      );
      return;
    }
    switch (method.id) {
      case MethodId.ConnectionStartOk:
        this.onStartOk(method.clientProperties, method.mechanism, method.response);
        return;
      case MethodId.ConnectionTuneOk:
        this.onTuneOk(method.channelMax, method.frameMax, method.heartbeat);
        return;
      case MethodId.ConnectionOpen:
        this.onOpen(method.virtualHost);
        return;
    }
  }

  private onStartOk(clientProperties: FieldTable, mechanism: string, response: Buffer): void {
    this.clientProperties = clientProperties;
    const caps = clientProperties.capabilities;
    if (
      caps &&
      typeof caps === 'object' &&
      !Array.isArray(caps) &&
      !Buffer.isBuffer(caps) &&
      !('type' in caps)
    ) {
      this.clientCapabilities = caps as FieldTable;
    }
    this.mechanism = mechanism;
    if (!(MECHANISMS as readonly string[]).includes(mechanism)) {
      // RabbitMQ answers an unknown mechanism with no frame at all, capability or not.
      this.log.warn({ remote: this.socket.remoteAddress, mechanism }, 'unsupported authentication mechanism');
      this.destroy();
      return;
    }
    const credentials = parseCredentials(mechanism, response);
    const refusal = credentials
      ? this.broker.authenticate(credentials.username, credentials.password, this.socket.remoteAddress)
      : 'malformed authentication response';
    if (refusal !== undefined) {
      this.refuse(refusal);
      return;
    }
    this.user = credentials?.username;
    this.state = 'tune';
    writeConnectionTune(this.writer, 0, this.host.channelMax, this.host.frameMax, this.host.heartbeat);
    this.scheduleFlush();
  }

  /**
   * Failed authentication: like RabbitMQ, a client that announced authentication_failure_close gets
   * connection.close 403; any other client just sees the socket closed (spec 4.10.2 allows no more).
   */
  private refuse(reason: string): void {
    this.log.warn({ remote: this.socket.remoteAddress, reason }, 'authentication failed');
    if (this.clientCapabilities.authentication_failure_close === true) {
      this.closeWithError(
        amqpError(
          ReplyCode.ACCESS_REFUSED,
          `Login was refused using authentication mechanism ${this.mechanism}. For details see the broker logfile.`,
        ),
      );
      return;
    }
    this.destroy();
  }

  private onTuneOk(channelMax: number, frameMax: number, heartbeat: number): void {
    const serverFrameMax = this.host.frameMax;
    const serverChannelMax = this.host.channelMax;
    // Like RabbitMQ 3.10, values outside what was offered (0 included) end the connection without a frame.
    const badFrameMax = frameMax < FRAME_MIN_SIZE || (serverFrameMax !== 0 && frameMax > serverFrameMax);
    const badChannelMax = channelMax === 0 || (serverChannelMax !== 0 && channelMax > serverChannelMax);
    if (badFrameMax || badChannelMax) {
      this.log.warn({ frameMax, channelMax }, 'tune-ok outside the offered limits, closing socket');
      this.destroy();
      return;
    }
    this.frameMax = frameMax === 0 ? serverFrameMax : frameMax;
    this.channelMax = channelMax === 0 ? serverChannelMax || 65535 : channelMax;
    this.heartbeat = heartbeat;
    this.parser.frameMax = this.frameMax;
    this.writer.frameMax = this.frameMax;
    this.state = 'open';
    this.startHeartbeats();
  }

  private onOpen(virtualHost: string): void {
    const vhost = this.broker.vhost(virtualHost);
    if (!vhost) {
      this.closeWithError(amqpError(ReplyCode.NOT_ALLOWED, `vhost ${virtualHost} not found`, 10, 40));
      return;
    }
    this.vhost = vhost;
    this.state = 'running';
    clearTimeout(this.handshakeTimer);
    this.handshakeTimer = undefined;
    writeConnectionOpenOk(this.writer, 0);
    this.scheduleFlush();
    this.log.info(
      {
        remote: `${this.socket.remoteAddress}:${this.socket.remotePort}`,
        user: this.user,
        vhost: virtualHost,
        client: this.clientProperties.product,
      },
      'connection opened',
    );
  }

  // Running

  private onConnectionMethod(method: Method): void {
    switch (method.id) {
      case MethodId.ConnectionClose:
        writeConnectionCloseOk(this.writer, 0);
        this.closeChannels();
        this.log.info(
          { replyCode: method.replyCode, replyText: method.replyText },
          'connection closed by client',
        );
        this.flushAndEnd();
        return;
      case MethodId.ConnectionUpdateSecret:
        // RabbitMQ's internal users take any new secret: it matters to token-based backends (OAuth 2),
        // which warren does not have. The connection goes on as the user it authenticated as.
        this.log.info({ reason: method.reason }, 'secret updated by client');
        writeConnectionUpdateSecretOk(this.writer, 0);
        this.scheduleFlush();
        return;
      default:
        // Handshake methods again, or a method of another class on channel 0 (RabbitMQ's 504).
        this.closeWithError(
          amqpError(
            ReplyCode.CHANNEL_ERROR,
            'unexpected method in connection state running',
            Math.floor(method.id / 65536),
            method.id % 65536,
          ),
        );
    }
  }

  private onChannelMethod(channel: number, method: Method): void {
    const ch = this.channels.get(channel);
    if (method.id === MethodId.ChannelOpen) {
      if (ch) {
        this.closeWithError(amqpError(ReplyCode.CHANNEL_ERROR, "second 'channel.open' seen", 20, 10));
        return;
      }
      // channel_max bounds how many channels are open, not their numbers (as RabbitMQ applies it).
      if (this.channels.size >= this.channelMax) {
        this.closeWithError(
          amqpError(
            ReplyCode.NOT_ALLOWED,
            `number of channels opened (${this.channels.size}) has reached the negotiated channel_max (${this.channelMax})`,
          ),
        );
        return;
      }
      this.channels.set(channel, new Channel(this, channel));
      writeChannelOpenOk(this.writer, channel);
      this.scheduleFlush();
      return;
    }
    if (!ch) {
      const classId = Math.floor(method.id / 65536);
      this.closeWithError(
        amqpError(ReplyCode.CHANNEL_ERROR, "expected 'channel.open'", classId, method.id % 65536),
      );
      return;
    }
    if (Math.floor(method.id / 65536) === 10) {
      this.closeWithError(
        amqpError(ReplyCode.COMMAND_INVALID, 'unimplemented method', 10, method.id % 65536),
      );
      return;
    }
    const err = ch.onMethod(method);
    if (err) this.channelError(ch, err);
  }

  private channelError(ch: Channel, err: ProtocolError): void {
    if (err.isConnectionError) this.closeWithError(err);
    else ch.closeWithError(err);
  }

  /** The channel has finished closing (close-ok sent or received): its number may be reused. */
  channelClosed(ch: Channel): void {
    if (this.channels.get(ch.number) === ch) this.channels.delete(ch.number);
  }

  /**
   * What this connection writes from now on may report durable definitions the store does not hold yet:
   * it waits for them. Called for method replies and confirms, never for deliveries or plain publishes:
   * while one client declares durable queues, only connections that are sent a reply or a confirm in
   * that time wait, and only for the definitions changed before it.
   */
  dependOnDefinitions(): void {
    const broker = this.broker;
    if (broker.definitionsGeneration !== broker.definitionsSavedGeneration) {
      this.definitionsNeeded = broker.definitionsGeneration;
    }
  }

  // Output

  scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    outputWaiting.push(this);
    if (!reading) scheduleCheck();
  }

  /** Writes what this connection's writer holds (called for a connection that asked, by scheduleFlush). */
  flush(): void {
    this.flushScheduled = false;
    if (this.definitionsNeeded > this.broker.definitionsSavedGeneration) {
      // Nothing leaves before the durable definitions it may report (declare-ok, bind-ok) are saved.
      if (!this.waitingForDefinitions) {
        this.waitingForDefinitions = true;
        this.broker.whenDefinitionsSaved(this.definitionsNeeded, this.definitionsSaved);
      }
      return;
    }
    this.writeOut();
  }

  /** Hands what the writer holds to the socket, now. */
  private writeOut(): void {
    if (this.confirmChannels.size > 0) {
      for (const ch of this.confirmChannels) ch.writeConfirms();
      this.confirmChannels.clear();
    }
    if (this.writer.pendingBytes === 0 || this.socket.destroyed) {
      if (this.socket.destroyed) this.writer.take();
      return;
    }
    const chunks = this.writer.take();
    this.sentSinceTick = true;
    if (chunks.length === 1) {
      this.socket.write(chunks[0]);
      return;
    }
    this.socket.cork();
    for (const c of chunks) this.socket.write(c);
    this.socket.uncork();
  }

  /**
   * After close-ok (sent or received): what is written goes out, then the socket is ended at once, so a
   * client reading until end of stream (the Go client does) sees it. A client that never closes its side
   * is dropped after CLOSE_OK_TIMEOUT_MS.
   */
  private flushAndEnd(): void {
    this.writeOut();
    this.state = 'closed';
    this.parser.stop();
    this.socket.end();
    clearTimeout(this.closeTimer);
    this.closeTimer = setTimeout(() => this.socket.destroy(), CLOSE_OK_TIMEOUT_MS);
    this.closeTimer.unref();
  }

  // Heartbeats (spec 4.2.7): send one when nothing else went out for half an interval; a peer silent for
  // two intervals is gone.

  private startHeartbeats(): void {
    if (this.heartbeat <= 0) return;
    const halfInterval = (this.heartbeat * 1000) / 2;
    this.heartbeatTimer = setInterval(() => this.heartbeatTick(), halfInterval);
  }

  private heartbeatTick(): void {
    if (this.state === 'closed') return;
    if (!this.sentSinceTick && this.writer.pendingBytes === 0) {
      this.writer.writeHeartbeat();
      this.writeOut();
    }
    this.sentSinceTick = false;
    // A publisher we stopped reading from is not silent (RabbitMQ also pauses the check while blocked).
    if (this.receivedSinceTick || this.readPaused) this.missedTicks = 0;
    else if (++this.missedTicks >= 4) {
      this.log.warn({ heartbeat: this.heartbeat }, 'missed heartbeats from client, closing connection');
      this.destroy();
      return;
    }
    this.receivedSinceTick = false;
  }

  // Closing

  /** Sends connection.close with the error and waits for close-ok (spec 2.2.4). */
  closeWithError(err: ProtocolError): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.log.info({ replyCode: err.replyCode, replyText: err.replyText }, 'closing connection on error');
    this.beginClose(err.replyCode, err.replyText, err.classId, err.methodId);
  }

  /** Closes the connection from the broker's side, e.g. 320 CONNECTION_FORCED at shutdown. */
  forceClose(replyCode: number, replyText: string): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    if (this.state === 'header') {
      this.destroy();
      return;
    }
    this.beginClose(replyCode, replyText, 0, 0);
  }

  private beginClose(replyCode: number, replyText: string, classId: number, methodId: number): void {
    this.state = 'closing';
    this.closeChannels();
    writeConnectionClose(this.writer, 0, replyCode, truncateShortstr(replyText), classId, methodId);
    this.writeOut();
    if (this.parser.isStopped) {
      // After a framing error nothing more can be read reliably: close once the close frame is out.
      this.state = 'closed';
      this.socket.end();
      return;
    }
    this.closeTimer = setTimeout(() => this.destroy(), CLOSE_OK_TIMEOUT_MS);
  }

  private closeChannels(): void {
    for (const ch of this.channels.values()) ch.release();
    this.channels.clear();
    this.confirmChannels.clear();
    // Exclusive queues go with their connection.
    this.vhost?.deleteExclusiveQueues(this);
  }

  destroy(): void {
    this.state = 'closed';
    this.socket.destroy();
  }

  private onSocketClose(): void {
    const wasOpen = this.vhost !== undefined;
    this.state = 'closed';
    this.parser.stop();
    clearTimeout(this.handshakeTimer);
    clearTimeout(this.closeTimer);
    clearInterval(this.heartbeatTimer);
    clearInterval(this.flowRecheck);
    this.holders.clear();
    this.closeChannels();
    if (wasOpen) this.log.info('connection closed');
    this.host.connectionClosed(this);
  }
}
