import { describe, expect, it } from 'vitest';
import { Outbox, type OutputSink } from '../../src/protocol/Outbox.js';

function recorder(log: string[], onDisconnect: () => void = () => {}): OutputSink {
  return {
    sendTo: (address, msg) => log.push(`send ${address} ${msg.t}`),
    reply: (to, msg) => log.push(`reply ${String(to)} ${msg.t}`),
    disconnect: (address) => {
      log.push(`disconnect ${address}`);
      onDisconnect();
    },
  };
}

describe('the outbox', () => {
  it('hands over what was queued in the order it was queued, once', () => {
    const out = new Outbox();
    out.send('a:1', { t: 'tableGet', tv: 1 });
    out.reply('link-1', { t: 'tableAck', tv: 2, term: 1, id: 1 });
    out.disconnect('b:1');
    out.send('b:1', { t: 'tableGet', tv: 1 });
    expect(out.size).toBe(4);
    const log: string[] = [];
    out.drain(recorder(log));
    expect(log).toEqual([
      'send a:1 tableGet',
      'reply link-1 tableAck',
      'disconnect b:1',
      'send b:1 tableGet',
    ]);
    expect(out.size).toBe(0);
    out.drain(recorder(log));
    expect(log).toHaveLength(4);
  });

  it('keeps order when draining it causes more output (a dropped link reported back at once)', () => {
    const out = new Outbox();
    const log: string[] = [];
    const sink = recorder(log, () => {
      // The runtime reports the closed link to the place, which queues a resend and drains again.
      out.send('c:1', { t: 'replBatch', tv: 1, es: [] });
      out.drain(sink);
    });
    out.send('a:1', { t: 'tableGet', tv: 1 });
    out.disconnect('b:1');
    out.send('d:1', { t: 'tableGet', tv: 1 });
    out.drain(sink);
    expect(log).toEqual(['send a:1 tableGet', 'disconnect b:1', 'send d:1 tableGet', 'send c:1 replBatch']);
    expect(out.size).toBe(0);
  });
});
