import { describe, expect, it } from 'vitest';
import { Broker } from '../../src/broker/broker.js';

describe('Broker.authenticate', () => {
  const broker = new Broker({
    users: [
      { username: 'guest', password: 'guest' },
      { username: 'app', password: 's3cret' },
    ],
  });

  it('accepts known users with the right password', () => {
    expect(broker.authenticate('app', 's3cret', '10.1.2.3')).toBeUndefined();
    expect(broker.authenticate('guest', 'guest', '127.0.0.1')).toBeUndefined();
    expect(broker.authenticate('guest', 'guest', '::1')).toBeUndefined();
    expect(broker.authenticate('guest', 'guest', '::ffff:127.0.0.1')).toBeUndefined();
  });

  it('refuses wrong passwords and unknown users', () => {
    expect(broker.authenticate('app', 'nope', '127.0.0.1')).toMatch(/invalid credentials/);
    expect(broker.authenticate('who', '', '127.0.0.1')).toMatch(/invalid credentials/);
  });

  it('lets guest in from loopback addresses only, as RabbitMQ does', () => {
    expect(broker.authenticate('guest', 'guest', '10.1.2.3')).toMatch(/localhost/);
    expect(broker.authenticate('guest', 'guest', '::ffff:192.168.1.4')).toMatch(/localhost/);
  });
});
