import { StoreClient } from '../client/StoreClient.js';
import { DEFAULT_LIMITS, type Limits } from '../protocol/limits.js';
import { DEFAULT_TUNING, type PlaceConfig } from '../protocol/PlaceConfig.js';
import { processorRegistry } from '../protocol/requests/processors.js';
import { PartitionTable } from '../protocol/table/PartitionTable.js';
import { PlaceNode } from '../runtime/PlaceNode.js';
import { MemoryNetwork, type MemoryTransport } from '../transport/MemoryNetwork.js';

/** Options of a simulated cluster. */
export interface SimOptions {
  seed?: number;
  partitionCount?: number;
  minPlaces?: number;
  limits?: Limits;
  processors?: Record<string, unknown>;
  /** Overrides of the places' tuning. */
  tuning?: Partial<PlaceConfig>;
}

/** A simulated place: its node and its endpoint. */
export interface SimPlace {
  node: PlaceNode;
  transport: MemoryTransport;
  address: string;
}

/** A whole cluster of places and clients in one process, on a MemoryNetwork with a virtual clock. */
export class SimCluster {
  readonly net: MemoryNetwork;
  readonly places: SimPlace[] = [];
  private clients = 0;
  private readonly clientTransports = new Map<StoreClient, MemoryTransport>();

  constructor(private readonly options: SimOptions = {}) {
    this.net = new MemoryNetwork(options.seed ?? 1);
  }

  /** Starts a place; the first bootstraps, the others join through every earlier place. */
  async addPlace(opts: { spare?: boolean; zone?: string; seeds?: string[] } = {}): Promise<SimPlace> {
    const address = `place-${this.places.length}:7400`;
    const config: PlaceConfig = {
      ...DEFAULT_TUNING,
      address,
      zone: opts.zone ?? null,
      spare: opts.spare ?? false,
      pid: 1000 + this.places.length,
      seeds: opts.seeds ?? this.places.map((p) => p.address),
      partitionCount: this.options.partitionCount ?? 16,
      minPlaces: this.options.minPlaces ?? 2,
      limits: this.options.limits ?? DEFAULT_LIMITS,
      processors: processorRegistry(this.options.processors),
      ...this.options.tuning,
    };
    const transport = this.net.transport(address, 'place');
    const node = new PlaceNode(config, transport, this.net.schedulerFor(address));
    await node.start();
    const place = { node, transport, address };
    this.places.push(place);
    return place;
  }

  /** Starts count places and waits until the table is formed and every one has joined. */
  async start(count: number, opts: { spares?: number; zones?: string[] } = {}): Promise<void> {
    for (let i = 0; i < count; i++) await this.addPlace({ zone: opts.zones?.[i % opts.zones.length] });
    for (let i = 0; i < (opts.spares ?? 0); i++) await this.addPlace({ spare: true });
    await this.net.runUntil(
      () => this.places.every((p) => p.node.place.id !== null) && this.leaderTable()?.formed === true,
    );
  }

  /** The table of the current leader (the live place that leads by its own table). */
  leaderTable() {
    return this.leader()?.node.place.tableData ?? null;
  }

  /** The live place that believes it leads, by the newest table among live places. */
  leader(): SimPlace | undefined {
    let best: SimPlace | undefined;
    for (const p of this.places) {
      const t = p.node.place.tableData;
      if (p.transport.dead || t === null) continue;
      const leads = t.members.find((m) => m.state !== 'dead')?.id === p.node.place.id;
      const bt = best?.node.place.tableData;
      if (
        leads &&
        (bt === undefined ||
          bt === null ||
          t.term > bt.term ||
          (t.term === bt.term && t.version > bt.version))
      ) {
        best = p;
      }
    }
    return best;
  }

  /** The place with this id. */
  byId(id: number): SimPlace {
    const p = this.places.find((x) => x.node.place.id === id);
    if (p === undefined) throw new Error(`no live place with id ${id}`);
    return p;
  }

  /** Simulates SIGKILL of a place. */
  kill(p: SimPlace): void {
    void p.node.stop();
    p.transport.crash();
  }

  /** Simulates SIGSTOP of a place. */
  pause(p: SimPlace): void {
    this.net.pause(p.address);
  }

  /** Simulates SIGCONT of a place. */
  resume(p: SimPlace): void {
    this.net.resume(p.address);
  }

  /** True when the leader's table is valid and every partition is ok on two live places. */
  repaired(): boolean {
    const t = this.leaderTable();
    if (t === null || !t.valid) return false;
    const live = new Set(t.members.filter((m) => m.state !== 'dead').map((m) => m.id));
    return t.partitions.every((a) => a.state === 'ok' && live.has(a.primary!) && live.has(a.backup!));
  }

  /** A client of this cluster; seeds default to the first place. */
  client(opts: { seeds?: string[]; timeoutMs?: number } = {}): StoreClient {
    const transport = this.net.transport(`client-${this.clients++}`);
    const client = new StoreClient({
      seeds: opts.seeds ?? [this.places[0].address],
      timeoutMs: opts.timeoutMs ?? 5000,
      transport,
      scheduler: this.net.scheduler,
    });
    this.clientTransports.set(client, transport);
    return client;
  }

  /** The endpoint a client of this cluster uses. */
  transportOf(client: StoreClient): MemoryTransport {
    return this.clientTransports.get(client)!;
  }

  /** The place holding key's primary, by the leader's table. */
  primaryOf(key: string): SimPlace {
    const table = new PartitionTable(this.leaderTable()!);
    return this.byId(table.data.partitions[table.partitionOf(key)].primary!);
  }

  /** A key (key-0, key-1, ...) whose primary is the place with this id, by the leader's table. */
  keyWithPrimary(id: number, prefix = 'key'): string {
    const table = new PartitionTable(this.leaderTable()!);
    for (let i = 0; i < 100_000; i++) {
      const key = `${prefix}-${i}`;
      if (table.data.partitions[table.partitionOf(key)].primary === id) return key;
    }
    throw new Error(`no key has its primary on place ${id}`);
  }

  /** The place holding key's backup, by the leader's table. */
  backupOf(key: string): SimPlace {
    const table = new PartitionTable(this.leaderTable()!);
    return this.byId(table.data.partitions[table.partitionOf(key)].backup!);
  }

  /** Runs the network until promise settles and returns its result (or throws its error). */
  async settle<T>(promise: Promise<T>, maxVirtualMs = 30_000): Promise<T> {
    let done = false;
    const tracked = promise.finally(() => {
      done = true;
    });
    tracked.catch(() => {});
    await this.net.runUntil(() => done, maxVirtualMs);
    return tracked;
  }
}
