import { type Message, Place, type PlaceConfig } from '../protocol/Place.js';
import type { Link, Transport, WireMessage } from '../transport/Transport.js';
import type { Scheduler } from './Scheduler.js';

/** How often a place's timers are driven. */
export const TICK_MS = 50;

/**
 * Runs a Place on a transport and a scheduler: every received message is handed to it, its output
 * goes out over links, what a turn coalesced (replication entries, acknowledgements) is flushed once
 * the received batch or tick is handled, and ticks drive its timers.
 */
export class PlaceNode {
  readonly place: Place;
  private stopTicking: (() => void) | null = null;

  constructor(
    readonly config: PlaceConfig,
    private readonly transport: Transport,
    private readonly scheduler: Scheduler,
    private readonly log: (msg: string) => void = () => {},
  ) {
    this.place = new Place(config, scheduler, {
      sendTo: (address, msg) => transport.linkTo(address).send(msg as WireMessage),
      reply: (to, msg) => (to as Link).send(msg as WireMessage),
      disconnect: (address) => transport.disconnect(address),
    });
    transport.onMessage((link, msg) => this.onMessage(link, msg));
    transport.onBatchEnd(() => this.place.flush());
    transport.onLinkClosed((link) => {
      this.place.connectionLost(link.remote);
      this.place.flush();
    });
  }

  /** Listens, then bootstraps or joins. */
  async start(): Promise<void> {
    await this.transport.listen(this.config.address);
    this.place.start();
    this.stopTicking = this.scheduler.every(TICK_MS, () => {
      this.place.tick();
      this.place.flush();
    });
  }

  /** Stops ticking and closes every connection. */
  async stop(): Promise<void> {
    this.stopTicking?.();
    this.stopTicking = null;
    await this.transport.close();
  }

  private onMessage(link: Link, msg: WireMessage): void {
    try {
      this.place.receive(link, msg as Message);
    } catch (err) {
      // A message shaped in a way validation missed must cost only its own answer, never the place.
      this.log(`failed to handle '${String(msg.t)}' from ${link.remote}: ${(err as Error).stack}`);
      const reply: WireMessage = {
        t: 'err',
        code: 'bad_request',
        msg: `could not handle message: ${(err as Error).message}`,
      };
      if (typeof msg.id === 'number') reply.id = msg.id;
      link.send(reply);
    }
  }
}
