// The dead-lettered copy's headers, in the order RabbitMQ writes a table: by the bytes of the keys.
import { describe, expect, it } from 'vitest';
import { deadLettered } from '../../src/broker/dead-letter.js';
import { Message } from '../../src/broker/message.js';
import { encodeBasicProperties } from '../../src/protocol/index.js';

function headersAfterDeath(headers: Record<string, string>): string[] {
  const message = new Message('', 'q', encodeBasicProperties({ headers }), Buffer.from('body'));
  const { message: copy } = deadLettered(message, 'q', 'rejected', 'dlx', undefined, 1_700_000_000_000);
  return Object.keys(copy.props.headers ?? {});
}

describe('dead-lettered headers', () => {
  it('are sorted by their bytes: upper case before lower, ASCII before the rest', () => {
    const keys = headersAfterDeath({ zeta: '1', Alpha: '2', é: '3', 'x-app': '4', B: '5' });
    expect(keys).toEqual([
      'Alpha',
      'B',
      'x-app',
      'x-death',
      'x-first-death-exchange',
      'x-first-death-queue',
      'x-first-death-reason',
      'x-last-death-exchange',
      'x-last-death-queue',
      'x-last-death-reason',
      'zeta',
      'é',
    ]);
  });

  it('put a key beyond the BMP after one of U+E000 to U+FFFF, as UTF-8 orders them', () => {
    // By UTF-16 code units the emoji (a surrogate pair, 0xD83D...) would come before U+FF21.
    const keys = headersAfterDeath({ '\u{1F600}': '1', '\uFF21': '2' });
    expect(keys.slice(-2)).toEqual(['\uFF21', '\u{1F600}']);
  });
});
